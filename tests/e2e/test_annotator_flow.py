"""An annotator reviews three items with the keyboard alone, in a real browser against a live server."""

import pytest

from annotation.models import Decision, Judgment
from annotation.projects import services as project_services
from tests.conftest import make_items
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def small_project(users):
    p = project_services.create_project(
        name="Keyboard project",
        created_by=users["admin"],
        overlap=1,
        guidelines="# Guidelines\n\nPrefer **short**, correct answers. See [the docs](https://example.com).",
    )
    project_services.set_membership(
        project=p, actor=users["admin"], user=users["annotator"], role="annotator"
    )
    project_services.create_rubric_version(
        project=p,
        actor=users["admin"],
        criteria=[
            {"key": "helpfulness", "type": "likert", "instructions": "How much does it help?"},
            {"key": "correct", "type": "binary", "instructions": "Is it factually correct?"},
            {"key": "tone", "type": "labels", "labels": ["formal", "casual"], "required": False},
        ],
        instructions="Score every required criterion.",
    )
    make_items(p, users["admin"], 3)
    return p


def progress(page):
    return page.locator("#progress").inner_text()


def test_review_three_items_with_the_keyboard_only(page, live_server, users, small_project):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live_server, "annotator1")
    page.goto(f"{live_server.url}/projects/{small_project.pk}/review/")
    assert progress(page) == "0 done · 3 left"
    # the time on task reaches a second (a state of the page's timer, not a sleep)
    page.wait_for_function("() => parseFloat(document.getElementById('duration_seconds').value) >= 1.0")
    page.screenshot(path="/tmp/review.png", full_page=True)

    # 1) accept: a, helpfulness 4, correct yes, tone 2 (casual), flag PII, comment, Ctrl+Enter
    body = page.locator("body")
    body.focus()
    for key in ["a", "4", "y", "2", "p", "c"]:
        page.keyboard.press(key)
    page.keyboard.type("looks right")  # typed into the comment box: no shortcut fires
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => document.querySelector('#progress').innerText === '1 done · 2 left'")
    assert page.locator(".notice").inner_text().startswith("Saved item")

    # 2) edit: e focuses the gold-answer box holding the response; fix it; Esc; score; submit
    page.keyboard.press("e")
    edit = page.locator("#edited_text")
    assert edit.is_visible() and edit.evaluate("el => el === document.activeElement")
    assert edit.input_value() == "Answer 1."
    page.keyboard.press("Control+a")
    page.keyboard.type("A corrected answer: 42.")
    page.keyboard.press("Escape")
    for key in ["5", "y"]:
        page.keyboard.press(key)
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => document.querySelector('#progress').innerText === '2 done · 1 left'")

    # 3) reject without scores first: the error comes back inline, nothing saved; then fix and submit
    page.keyboard.press("r")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".error-summary")
    assert progress(page) == "2 done · 1 left"
    assert "This criterion is required." in page.locator(".criterion.has-error").first.inner_text()
    assert page.locator("input[name=decision][value=reject]").is_checked()  # kept
    for key in ["1", "n", "f"]:
        page.keyboard.press(key)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("text=Nothing left to review")
    assert "reviewed 3 of 3" in page.locator(".empty-queue").inner_text()
    assert dialogs == []

    judgments = list(Judgment.objects.filter(annotator=users["annotator"]).order_by("id"))
    assert [j.decision for j in judgments] == [Decision.ACCEPT, Decision.EDIT, Decision.REJECT]
    first, second, third = judgments
    assert first.scores == {"helpfulness": 4, "correct": True, "tone": "casual"}
    assert first.flags == ["pii"] and first.comment == "looks right"
    assert first.duration_seconds and first.duration_seconds >= 1.0
    assert second.edited_text == "A corrected answer: 42." and second.scores == {
        "helpfulness": 5,
        "correct": True,
    }
    assert third.scores == {"helpfulness": 1, "correct": False} and third.flags == ["factual_error"]
    assert third.edited_text == ""


def test_help_toggles_and_skip_by_keyboard(page, live_server, users, small_project):
    login(page, live_server, "annotator1")
    page.goto(f"{live_server.url}/projects/{small_project.pk}/review/")
    help_box = page.locator("#help")
    assert help_box.is_hidden()
    page.keyboard.press("?")
    assert help_box.is_visible() and "Ctrl" in help_box.inner_text()
    page.keyboard.press("?")
    assert help_box.is_hidden()
    page.keyboard.press("s")  # asks why: 1-4
    page.wait_for_selector("#skip-reasons", state="visible")
    page.keyboard.press("1")
    page.wait_for_selector("text=Skipped item")
    assert progress(page) == "0 done · 2 left"  # the skipped item leaves the annotator's total
    assert not Judgment.objects.exists()
