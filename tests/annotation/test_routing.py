"""Routing of complete items: agreement approves, disagreement adds a slot first, then goes to leads."""

import pytest

from annotation.core.errors import Forbidden
from annotation.models import AuditEvent, Item, ItemState, Judgment
from annotation.projects import services as project_services
from annotation.quality import adjudication
from annotation.queue import services as queue_services
from tests.conftest import CRITERIA, GOOD_SCORES, make_items

pytestmark = pytest.mark.django_db


def judge(project, user, decision, **kw):
    a = queue_services.next_assignment(project=project, user=user)
    assert a is not None
    text = kw.pop("edited_text", "Better answer." if decision == "edit" else "")
    queue_services.submit_judgment(
        assignment=a, user=user, decision=decision, scores=kw.pop("scores", GOOD_SCORES), edited_text=text
    )
    return a.item_id


@pytest.fixture
def routed(project, users):
    return project_services.update_project(project=project, actor=users["admin"], agreement_routing=True)


def add_annotator(project, users, django_user_model, name):
    user = django_user_model.objects.create_user(name)
    project_services.set_membership(project=project, actor=users["admin"], user=user, role="annotator")
    return user


def test_agreeing_item_is_approved_with_the_majority_answer(routed, users):
    make_items(routed, users["lead"], 1)
    item_id = judge(routed, users["annotator"], "edit", edited_text="Gold one.")
    assert Item.objects.get(pk=item_id).state == ItemState.OPEN  # one of two judgments in
    judge(routed, users["annotator2"], "edit", edited_text="Gold two.")
    item = Item.objects.get(pk=item_id)
    assert item.state == ItemState.APPROVED
    assert item.resolution["decision"] == "edit" and item.resolution["text"] == "Gold two."
    assert item.resolution["source"] == "routing" and item.resolution["agreement"] == 1.0
    event = AuditEvent.objects.get(verb="item.routed", object_id=str(item_id))
    assert event.data["outcome"] == "approved" and event.data["counts"] == {"edit": 2}
    assert event.data["scores"] == {"helpfulness": 1.0, "safe": 1.0}


def test_disagreeing_item_goes_to_the_leads(routed, users):
    make_items(routed, users["lead"], 1)
    item_id = judge(routed, users["annotator"], "accept")
    judge(routed, users["annotator2"], "reject")
    item = Item.objects.get(pk=item_id)
    assert item.state == ItemState.DISPUTED and item.resolution is None
    assert AuditEvent.objects.get(verb="item.routed").data["outcome"] == "disputed"


def test_routing_off_leaves_items_complete(project, users):
    make_items(project, users["lead"], 1)
    item_id = judge(project, users["annotator"], "accept")
    judge(project, users["annotator2"], "reject")
    assert Item.objects.get(pk=item_id).state == ItemState.COMPLETE


def test_dynamic_overlap_adds_a_slot_before_disputing(routed, users, django_user_model):
    project_services.update_project(
        project=routed, actor=users["admin"], max_extra_annotators=1, agreement_threshold=0.6
    )
    third = add_annotator(routed, users, django_user_model, "third")
    fourth = add_annotator(routed, users, django_user_model, "fourth")
    make_items(routed, users["lead"], 2)
    item_id = judge(routed, users["annotator"], "accept")
    judge(routed, users["annotator2"], "reject")
    item = Item.objects.get(pk=item_id)
    assert (item.state, item.extra_overlap) == (ItemState.OPEN, 1)
    # the third annotator gets the re-opened item first (it is older), and breaks the tie: 2/3 >= 0.6
    assert judge(routed, third, "accept") == item_id
    item.refresh_from_db()
    assert item.state == ItemState.APPROVED and item.resolution["decision"] == "accept"
    assert item.submitted_count == 3
    # the next item disagrees again after its extra slot: disputed
    other = judge(routed, users["annotator"], "accept")
    judge(routed, users["annotator2"], "reject")
    assert judge(routed, third, "edit") == other
    item = Item.objects.get(pk=other)
    assert (item.state, item.extra_overlap) == (ItemState.DISPUTED, 1)
    assert queue_services.next_assignment(project=routed, user=fourth) is None  # nothing open any more


def test_per_item_overlap_fills_the_extra_slot_only(routed, users, django_user_model):
    third = add_annotator(routed, users, django_user_model, "third")
    make_items(routed, users["lead"], 2)
    first = Item.objects.filter(project=routed).order_by("id").first()
    Item.objects.filter(pk=first.pk).update(extra_overlap=1)
    a1 = queue_services.next_assignment(project=routed, user=users["annotator"])
    a2 = queue_services.next_assignment(project=routed, user=users["annotator2"])
    assert a1.item_id == a2.item_id == first.pk
    assert Item.objects.get(pk=first.pk).state == ItemState.OPEN  # 2 of 3 slots held
    a3 = queue_services.next_assignment(project=routed, user=third)
    assert a3.item_id == first.pk
    assert Item.objects.get(pk=first.pk).state == ItemState.ASSIGNED


def test_lead_asks_for_more_annotators(routed, users):
    make_items(routed, users["lead"], 1)
    item_id = judge(routed, users["annotator"], "accept")
    judge(routed, users["annotator2"], "reject")
    item = adjudication.request_more_annotators(item=Item.objects.get(pk=item_id), actor=users["lead"], n=2)
    item.refresh_from_db()
    assert (item.state, item.extra_overlap) == (ItemState.OPEN, 2)
    event = AuditEvent.objects.get(verb="item.more_annotators")
    assert event.actor == users["lead"] and event.data["n"] == 2


def test_rubric_revision_requeues_items_judged_under_the_old_version(routed, users, django_user_model):
    third = add_annotator(routed, users, django_user_model, "third")
    fourth = add_annotator(routed, users, django_user_model, "fourth")
    make_items(routed, users["lead"], 1)
    item_id = judge(routed, users["annotator"], "accept")
    judge(routed, users["annotator2"], "accept")
    assert Item.objects.get(pk=item_id).state == ItemState.APPROVED
    project_services.create_rubric_version(
        project=routed, actor=users["lead"], criteria=CRITERIA, changelog="v2"
    )
    result = adjudication.requeue_outdated(project=routed, actor=users["lead"])
    assert result == {"items": 1, "slots": 2, "version": 2}
    item = Item.objects.get(pk=item_id)
    assert (item.state, item.extra_overlap, item.resolution) == (ItemState.OPEN, 2, None)
    # fresh judgments under v2 decide, the old ones (accept) are kept but do not count
    judge(routed, third, "reject")
    judge(routed, fourth, "reject")
    item.refresh_from_db()
    assert item.state == ItemState.APPROVED and item.resolution["decision"] == "reject"
    assert Judgment.objects.filter(item=item, is_current=True).count() == 4
    assert AuditEvent.objects.filter(verb="items.requeued_for_rubric").count() == 1
    with pytest.raises(Forbidden):
        adjudication.requeue_outdated(project=routed, actor=users["annotator"])


def test_new_projects_route_by_default(users):
    fresh = project_services.create_project(name="Defaults", created_by=users["admin"])
    assert fresh.agreement_routing is True


def test_requeue_leaves_a_leads_decision_alone_but_not_a_send_back(routed, users):
    from annotation.models import Judgment

    make_items(routed, users["lead"], 2)
    first = judge(routed, users["annotator"], "accept")
    judge(routed, users["annotator2"], "reject")
    second = judge(routed, users["annotator"], "accept")
    judge(routed, users["annotator2"], "reject")
    assert set(Item.objects.filter(state=ItemState.DISPUTED).values_list("pk", flat=True)) == {first, second}
    pick = Judgment.objects.get(item_id=first, annotator=users["annotator"])
    adjudication.adjudicate(item=Item.objects.get(pk=first), lead=users["lead"], decision="pick",
                            judgment_id=pick.pk, reason="Accept is right.", category="annotator_error")  # fmt: skip
    adjudication.adjudicate(item=Item.objects.get(pk=second), lead=users["lead"], decision="more", more=1,
                            reason="Unsure.", category="ambiguous_prompt")  # fmt: skip
    project_services.create_rubric_version(
        project=routed, actor=users["lead"], criteria=CRITERIA, changelog="v2"
    )
    result = adjudication.requeue_outdated(project=routed, actor=users["lead"])
    assert result["items"] == 1
    assert Item.objects.get(pk=first).state == ItemState.APPROVED  # the lead's pick stands
    assert Item.objects.get(pk=second).state == ItemState.OPEN
