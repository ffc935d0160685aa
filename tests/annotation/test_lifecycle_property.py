"""Property: whatever annotators and leads do, in any order, every item's state and slot counters
agree with its assignments (the rule in annotation.queue.lifecycle, checked by check_item after
every step). Hypothesis drives random sequences of take / submit / skip / undo a skip / expire /
add slots / resolve over a few annotators and items, with routing on and one extra annotator allowed."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.core.errors import Conflict
from annotation.models import Assignment, Item
from annotation.projects import services as project_services
from annotation.quality import adjudication
from annotation.queue import lifecycle, recovery
from annotation.queue import services as queue_services
from tests.conftest import CRITERIA, GOOD_SCORES, make_items

pytestmark = pytest.mark.django_db

N_ANNOTATORS, N_ITEMS = 3, 3
annotator = st.integers(0, N_ANNOTATORS - 1)
item = st.integers(0, N_ITEMS - 1)
nth = st.integers(0, 3)  # which of the annotator's assignments (wraps round)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("take"), annotator),
        st.tuples(st.just("submit"), annotator, nth, st.sampled_from(["accept", "reject"])),
        st.tuples(st.just("skip"), annotator, nth),
        st.tuples(st.just("undo_skip"), annotator, nth),
        st.tuples(st.just("expire")),
        st.tuples(st.just("add_slots"), item, st.integers(1, 2)),
        st.tuples(st.just("resolve"), item, st.sampled_from(["override", "discard", "more"])),
    ),
    max_size=14,
)


@pytest.fixture
def routed(users, django_user_model):
    p = project_services.create_project(
        name="Lifecycle", created_by=users["admin"], overlap=2, agreement_threshold=1.0,
        max_extra_annotators=1, agreement_routing=True, lease_minutes=30,
    )  # fmt: skip
    project_services.set_membership(project=p, actor=users["admin"], user=users["lead"], role="lead")
    people = [users["annotator"], users["annotator2"], django_user_model.objects.create_user("annotator3")]
    for person in people:
        project_services.set_membership(project=p, actor=users["admin"], user=person, role="annotator")
    project_services.create_rubric_version(project=p, actor=users["lead"], criteria=CRITERIA)
    return p, people, users["lead"]


def _mine(person, k):
    mine = list(Assignment.objects.filter(annotator=person).order_by("id"))
    return mine[k % len(mine)] if mine else None


def _step(op, *, project, people, lead, items, clock):
    name = op[0]
    if name == "take":
        queue_services.next_assignment(project=project, user=people[op[1]], now=clock)
    elif name == "submit" and (a := _mine(people[op[1]], op[2])) is not None:
        queue_services.submit_judgment(
            assignment=a, user=people[op[1]], decision=op[3], scores=GOOD_SCORES, now=clock
        )
    elif name == "skip" and (a := _mine(people[op[1]], op[2])) is not None:
        queue_services.skip_assignment(assignment=a, user=people[op[1]])
    elif name == "undo_skip" and (a := _mine(people[op[1]], op[2])) is not None:
        recovery.undo_skip(assignment=a, user=people[op[1]], now=clock)
    elif name == "expire":
        queue_services.release_expired_leases(project=project, now=clock)
    elif name == "add_slots":
        adjudication.request_more_annotators(item=items[op[1]], actor=lead, n=op[2])
    elif name == "resolve":
        adjudication.adjudicate(
            item=items[op[1]], lead=lead, decision=op[2], reason="because", category="other",
            final={"decision": "accept"}, more=1,
        )  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_counters_follow_the_assignments_after_every_step(routed, ops):
    project, people, lead = routed
    with transaction.atomic():  # a savepoint per example: each starts from the same empty queue
        items = list(Item.objects.filter(pk__in=make_items(project, lead, N_ITEMS).item_ids).order_by("id"))
        clock = timezone.now()
        for op in ops:
            if op[0] == "expire":
                clock += timedelta(minutes=project.lease_minutes + 1)
            try:
                with transaction.atomic():
                    _step(op, project=project, people=people, lead=lead, items=items, clock=clock)
            except Conflict:
                pass  # refused (a skipped or taken slot, a discarded item): nothing may have changed
            problems = [p for i in items for p in lifecycle.check_item(i, project)]
            assert problems == [], f"after {op} in {ops}"
        transaction.set_rollback(True)
