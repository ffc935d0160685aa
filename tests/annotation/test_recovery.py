"""Recovering on the task pages: a skip's reason, undoing a skip, going back to the item just
submitted, and a lead's preview that takes no lease (annotation.queue.recovery, queue.task_flow)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.core.errors import Conflict, NotFound
from annotation.kinds import registry
from annotation.models import Assignment, AssignmentState, Item, ItemState, Judgment, SkipReason
from annotation.projects import services as project_services
from annotation.queue import lifecycle, recovery
from annotation.queue import services as queue_services
from tests.conftest import GOOD_SCORES

pytestmark = pytest.mark.django_db


def one_slot(project, users):
    return project_services.update_project(project=project, actor=users["admin"], overlap=1)


def counters_ok(project):
    return [p for item in Item.objects.filter(project=project) for p in lifecycle.check_item(item, project)]


@pytest.mark.parametrize(
    "given, stored",
    [("broken", "broken"), ("Needs expertise", "needs_expertise"), ("not my language", "other"), ("", "")],
)
def test_a_skip_stores_its_reason(project, items, users, given, stored):
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    queue_services.skip_assignment(assignment=a, user=users["annotator"], reason=given)
    assert Assignment.objects.get(pk=a.pk).skip_reason == stored


def test_the_api_skip_takes_a_reason(project, items, users, api):
    client = api["annotator"]
    task = client.get(f"/api/projects/{project.pk}/next/").json()
    r = client.post(f"/api/assignments/{task['assignment']}/skip/", {"reason": "unclear"}, format="json")
    assert r.status_code == 200 and r.json()["skip_reason"] == "unclear"
    assert Assignment.objects.get(pk=task["assignment"]).skip_reason == SkipReason.UNCLEAR


def test_undo_skip_leases_the_item_again_and_keeps_the_counters(project, items, users):
    project = one_slot(project, users)
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    queue_services.skip_assignment(assignment=a, user=users["annotator"], reason="broken")
    undone = recovery.undo_skip(assignment=a, user=users["annotator"])
    assert undone.state == AssignmentState.LEASED and undone.skip_reason == ""
    item = Item.objects.get(pk=a.item_id)
    assert item.active_count == 1 and item.state == ItemState.ASSIGNED
    assert counters_ok(project) == []
    # the next page load resumes it, and a second undo (a double click) changes nothing
    assert queue_services.next_assignment(project=project, user=users["annotator"]).pk == a.pk
    assert recovery.undo_skip(assignment=a, user=users["annotator"]).state == AssignmentState.LEASED
    assert counters_ok(project) == []


def test_undo_skip_is_refused_once_someone_took_the_place(project, items, users):
    project = one_slot(project, users)
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    queue_services.skip_assignment(assignment=a, user=users["annotator"])
    other = queue_services.next_assignment(project=project, user=users["annotator2"])
    assert other.item_id == a.item_id
    with pytest.raises(Conflict, match="someone else"):
        recovery.undo_skip(assignment=a, user=users["annotator"])
    assert Assignment.objects.get(pk=a.pk).state == AssignmentState.SKIPPED
    assert counters_ok(project) == []


def test_undo_skip_is_refused_after_the_lease_time(project, items, users):
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    queue_services.skip_assignment(assignment=a, user=users["annotator"])
    later = timezone.now() + timedelta(minutes=project.lease_minutes + 1)
    with pytest.raises(Conflict, match="Too late"):
        recovery.undo_skip(assignment=a, user=users["annotator"], now=later)
    with pytest.raises(NotFound):  # and only the caller's own skip can be undone
        recovery.undo_skip(assignment=a, user=users["annotator2"])


def test_reopen_gives_the_current_judgment_and_a_resubmit_supersedes(project, items, users):
    me = users["annotator"]
    a = queue_services.next_assignment(project=project, user=me)
    first = queue_services.submit_judgment(assignment=a, user=me, decision="accept", scores=GOOD_SCORES)
    mine, judgment = recovery.reopen(assignment=a, user=me)
    assert mine.pk == a.pk and judgment.pk == first.pk
    values = registry.get(mine.item.kind).answer_values(judgment)  # what the page fills in
    assert values["decision"] == "accept" and values["scores"] == first.scores
    second = queue_services.submit_judgment(assignment=a, user=me, decision="reject", scores=GOOD_SCORES)
    assert second.supersedes_id == first.pk
    assert Judgment.objects.filter(assignment=a, is_current=True).get().decision == "reject"
    assert Item.objects.get(pk=a.item_id).submitted_count == 1
    with pytest.raises(Conflict, match="Too late"):
        recovery.reopen(assignment=a, user=me, now=timezone.now() + timedelta(days=1))


def test_reopen_needs_a_submitted_answer(project, items, users):
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    with pytest.raises(Conflict):
        recovery.reopen(assignment=a, user=users["annotator"])


def test_a_lead_opening_review_previews_without_a_lease(client, project, items, users):
    client.force_login(users["lead"])
    page = client.get(f"/projects/{project.pk}/review/")
    assert page.status_code == 200 and b"Annotate myself" in page.content and b"inert" in page.content
    assert not Assignment.objects.filter(annotator=users["lead"]).exists()
    assert counters_ok(project) == [] and not Item.objects.filter(active_count__gt=0).exists()
    # choosing to annotate switches to the normal flow for the session
    r = client.post(f"/projects/{project.pk}/review/", {"action": "annotate_myself"})
    assert r.status_code == 302
    page = client.get(f"/projects/{project.pk}/review/")
    assert b"Annotate myself" not in page.content
    assert Assignment.objects.filter(annotator=users["lead"], state=AssignmentState.LEASED).count() == 1


def test_an_annotator_is_not_previewed(client, project, items, users):
    client.force_login(users["annotator"])
    page = client.get(f"/projects/{project.pk}/review/")
    assert b"Annotate myself" not in page.content
    assert Assignment.objects.filter(annotator=users["annotator"], state=AssignmentState.LEASED).count() == 1


def test_the_page_refuses_an_undo_with_nothing_to_undo(client, project, items, users):
    client.force_login(users["annotator"])
    r = client.post(f"/projects/{project.pk}/review/", {"action": "undo_skip"})
    assert r.status_code == 400 and b"Nothing to undo" in r.content


def test_the_dashboard_counts_skips_by_reason(client, project, items, users):
    for person, reason in ((users["annotator"], "broken"), (users["annotator2"], "broken")):
        a = queue_services.next_assignment(project=project, user=person)
        queue_services.skip_assignment(assignment=a, user=person, reason=reason)
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    queue_services.skip_assignment(assignment=a, user=users["annotator"], reason="unclear")
    client.force_login(users["lead"])
    page = client.get(f"/projects/{project.pk}/dashboard/")
    rows = page.context["skip_reasons"]
    assert [(r["label"], r["count"]) for r in rows] == [("Unclear", 1), ("Broken item", 2)]
    assert b"Why items were skipped" in page.content
