"""A lead settles two disagreements with the keyboard alone, in a real browser against a live server."""

import pytest

from annotation.models import AuditEvent, Item, ItemState, Judgment
from tests.annotation.test_adjudication import disputed  # noqa: F401 - the two disputed items
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def heading(page):
    return page.locator("#adj-heading").inner_text()


def test_lead_adjudicates_two_items_with_the_keyboard(page, live_server, users, disputed):  # noqa: F811
    first, second = disputed
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/items/{first.pk}/adjudicate/")
    assert heading(page) == f"Adjudicate item #{first.pk}"
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'adj-heading'")

    # ? shows the shortcuts, ? again hides them
    page.keyboard.press("?")
    assert page.locator("#adj-help").is_visible()
    page.keyboard.press("?")
    assert not page.locator("#adj-help").is_visible()

    # 1) 2 picks the second judgment (the edit); r, reason, Esc; Ctrl+Enter: the next item loads
    page.keyboard.press("2")
    edit = Judgment.objects.get(item=first, decision="edit")
    assert page.locator(f"input[name=judgment][value='{edit.pk}']").is_checked()
    assert page.locator("input[name=decision][value=pick]").is_checked()
    page.keyboard.press("r")
    page.keyboard.type("The edit fixes it; d and m typed here fire nothing.")
    assert page.locator("input[name=decision][value=pick]").is_checked()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        f"() => document.querySelector('#adj-heading').innerText === 'Adjudicate item #{second.pk}'"
    )

    # 2) d discards; without a reason the browser refuses to send the form and puts the cursor in
    # the reason box (the server refuses it too: test_adjudication); type it there and submit
    page.keyboard.press("d")
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'reason'")
    assert Item.objects.get(pk=second.pk).state == ItemState.DISPUTED
    assert page.locator("input[name=decision][value=discard]").is_checked()
    page.keyboard.type("Spam prompt.")
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("text=No disagreements waiting")

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == ItemState.APPROVED and first.resolution["decision"] == "edit"
    assert second.state == ItemState.DISCARDED
    events = AuditEvent.objects.filter(verb="item.adjudicated", actor=users["lead"])
    assert sorted(e.data["decision"] for e in events) == ["discard", "pick"]
    assert Item.objects.filter(state=ItemState.DISPUTED).count() == 0
    assert dialogs == []
