"""Property: the agreement report's sums kept incrementally (annotation.quality.tally) equal, after
any sequence of judgments, resubmits (supersede), adjudications, gold answers and new rubric
versions, the sums of a full rebuild exactly; and the report computed from them equals the direct
computation over every judgment (annotation.quality.report, the reference held to the metric
libraries by test_agreement_reports). Also: a recompute's statements do not grow with the items."""

import math

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.core.errors import Conflict, InvalidInput
from annotation.models import AgreementTally, Assignment, Item
from annotation.projects import services as project_services
from annotation.quality import adjudication, reports, tally_store
from annotation.queue import services as queue_services
from tests.annotation.factories import four_annotator_project
from tests.conftest import CRITERIA, make_items

pytestmark = pytest.mark.django_db

N_ANNOTATORS, N_ITEMS = 4, 5
annotator = st.integers(0, N_ANNOTATORS - 1)
item = st.integers(0, N_ITEMS - 1)
decision = st.sampled_from(["accept", "reject", "edit"])
score = st.integers(1, 5)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), annotator, decision, score, st.booleans()),
        st.tuples(st.just("resubmit"), annotator, st.integers(0, 3), decision, score, st.booleans()),
        st.tuples(st.just("adjudicate"), item, st.sampled_from(["accept", "reject"])),
        st.tuples(st.just("gold"), item, st.sampled_from(["accept", "reject"])),
        st.tuples(st.just("version")),
        st.tuples(st.just("recompute")),
    ),
    min_size=1,
    max_size=16,
)


@pytest.fixture
def crowd(users, django_user_model):
    return four_annotator_project("Incremental", users, django_user_model)


def _step(op, *, project, people, lead, items):
    name = op[0]
    if name == "submit":
        _, who, dec, helpful, safe = op
        a = queue_services.next_assignment(project=project, user=people[who])
        if a is not None:
            queue_services.submit_judgment(
                assignment=a, user=people[who], decision=dec, scores={"helpfulness": helpful, "safe": safe}
            )
    elif name == "resubmit":
        _, who, nth, dec, helpful, safe = op
        mine = list(Assignment.objects.filter(annotator=people[who], state="submitted").order_by("id"))
        if mine:
            queue_services.submit_judgment(
                assignment=mine[nth % len(mine)], user=people[who], decision=dec,
                scores={"helpfulness": helpful, "safe": safe},
            )  # fmt: skip
    elif name == "adjudicate":
        adjudication.adjudicate(
            item=items[op[1]], lead=lead, decision="override", reason="because", category="other",
            final={"decision": op[2]},
        )  # fmt: skip
    elif name == "gold":
        adjudication.set_gold(
            item=items[op[1]], actor=lead, answer={"decision": op[2], "scores": {"safe": True}}
        )
    elif name == "version":
        project_services.create_rubric_version(project=project, actor=lead, criteria=list(CRITERIA))


def _close(a, b, path=""):
    """Equal, floats to the report's 4 places (last-digit rounding of a different summation order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{n}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, abs_tol=1.01e-4), (path, a, b)
    else:
        assert a == b, (path, a, b)


def _without_tied_fleiss(data):
    """Fleiss' kappa of a scope where two judgment counts are equally common: the reference takes the
    first seen, the sums the larger (documented in annotation.quality.tally_report); left out."""
    for row in data["decisions"]:
        row.pop("fleiss", None), row.pop("fleiss_items", None)
    return {k: v for k, v in data.items() if k not in ("computed_at", "reliability_as_of")}


def _sums(project):
    """The stored sums without the run's start time (a full rebuild's would differ by the clock)."""
    return {k: v for k, v in tally_store.stored_sums(project).items() if k != tally_store.STARTED}


def _check(project, since):
    data, mode = reports.build(project, since=since)
    assert mode == ("full" if since is None else "incremental")
    assert _sums(project) == tally_store.fresh_sums(project)  # exactly: integers
    _close(_without_tied_fleiss(data), _without_tied_fleiss(reports.reference_report(project)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_incremental_sums_equal_a_full_rebuild_after_every_step(crowd, ops):
    project, people, lead = crowd
    with transaction.atomic():  # a savepoint per example
        items = list(Item.objects.filter(pk__in=make_items(project, lead, N_ITEMS).item_ids).order_by("id"))
        since = timezone.now()
        _check(project, None)
        for op in ops + [("recompute",)]:
            if op[0] == "recompute":
                started = timezone.now()
                _check(project, since)
                since = started
                continue
            try:
                with transaction.atomic():
                    _step(op, project=project, people=people, lead=lead, items=items)
            except (Conflict, InvalidInput):
                pass
        transaction.set_rollback(True)


def _judge_all(project, people, n_items, lead, start):
    make_items(project, lead, n_items, start=start)
    for n, person in enumerate(people):
        while (a := queue_services.next_assignment(project=project, user=person)) is not None:
            dec = "accept" if (a.item_id + n) % 3 else "reject"
            queue_services.submit_judgment(
                assignment=a,
                user=person,
                decision=dec,
                scores={"helpfulness": 1 + a.item_id % 5, "safe": True},
            )


def _statements(fn):
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_recompute_statements_do_not_grow_with_the_items(crowd):
    project, people, lead = crowd
    _judge_all(project, people, 4, lead, 0)
    small_full = _statements(lambda: reports.build(project))
    _judge_all(project, people, 12, lead, 100)
    large_full = _statements(lambda: reports.build(project))
    assert small_full == large_full  # one batch of items: items, judgments, states, sums
    since = timezone.now()
    _judge_all(project, people, 2, lead, 200)
    small_inc = _statements(lambda: reports.build(project, since=since))
    since = timezone.now()
    _judge_all(project, people, 8, lead, 300)
    large_inc = _statements(lambda: reports.build(project, since=since))
    assert small_inc == large_inc
    assert AgreementTally.objects.filter(project=project).count() > 0


def test_an_interrupted_full_rebuild_is_redone_not_continued(crowd):
    project, people, lead = crowd
    _judge_all(project, people, 3, lead, 0)
    reports.build(project)
    AgreementTally.objects.filter(project=project, key='["ok"]').delete()  # as a crashed rebuild leaves it
    data, mode = reports.build(project, since=timezone.now())
    assert mode == "full" and _sums(project) == tally_store.fresh_sums(project)
    assert tally_store.last_started(project) is not None


def test_the_periodic_refresh_redoes_only_the_changed_items(crowd, monkeypatch):
    from annotation.quality import tasks as quality_tasks

    project, people, lead = crowd
    _judge_all(project, people, 3, lead, 0)
    quality_tasks.refresh_agreement_reports()
    assert tally_store.last_started(project) is not None
    modes = []
    real = tally_store.refresh
    monkeypatch.setattr(
        tally_store, "refresh", lambda *a, **k: modes.append(real(*a, **k)[1]) or real(*a, **k)
    )
    _judge_all(project, people, 2, lead, 100)
    quality_tasks.refresh_agreement_reports()
    assert modes[0] == "incremental"
    assert _sums(project) == tally_store.fresh_sums(project)


def test_counting_external_judgments_or_not_rebuilds_the_sums(crowd):
    project, people, lead = crowd
    _judge_all(project, people, 3, lead, 0)
    reports.build(project)
    project.count_external_judgments = not project.count_external_judgments
    project.save(update_fields=["count_external_judgments"])
    data, mode = reports.build(project, since=timezone.now())
    assert mode == "full" and _sums(project) == tally_store.fresh_sums(project)
