"""Recovering on the task pages in a real browser: skip with a reason (one key) and undo it; go back
to the item just submitted, its answers filled in, and resubmit; a lead's look takes no lease."""

import pytest

from annotation.models import Assignment, AssignmentState, Item, Judgment, SkipReason
from annotation.projects import services as project_services
from tests.conftest import make_items
from tests.e2e.conftest import login
from tests.preferences.factories import make_comparisons

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def proj(users):
    p = project_services.create_project(name="Recover project", created_by=users["admin"], overlap=1)
    for name, role in (("annotator", "annotator"), ("lead", "lead")):
        project_services.set_membership(project=p, actor=users["admin"], user=users[name], role=role)
    project_services.create_rubric_version(
        project=p,
        actor=users["admin"],
        criteria=[{"key": "helpfulness", "type": "likert", "instructions": "How much does it help?"}],
    )
    make_items(p, users["admin"], 2)
    return p


def wait_heading(page, text):
    page.wait_for_function(f"() => document.querySelector('#progress').innerText === {text!r}")


def wait_for_htmx_form(page):
    """The way-back form is in the page and htmx has processed it (its hx-post wired): a key pressed
    before that would submit the form as a plain POST, a full page load."""
    page.wait_for_selector("#undo-button")
    page.wait_for_function("() => Boolean(document.querySelector('#recover-form')['htmx-internal-data'])")


def item_shown(page) -> int:
    return int(page.locator("#task-form").get_attribute("data-assignment"))


def test_skip_asks_for_a_reason_with_one_key_and_can_be_undone(page, live_server, users, proj):
    login(page, live_server, "annotator1")
    page.goto(f"{live_server.url}/projects/{proj.pk}/review/")
    wait_heading(page, "0 done · 2 left")
    first = item_shown(page)
    page.locator("body").focus()
    page.keyboard.press("s")
    page.wait_for_selector("#skip-reasons", state="visible")
    page.keyboard.press("Escape")  # cancels: nothing is skipped
    page.wait_for_selector("#skip-reasons", state="hidden")
    assert Assignment.objects.get(pk=first).state == AssignmentState.LEASED
    page.keyboard.press("s")
    page.wait_for_selector("#skip-reasons", state="visible")
    page.keyboard.press("3")  # broken item
    page.wait_for_selector("text=Skipped item")
    skipped = Assignment.objects.get(pk=first)
    assert skipped.state == AssignmentState.SKIPPED and skipped.skip_reason == SkipReason.BROKEN
    assert item_shown(page) != first
    wait_for_htmx_form(page)
    page.evaluate("window.samePage = true")
    page.keyboard.press("z")
    page.wait_for_selector("text=Skip undone")
    assert page.evaluate("window.samePage === true")  # swapped in by htmx, no page load
    assert item_shown(page) == first
    undone = Assignment.objects.get(pk=first)
    assert undone.state == AssignmentState.LEASED and undone.skip_reason == ""
    assert Item.objects.get(pk=undone.item_id).active_count == 1
    assert page.locator("#undo-button").count() == 0  # one undo per skip


def test_back_reopens_the_item_just_submitted_and_a_resubmit_supersedes(page, live_server, users, proj):
    login(page, live_server, "annotator1")
    page.goto(f"{live_server.url}/projects/{proj.pk}/review/")
    wait_heading(page, "0 done · 2 left")
    first = item_shown(page)
    page.locator("body").focus()
    for key in ["r", "4", "c"]:
        page.keyboard.press(key)
    page.keyboard.type("too vague")
    page.keyboard.press("Control+Enter")
    wait_heading(page, "1 done · 1 left")
    assert item_shown(page) != first
    wait_for_htmx_form(page)
    page.evaluate("window.samePage = true")
    page.keyboard.press("z")
    page.wait_for_selector("text=Back to item")
    assert page.evaluate("window.samePage === true")
    assert item_shown(page) == first
    # the answers are filled in as submitted
    assert page.locator("input[name=decision][value=reject]").is_checked()
    assert page.locator("input[name=score_helpfulness][value='4']").is_checked()
    assert page.locator("#comment").input_value() == "too vague"
    page.locator("body").focus()
    page.keyboard.press("a")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".notice:has-text('Saved item')")
    judgments = Judgment.objects.filter(assignment_id=first).order_by("id")
    assert [j.decision for j in judgments] == ["reject", "accept"]
    assert judgments[1].supersedes_id == judgments[0].pk and judgments[1].comment == "too vague"
    assert Item.objects.get(pk=judgments[0].item_id).submitted_count == 1
    assert Judgment.objects.filter(is_current=True).count() == 1


def test_a_lead_previews_review_and_compare_without_a_lease(page, live_server, users, proj):
    make_comparisons(proj, users["admin"], 1, prefix="Pair")
    login(page, live_server, "lead")
    for path in ("review", "compare"):
        page.goto(f"{live_server.url}/projects/{proj.pk}/{path}/")
        page.wait_for_selector("#preview-bar")
        page.locator("body").focus()
        page.keyboard.press("s")  # the preview takes no keys: no picker, nothing skipped
        assert page.locator("#skip-reasons").is_hidden()
    assert not Assignment.objects.filter(annotator=users["lead"]).exists()
    assert not Item.objects.filter(active_count__gt=0).exists()
    page.goto(f"{live_server.url}/projects/{proj.pk}/review/")
    page.click("#annotate-myself")
    page.wait_for_selector("#task-form:not([inert])")
    assert page.locator("#preview-bar").count() == 0
    lease = Assignment.objects.get(annotator=users["lead"])
    assert lease.state == AssignmentState.LEASED and item_shown(page) == lease.pk
