"""Property: an incremental consensus recompute writes exactly what a full one does.

Hypothesis drives random sequences of judgments (new and superseding, with criteria and harmful
flags), leads' adjudications (pick, override, edit gold, discard, more annotators) and incremental
recomputes in between; at the end an incremental recompute's consensus rows and pairs must equal
those a full recompute then leaves (a full run rewrites whatever the incremental one got wrong).
"""

import json

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.core.errors import ServiceError
from annotation.models import Assignment, Item, Judgment, Recompute
from annotation.projects import services as project_services
from annotation.quality import adjudication
from annotation.queue import services as queue_services
from preferences import tasks
from preferences.models import Consensus, PreferencePair
from tests.preferences.factories import CMP_CRITERIA, make_comparisons

pytestmark = pytest.mark.django_db

N_ANNOTATORS, N_ITEMS = 3, 3
who = st.integers(0, N_ANNOTATORS - 1)
item = st.integers(0, N_ITEMS - 1)
choice = st.sampled_from(["A", "B", "tie", "both_bad"])
answer = st.fixed_dictionaries(
    {"choice": choice, "strength": st.integers(1, 3)},
    optional={"criteria": st.fixed_dictionaries({"helpfulness": st.sampled_from(["A", "B", "tie"])}),
              "harmful": st.sampled_from([["A"], ["B"]])},
)  # fmt: skip
operations = st.lists(
    st.one_of(
        st.tuples(st.just("judge"), who, answer),
        st.tuples(st.just("resubmit"), who, st.integers(0, 3), answer),
        st.tuples(
            st.just("adjudicate"), item, st.sampled_from(["pick", "override", "edit_gold", "discard", "more"])
        ),
    ),
    max_size=10,
)


@pytest.fixture
def cmp3(users, django_user_model):
    p = project_services.create_project(
        name="Incremental", created_by=users["admin"], overlap=N_ANNOTATORS, agreement_routing=False
    )
    project_services.set_membership(project=p, actor=users["admin"], user=users["lead"], role="lead")
    people = [users["annotator"], users["annotator2"], django_user_model.objects.create_user("annotator3")]
    for person in people:
        project_services.set_membership(project=p, actor=users["admin"], user=person, role="annotator")
    project_services.create_rubric_version(project=p, actor=users["lead"], criteria=CMP_CRITERIA)
    return p, people, users["lead"]


def _step(op, *, project, people, lead, items):
    name = op[0]
    if name == "judge":
        assignment = queue_services.next_assignment(project=project, user=people[op[1]], kind="comparison")
        if assignment is not None:
            queue_services.submit_judgment(assignment=assignment, user=people[op[1]], payload=op[2])
    elif name == "resubmit":
        mine = list(Assignment.objects.filter(project=project, annotator=people[op[1]], state="submitted"))
        if mine:
            queue_services.submit_judgment(
                assignment=mine[op[2] % len(mine)], user=people[op[1]], payload=op[3]
            )
    elif name == "adjudicate":
        target = Item.objects.get(pk=items[op[1]].pk)
        shown = list(target.responses.filter(shown=True).order_by("position").values_list("id", flat=True))
        current = Judgment.objects.filter(item=target, is_current=True).order_by("id").first()
        if op[2] == "pick" and current is None:
            return
        adjudication.adjudicate(
            item=target, lead=lead, decision=op[2], reason="because", category="other",
            judgment_id=current.pk if current else None,
            final={"winner": shown[-1], "text": "The lead's own answer."}, more=1,
        )  # fmt: skip


RULE = "majority"


def snapshot(project) -> list:
    rows = Consensus.objects.filter(item__project=project).values_list(
        "item_id",
        "criterion",
        "rule",
        "params",
        "outcome",
        "winner_id",
        "order",
        "confidence",
        "margin",
        "n_votes",
    )
    pairs = PreferencePair.objects.filter(project=project).values_list(
        "item_id", "criterion", "chosen_id", "rejected_id", "confidence", "margin", "n_votes", "rule",
        "rubric_version_id", "status", "chosen_text_override", "is_stale", "chosen_harmful_flags",
        "chosen_harmful_majority",
    )  # fmt: skip
    return sorted(json.dumps(r, sort_keys=True) for r in [*rows, *pairs])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_incremental_recompute_equals_the_full_one(cmp3, ops, settings):  # noqa: F811
    project, people, lead = cmp3
    settings.TUNELOOP_RECOMPUTE_LAG_SECONDS = 0  # no lag window: only what changed is redone
    with transaction.atomic():  # a savepoint per example: each starts from the same empty project
        created = make_comparisons(project, lead, N_ITEMS, prefix=f"P{len(ops)}")
        items = list(Item.objects.filter(pk__in=created.item_ids).order_by("id"))
        tasks.request_consensus(project=project, actor=lead, rule=RULE)  # the first run is full
        for op in ops:
            try:
                with transaction.atomic():
                    _step(op, project=project, people=people, lead=lead, items=items)
            except ServiceError:
                pass  # refused (a decided or discarded item): nothing changed
            # after every step: the incremental run, then a full one, must leave the same rows
            run = tasks.request_consensus(project=project, actor=lead, rule=RULE)
            assert run.mode == "incremental" and run.state == "done"
            incremental = snapshot(project)
            assert tasks.request_consensus(project=project, actor=lead, rule=RULE, full=True).mode == "full"
            assert incremental == snapshot(project), f"after {op} in {ops}"
        assert Recompute.objects.filter(project=project, state="done").count() == 1 + 2 * len(ops)
        transaction.set_rollback(True)
