"""An annotator judges three comparisons (two pairs, one of three responses) with the keyboard alone,
in a real browser against a live server; the judgments must name the responses through each
assignment's stored display order."""

import re

import pytest

from annotation.models import Assignment, Judgment
from annotation.projects import services as project_services
from tests.e2e.conftest import login
from tests.preferences.factories import make_comparisons

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cmp_project(users):
    p = project_services.create_project(name="Compare project", created_by=users["admin"], overlap=1)
    project_services.set_membership(
        project=p, actor=users["admin"], user=users["annotator"], role="annotator"
    )
    project_services.create_rubric_version(
        project=p,
        actor=users["admin"],
        criteria=[
            {"key": "helpfulness", "type": "likert", "required": False, "instructions": "Which helps?"}
        ],
    )
    make_comparisons(p, users["admin"], 2, prefix="Pair")
    make_comparisons(p, users["admin"], 1, prefix="Triple", models=("m1", "m2", "m3"))
    return p


def heading(page):
    return page.locator("#progress").inner_text()


def wait_heading(page, text):
    page.wait_for_function(f"() => document.querySelector('#progress').innerText === {text!r}")


def test_three_comparisons_with_the_keyboard_only(page, live_server, users, cmp_project):
    login(page, live_server, "annotator1")
    page.goto(f"{live_server.url}/projects/{cmp_project.pk}/compare/")
    assert heading(page) == "0 done · 3 left"
    assert page.locator(".response-card").count() == 2
    html = page.content()  # model names as whole words (a random CSRF token may hold "m1" inside it)
    assert not re.search(r"\bm1\b", html) and "model-a" not in html
    # the time on task reaches a second (a state of the page's timer, not a sleep)
    page.wait_for_function("() => parseFloat(document.getElementById('duration_seconds').value) >= 1.0")

    # The help panel opens with ? and closes with Esc.
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()

    # 1) Submit with nothing chosen: the error comes back inline. Then B, clearly better,
    #    helpfulness A (Shift+A), report A harmful (h then a), submit.
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".error-summary")
    assert "Choose A, B, tie or both bad." in page.locator(".preference").inner_text()
    assert heading(page) == "0 done · 3 left"
    for key in ["b", "2", "Shift+A", "h", "a"]:
        page.keyboard.press(key)
    assert page.locator("input[name=choice][value=B]").is_checked()
    assert page.locator("input[name=strength][value='2']").is_checked()
    assert page.locator("input[name=criterion_helpfulness][value=A]").is_checked()
    assert page.locator("input[name=harmful][value=A]").is_checked()
    page.keyboard.press("Control+Enter")
    wait_heading(page, "1 done · 2 left")
    assert page.locator(".notice").inner_text().startswith("Saved comparison")

    # 2) Tie, with a rationale typed after r (letters typed there fire no shortcut), Esc, submit.
    page.keyboard.press("t")
    page.keyboard.press("r")
    page.keyboard.type("both fine, a tie")
    assert page.locator("input[name=choice][value=tie]").is_checked()  # "a" and "b" typed, no effect
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")
    wait_heading(page, "2 done · 1 left")

    # 3) Three responses: C, = (tie), A, B -> C=A>B; Backspace undoes B; b again; submit.
    assert page.locator(".response-card").count() == 3
    for key in ["c", "=", "a", "b"]:
        page.keyboard.press(key)
    assert page.locator("#ranking").input_value() == "C=A>B"
    page.keyboard.press("Backspace")
    assert page.locator("#ranking").input_value() == "C=A"
    page.keyboard.press("b")
    assert page.locator("#ranking").input_value() == "C=A>B"
    assert page.locator("#rank-list .rank-card").count() == 3
    assert page.locator("#rank-pool .rank-card").count() == 0
    assert page.locator("#rank-list .rank-card.tied").count() == 1
    # per criterion, with Shift: B, + (tie), A, Shift+Backspace undoes A, A again, then C
    box = page.locator("#criterion_helpfulness")
    for key in ["Shift+B", "+", "Shift+A", "Shift+Backspace", "Shift+A", "Shift+C"]:
        page.keyboard.press(key)
    assert box.input_value() == "B=A>C"
    assert page.locator("#ranking").input_value() == "C=A>B"  # the overall ranking is untouched
    page.keyboard.press("Control+Enter")
    wait_heading(page, "No comparisons left")

    assignments = list(
        Assignment.objects.filter(annotator=users["annotator"], project=cmp_project).order_by("item_id")
    )
    assert [a.state for a in assignments] == ["submitted"] * 3
    j1, j2, j3 = (Judgment.objects.get(assignment=a, is_current=True) for a in assignments)
    o1, o2, o3 = (a.display_order for a in assignments)
    assert j1.payload["winner"] == o1[1] and j1.payload["ranking"] == [[o1[1]], [o1[0]]]
    assert j1.payload["strength"] == 2
    assert j1.payload["criteria"]["helpfulness"]["winner"] == o1[0]
    assert j1.payload["harmful"] == [o1[0]]
    assert j1.duration_seconds and j1.duration_seconds >= 1
    assert j2.payload["outcome"] == "tie" and j2.comment == "both fine, a tie"
    assert [sorted(g) for g in j3.payload["ranking"]] == [sorted([o3[2], o3[0]]), [o3[1]]]
    assert j3.payload["outcome"] == "ranked"
    helpful = j3.payload["criteria"]["helpfulness"]["ranking"]
    assert [sorted(g) for g in helpful] == [sorted([o3[1], o3[0]]), [o3[2]]]  # B=A>C by slot


def test_rank_by_drag_and_drop_and_tie_toggle(page, live_server, users):
    p = project_services.create_project(name="Drag project", created_by=users["admin"], overlap=1)
    project_services.set_membership(
        project=p, actor=users["admin"], user=users["annotator"], role="annotator"
    )
    make_comparisons(p, users["admin"], 1, prefix="Triple", models=("m1", "m2", "m3"))
    login(page, live_server, "annotator1")
    page.goto(f"{live_server.url}/projects/{p.pk}/compare/")
    pool = page.locator("#rank-pool")
    ranked = page.locator("#rank-list")
    pool.locator(".rank-card[data-slot=B]").drag_to(ranked)
    below_b = ranked.locator(".rank-card[data-slot=B]")
    height = below_b.bounding_box()["height"]
    pool.locator(".rank-card[data-slot=A]").drag_to(below_b, target_position={"x": 10, "y": height - 3})
    assert page.locator("#ranking").input_value() == "B>A"
    # C dropped onto the upper half of A goes before A; then tie A with C.
    pool.locator(".rank-card[data-slot=C]").drag_to(
        ranked.locator(".rank-card[data-slot=A]"), target_position={"x": 10, "y": 3}
    )
    assert page.locator("#ranking").input_value() == "B>C>A"
    ranked.locator(".rank-card[data-slot=A] .tie-box").check()
    assert page.locator("#ranking").input_value() == "B>C=A"
    # Typing in the text field re-renders the cards.
    page.locator("#ranking").fill("A>B>C")
    assert ranked.locator(".rank-card").evaluate_all("els => els.map(e => e.dataset.slot).join('')") == "ABC"
    page.locator("#ranking").fill("C>B=A")
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => document.querySelector('#progress').innerText === 'No comparisons left'")
    assignment = Assignment.objects.get(annotator=users["annotator"], project=p)
    order = assignment.display_order
    payload = Judgment.objects.get(assignment=assignment).payload
    assert [sorted(g) for g in payload["ranking"]] == [[order[2]], sorted([order[0], order[1]])]


def test_ctrl_enter_right_after_a_swap_still_submits_through_htmx(page, live_server, users, cmp_project):
    """htmx wires swapped-in content as it settles (a timer after the swap). Under load a Ctrl+Enter
    can come first; the form must still go through htmx (the next task and the notice in place), not
    as a full page post. The settle delay is stretched to make that moment last."""
    login(page, live_server, "annotator1")
    page.goto(f"{live_server.url}/projects/{cmp_project.pk}/compare/")
    page.wait_for_function("() => parseFloat(document.getElementById('duration_seconds').value) >= 1.0")
    page.evaluate("() => { htmx.config.defaultSettleDelay = 60000; window.__samePage = true; }")
    page.keyboard.press("Control+Enter")  # nothing chosen: the error comes back inline, not yet wired
    page.wait_for_selector(".error-summary")
    # the swapped-in form is not wired yet (htmx keeps its state on the element once it is)
    assert not page.evaluate(
        "() => (document.getElementById('compare-form')['htmx-internal-data'] || {}).initHash"
    )
    for key in ["b", "2"]:  # B, clearly better
        page.keyboard.press(key)
    page.keyboard.press("Control+Enter")
    wait_heading(page, "1 done · 2 left")
    assert page.evaluate("() => window.__samePage === true")  # no navigation: the htmx path
    assert page.locator(".notice").inner_text().startswith("Saved comparison")
