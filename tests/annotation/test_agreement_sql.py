"""Property (PostgreSQL): the set-based full rebuild (annotation.quality.tally_sql: the SFT and pairwise
comparison labels as SQL, the sums by GROUP BY, states and votes by INSERT ... SELECT) gives exactly
the sums of the Python path (`tally_store.fresh_sums`: every item through the kinds' hooks and
`tally.contributions`), and an incremental run from its stored states keeps them exact, after any
sequence of SFT and comparison judgments (pairwise and 3-way, with criteria), resubmits, gold answers,
new rubric versions, external judgments and judgments whose stored answer has an unusual shape
(which the SQL either labels exactly or leaves to the Python path)."""

import json
from collections import Counter
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.core.errors import Conflict, InvalidInput
from annotation.models import AgreementItemState, AgreementVote, Assignment, Item, Judgment
from annotation.projects import services as project_services
from annotation.quality import adjudication, reports, tally, tally_sql, tally_store
from annotation.queue import services as queue_services
from preferences.kinds import canonical_responses
from tests.annotation.factories import four_annotator_project
from tests.conftest import CRITERIA, make_items
from tests.preferences.factories import make_comparisons

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

N_ANNOTATORS = 4
who = st.integers(0, N_ANNOTATORS - 1)
choice = st.sampled_from(["A", "B", "tie", "both_bad"])


def _odd(j, canonical):
    """Stored answers of unusual shapes, by index: field updates of judgment `j`."""
    first = canonical[0] if canonical else 1
    return [
        {"payload": {"ranking": [[first + 10_000]], "outcome": "win", "strength": 2}},  # not shown
        {"payload": {"ranking": [canonical], "strength": 3}},  # top group of two: a tie
        {"payload": {"ranking": [], "outcome": "ranked"}},
        {"payload": {"ranking": [[first]], "strength": 2.7}},
        {"payload": {"ranking": [[first]], "strength": "2"}},  # Python only
        {"payload": {"ranking": "A>B"}},  # Python only
        {"payload": {"ranking": [[first]], "criteria": {"helpfulness": {"outcome": "tie"}, "safe": "A"}}},
        {"payload": {"ranking": [[first]], "criteria": {"tone": {"ranking": [[first + 10_000]]}}}},
        {"payload": {"criteria": []}},  # Python only
        {"payload": {}, "decision": ""},
        {"scores": {"helpfulness": 2.5, "safe": True}},  # Python only
        {"scores": {"helpfulness": 4.0, "safe": 0, "tone": "casual"}},
        {"scores": {"helpfulness": "3", "safe": "yes"}},  # Python only (likert text)
        {"scores": {"helpfulness": None, "safe": "", "other": 1, "tone": 7}},
        {"scores": {"safe": []}},  # Python only
        {"external": True},
        {"payload": {"ranking": [[str(first)]]}},  # Python only: a winner id as text
        {"payload": {"ranking": [[first + 0.0]], "strength": 1}},  # Python only: 5.0 is not an integer's text
        {"payload": {"ranking": [[10**19]]}},  # Python only: more than 18 digits
        {"payload": {"ranking": [[-first]], "criteria": {"tone": {"ranking": [[str(first)]]}}}},
        {"payload": {"ranking": [[first]], "strength": 10**12}},  # Python only; no integer cast in the SQL
        {"payload": {"ranking": [[first]], "strength": "much"}},  # Python only: read as no strength (1)
    ][j]


N_ODD = 22
operations = st.lists(
    st.one_of(
        st.tuples(st.just("sft"), who, st.sampled_from(["accept", "reject", "edit"]), st.integers(1, 5),
                  st.booleans()),
        st.tuples(st.just("cmp"), who, choice, st.integers(1, 3), st.sampled_from([None, "A", "B", "tie"])),
        st.tuples(st.just("resubmit"), who, st.integers(0, 3), st.sampled_from(["accept", "reject"])),
        st.tuples(st.just("sft"), who, st.sampled_from(["accept", "reject"]), st.just(3), st.just(True)),
        st.tuples(st.just("cmp"), who, st.sampled_from(["A", "B"]), st.just(2), st.just(None)),
        st.tuples(st.just("odd"), st.integers(0, 30), st.integers(0, N_ODD - 1)),
        st.tuples(st.just("move"), st.integers(0, 30), who, st.integers(0, 3)),
        st.tuples(st.just("gold"), st.integers(0, 5), st.sampled_from(["accept", "reject"])),
        st.tuples(st.just("version")),
        st.tuples(st.just("external")),
        st.tuples(st.just("recompute")),
    ),
    min_size=1,
    max_size=30,
)  # fmt: skip


@pytest.fixture
def mixed(users, django_user_model):
    return four_annotator_project("Mixed", users, django_user_model)


def _submit(project, person, kind, **answer):
    a = queue_services.next_assignment(project=project, user=person, kind=kind)
    if a is not None:
        queue_services.submit_judgment(assignment=a, user=person, comment="because", **answer)


def _step(op, *, project, people, lead, items):
    name = op[0]
    if name == "sft":
        _, n, dec, helpful, safe = op
        _submit(project, people[n], "sft", decision=dec, scores={"helpfulness": helpful, "safe": safe})
    elif name == "cmp":
        _, n, pick, strength, crit = op
        a = queue_services.next_assignment(project=project, user=people[n], kind="comparison")
        if a is None:
            return
        if len(a.display_order) == 2:
            payload = {
                "choice": pick,
                "strength": strength,
                "criteria": {"helpfulness": crit} if crit else {},
            }
        else:
            payload = {"ranking": {"A": "A>B>C", "B": "B>A=C", "tie": "A=B=C"}.get(pick, "C>B>A")}
        queue_services.submit_judgment(assignment=a, user=people[n], payload=payload, comment="because")
    elif name == "resubmit":
        _, n, nth, dec = op
        mine = list(Assignment.objects.filter(annotator=people[n], state="submitted", item__kind="sft"))
        if mine:
            queue_services.submit_judgment(
                assignment=mine[nth % len(mine)], user=people[n], decision=dec,
                scores={"helpfulness": 3, "safe": True},
            )  # fmt: skip
    elif name == "odd":
        current = list(Judgment.objects.filter(item__project=project, is_current=True).order_by("id"))
        if current:
            j = current[op[1] % len(current)]
            Judgment.objects.filter(pk=j.pk).update(**_odd(op[2], canonical_responses(j.item)))
            Item.objects.filter(pk=j.item_id).update(updated_at=timezone.now())
    elif name == "move":  # another annotator (two current judgments of one person), another week
        current = list(Judgment.objects.filter(item__project=project, is_current=True).order_by("id"))
        if current:
            j = current[op[1] % len(current)]
            Judgment.objects.filter(pk=j.pk).update(
                annotator=people[op[2]], created_at=j.created_at - timedelta(weeks=op[3])
            )
            Item.objects.filter(pk=j.item_id).update(updated_at=timezone.now())
    elif name == "gold":
        adjudication.set_gold(
            item=items[op[1] % len(items)], actor=lead, answer={"decision": op[2], "scores": {"safe": True}}
        )
    elif name == "version":
        project_services.create_rubric_version(project=project, actor=lead, criteria=list(CRITERIA))
    elif name == "external":
        project.count_external_judgments = not project.count_external_judgments
        project.save(update_fields=["count_external_judgments"])


def _sums(project):
    return {k: v for k, v in tally_store.stored_sums(project).items() if k != tally_store.STARTED}


def _text(mapping: dict) -> dict:
    """{key's JSON: value's JSON}: a float where the Python has an int (or the reverse) differs."""
    return {json.dumps(k): json.dumps(v, sort_keys=True) for k, v in mapping.items()}


def _check(project, since):
    reports.build(project, since=since)
    assert _text(_sums(project)) == _text(tally_store.fresh_sums(project))  # exactly, keys as the Python's


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_the_sql_full_rebuild_equals_the_python_path(mixed, ops):
    project, people, lead = mixed
    with transaction.atomic():  # a savepoint per example
        make_items(project, lead, 2)
        make_comparisons(project, lead, 2)
        make_comparisons(project, lead, 1, start=10, models=("model-a", "model-b", "model-c"))
        items = list(Item.objects.filter(project=project, kind="sft").order_by("id"))
        since = timezone.now()
        for op in ops + [("recompute",)]:
            if op[0] == "recompute":
                started = timezone.now()
                _check(project, None)  # the SQL path
                _check(project, since)  # incremental from the states it stored
                since = started
                continue
            try:
                with transaction.atomic():
                    _step(op, project=project, people=people, lead=lead, items=items)
            except (Conflict, InvalidInput):
                pass
        transaction.set_rollback(True)


def test_states_and_votes_of_the_sql_path_are_the_python_ones(mixed):
    project, people, lead = mixed
    make_items(project, lead, 2)
    make_comparisons(project, lead, 2)
    for n, person in enumerate(people):
        for kind, answer in (
            ("sft", {"decision": ["accept", "edit", "accept", "reject"][n], "edited_text": "Better.",
                     "scores": {"helpfulness": 1 + n, "safe": bool(n % 2), "tone": "formal"}}),
            ("comparison", {"payload": {"choice": ["tie", "both_bad", "tie", "both_bad"][n], "strength": 1 + n % 3,
                                        "criteria": {"helpfulness": "tie", "safe": "AB"[n % 2]}}}),
        ):  # fmt: skip
            for _ in range(2):
                _submit(project, person, kind, **answer)
    for j in Judgment.objects.filter(item__project=project):  # over three weeks; ties among the others
        Judgment.objects.filter(pk=j.pk).update(created_at=j.created_at - timedelta(weeks=j.pk % 3))
    moved = Judgment.objects.filter(item__kind="comparison", annotator=people[1]).order_by("id").first()
    Judgment.objects.filter(pk=moved.pk).update(  # annotator 3's second judgment there, in an older week
        annotator=people[3], created_at=timezone.now() - timedelta(weeks=5)
    )
    with transaction.atomic():
        sql_part, rest = tally_sql.full(project)
    assert rest == []  # every item labelled by SQL
    stored = dict(AgreementItemState.objects.filter(project=project).values_list("item_id", "data"))
    versions = tally_store._versions(project)
    python = tally_store.item_states(project, list(Item.objects.filter(project=project)), versions)
    assert _text(stored) == _text(python) and len(stored) == 4  # JSON texts: 2.0 is not 2
    votes = {(v.item_id, v.annotator_id): v.label for v in AgreementVote.objects.filter(project=project)}
    assert votes == {(pk, a): label for pk, s in python.items() for a, label in tally.votes(s).items()}
    expected = Counter()
    for state in python.values():
        tally.contributions(state, expected)
    assert _text(tally.nonzero(sql_part)) == _text(tally.nonzero(expected))


def _one_judged_comparison(mixed):
    """(project, the first of three judgments of one pairwise comparison, its first canonical response id)."""
    project, people, lead = mixed
    make_comparisons(project, lead, 1)
    for person in people[:3]:
        _submit(project, person, "comparison", payload={"choice": "A", "strength": 2})
    judgment = Judgment.objects.filter(item__project=project, item__kind="comparison").order_by("id").first()
    return project, judgment, canonical_responses(judgment.item)[0]


def _left_to_python(project) -> list:
    """The items the SQL full rebuild leaves to the Python path (its writes rolled back)."""
    with transaction.atomic():
        _sql_part, rest = tally_sql.full(project)
        transaction.set_rollback(True)
    return rest


@pytest.mark.parametrize(
    ("top", "by_sql"),
    [
        (lambda c: c, True),
        (lambda c: -c, True),  # an id no response has: "response id -N"
        (lambda c: 10**17 + c, True),  # 18 digits
        (lambda c: c + 0.0, False),  # written 5.0: not an integer's text
        (lambda c: str(c), False),  # a winner id as text
        (lambda c: 10**19 + c, False),  # 20 digits (beyond a bigint)
        (lambda c: [c], False),  # not a scalar
    ],
)
def test_the_sql_labels_an_integral_winner_id_and_leaves_any_other_to_the_python(mixed, top, by_sql):
    """The top group's one member: an integer of at most 18 digits is labelled by the SQL
    (label_sql.INTEGRAL, the check that replaced a regular expression per judgment); a number
    written with decimals, text or anything else goes to the Python hooks; the sums are exact."""
    project, judgment, first = _one_judged_comparison(mixed)
    for field in ("ranking", "criteria"):  # the winner, then a criterion's winner
        payload = {"ranking": [[first]], "strength": 1}
        if field == "ranking":
            payload["ranking"] = [[top(first)]]
        else:
            payload["criteria"] = {"helpfulness": {"ranking": [[top(first)]]}}
        Judgment.objects.filter(pk=judgment.pk).update(payload=payload)
        rest = _left_to_python(project)
        stored = Judgment.objects.filter(pk=judgment.pk).values_list("payload", flat=True).get()
        assert (judgment.item_id not in rest) == by_sql, (field, stored)
        _check(project, None)


@pytest.mark.parametrize(
    ("strength", "by_sql"),
    [
        (2, True),
        (2.7, True),
        (-5, True),  # no strength below 1: read as 1
        (999_999_999, True),
        (10**9, False),  # beyond the SQL's bound: the Python reads it
        (2**31, False),  # once made the SQL's integer cast fail, and the whole rebuild with it
        (10**30, False),
        ("2", False),  # text: the Python's int("2")
        ("much", False),  # text that is no number: no strength (1), as the SQL reads a non-number
        ([3], False),
    ],
)
def test_any_stored_strength_gives_the_python_sums_and_no_error(mixed, strength, by_sql):
    """A pairwise judgment's stored strength of any value or type: the full rebuild neither fails
    (an out-of-range number is not cast to an integer by the SQL; text that is no number is not
    an error in the Python) nor differs from the Python path."""
    project, judgment, first = _one_judged_comparison(mixed)
    Judgment.objects.filter(pk=judgment.pk).update(payload={"ranking": [[first]], "strength": strength})
    assert (judgment.item_id not in _left_to_python(project)) == by_sql
    _check(project, None)
