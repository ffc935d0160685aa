"""A lead curates pairs in bulk with the keyboard on the curated pairs page, in a real browser against
a live server: a row cursor, a selection, a / e on the selection or the cursor's row, the confidence
threshold, Shift+click ranges, and the counts line updated after every change without a reload."""

import pytest

from annotation.models import AuditEvent
from preferences import curation
from preferences.models import PairStatus, PreferencePair
from tests.e2e.conftest import login
from tests.training.factories import make_pairs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONFIDENCES = [0.99, 0.95, 0.9, 0.8, 0.6, 0.55]  # the page's order: most confident first


@pytest.fixture
def rows(project, users):
    out = []
    for i, confidence in enumerate(CONFIDENCES):
        out += make_pairs(
            project, users["lead"], [f"Question {i}?"], status=PairStatus.CANDIDATE, confidence=confidence
        )
    return out


def wait_counts(page, text):
    page.wait_for_function(
        f"() => document.querySelector('#pair-counts').innerText.trim().startsWith({text!r})"
    )


def wait_status(page, pair, status):
    page.wait_for_function(
        f"() => document.querySelector('#pair-{pair.pk}').classList.contains('status-{status}')"
    )


def wait_cursor(page, pair):
    page.wait_for_function(
        f"() => {{ const r = document.querySelector('#pairs tr.cursor'); return r && r.id === 'pair-{pair.pk}'; }}"
    )


def selected(page):
    return page.locator("#selected-count").inner_text()


def statuses(rows):
    return [PreferencePair.objects.get(pk=p.pk).status for p in rows]


def test_bulk_approve_by_keyboard(page, live_server, users, project, rows):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/pairs/")
    page.wait_for_function("() => Boolean(document.querySelector('#pairs-bulk')['htmx-internal-data'])")
    page.evaluate("() => { window.samePage = true; }")
    wait_counts(page, "6 pairs: 6 candidate, 0 approved, 0 excluded.")

    # j x j x: the first two rows selected; a approves them, the counts follow, no reload
    page.keyboard.press("j")
    wait_cursor(page, rows[0])
    page.keyboard.press("x")
    page.keyboard.press("j")
    wait_cursor(page, rows[1])
    page.keyboard.press("x")
    assert selected(page) == "2 selected"
    assert page.locator("#pair-" + str(rows[1].pk)).evaluate("r => r.classList.contains('selected')")
    page.keyboard.press("a")
    wait_status(page, rows[0], "approved")
    wait_status(page, rows[1], "approved")
    wait_counts(page, "6 pairs: 4 candidate, 2 approved, 0 excluded.")
    assert page.locator(".notice").inner_text() == "2 pairs approved."
    assert selected(page) == "0 selected"
    wait_cursor(page, rows[1])  # the cursor stays on its row through the swap
    assert statuses(rows) == [PairStatus.APPROVED] * 2 + [PairStatus.CANDIDATE] * 4

    # the threshold: every candidate with confidence >= 0.85 (here row 2), after a confirmation
    page.locator("#id_bulk_min_confidence").fill("0.85")
    page.keyboard.press("Enter")
    wait_status(page, rows[2], "approved")
    wait_counts(page, "6 pairs: 3 candidate, 3 approved, 0 excluded.")
    assert page.locator(".notice").inner_text() == "1 pair approved."
    assert len(dialogs) == 1 and "on every page" in dialogs[0]

    # click and Shift+click select a range (rows 3 to 5); e excludes the selection
    page.locator(f"#select-{rows[3].pk}").click()
    page.locator(f"#select-{rows[5].pk}").click(modifiers=["Shift"])
    assert selected(page) == "3 selected"
    page.keyboard.press("e")
    for pair in rows[3:]:
        wait_status(page, pair, "excluded")
    wait_counts(page, "6 pairs: 0 candidate, 3 approved, 3 excluded.")

    # nothing selected: a acts on the cursor's row (the last row clicked, then k: row 4), and the
    # counts come back with the row
    wait_cursor(page, rows[5])
    page.keyboard.press("k")
    wait_cursor(page, rows[4])
    page.keyboard.press("a")
    wait_status(page, rows[4], "approved")
    wait_counts(page, "6 pairs: 0 candidate, 4 approved, 2 excluded.")

    # ? shows the help, Esc hides it
    page.keyboard.press("?")
    assert page.locator("#pairs-help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#pairs-help").is_visible()

    assert page.evaluate("() => window.samePage === true")  # every change swapped in by htmx
    assert statuses(rows) == [PairStatus.APPROVED] * 3 + [
        PairStatus.EXCLUDED,
        PairStatus.APPROVED,
        PairStatus.EXCLUDED,
    ]
    events = AuditEvent.objects.filter(verb=curation.VERB).order_by("id")
    assert [e.data["count"] for e in events] == [2, 1, 3]
    assert len(dialogs) == 1


def test_a_pending_bulk_action_is_busy_then_idle_again(page, live_server, users, project, rows):
    """busy.js and the keyboard together: while a bulk approve is held on its way, its button is disabled
    and says "Working…", a second `a` sends nothing; once the panel is swapped in, the new buttons are
    enabled, and one request (one audit event) changed the pairs."""
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/pairs/")
    page.wait_for_function("() => Boolean(document.querySelector('#pairs-bulk')['htmx-internal-data'])")
    held = []
    page.route("**/pairs/bulk/**", lambda route: held.append(route))
    page.locator("body").focus()
    for key in ("j", "x"):
        page.keyboard.press(key)
    page.keyboard.press("a")
    page.wait_for_function(
        "() => { const b = document.querySelector('#bulk-approve');"
        " return b.disabled && b.getAttribute('aria-busy') === 'true'"
        " && document.querySelector('#pairs-bulk .busy-indicator').innerText === 'Working…'; }"
    )
    page.keyboard.press("a")  # the button is disabled: nothing is sent
    page.keyboard.press("e")  # nor through the other button of the busy form
    assert len(held) == 1
    held[0].continue_()
    wait_status(page, rows[0], "approved")
    wait_counts(page, "6 pairs: 5 candidate, 1 approved, 0 excluded.")
    page.wait_for_function(
        "() => !document.querySelector('#bulk-approve').disabled && !document.querySelector('[aria-busy=true]')"
        " && !document.querySelector('.busy-indicator')"
    )
    assert len(held) == 1
    assert [e.data["count"] for e in AuditEvent.objects.filter(verb=curation.VERB)] == [1]
    assert statuses(rows) == [PairStatus.APPROVED] + [PairStatus.CANDIDATE] * 5
