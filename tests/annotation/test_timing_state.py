"""The dashboard's maintained time per item (annotation.projects.timing_state: stored sums and counts per
duration up to a judgment id, plus the live delta) equals the direct pass over the current judgments
(`selectors.judgment_timing_direct`: percentile_cont on PostgreSQL, the median in Python elsewhere)
after random sequences of submits with and without a duration, resubmits (supersedes), skips and
folds; on SQLite and PostgreSQL."""

import random

import pytest
from django.db import connection

from annotation.models import Assignment, AssignmentState, Project, TimingCount, TimingState
from annotation.projects import selectors, timing_state
from annotation.queue import services as queue_services
from annotation.queue.selectors import project_progress
from tests.conftest import GOOD_SCORES, make_items


def _same(maintained, direct):
    assert maintained["overall"] == direct["overall"]
    assert maintained["annotators"].keys() == direct["annotators"].keys()
    for who, mine in maintained["annotators"].items():
        theirs = direct["annotators"][who]
        assert mine["rushed"] == theirs["rushed"], who
        if theirs["avg"] is None:
            assert mine["avg"] is None, who
        else:  # sums in another order: the same to the last few bits
            assert mine["avg"] == pytest.approx(theirs["avg"], rel=1e-9, abs=1e-9), who


def _check(p):
    _same(timing_state.timing(p), selectors.judgment_timing_direct(p))
    # the dashboard's table: submitted counts from the sums, the rest from the open assignments
    fast, direct = selectors.annotator_stats(p), selectors.annotator_stats_direct(p)
    assert [{**row, "avg_seconds": None} for row in fast] == [{**row, "avg_seconds": None} for row in direct]
    assert [row["avg_seconds"] for row in fast] == pytest.approx([row["avg_seconds"] for row in direct])
    submitted = Assignment.objects.filter(project=p, state=AssignmentState.SUBMITTED).count()
    assert project_progress(p)["judgments_done"] == submitted


def _duration(rng):
    pick = rng.random()
    if pick < 0.1:
        return None  # no time recorded (counts for rushed and judgments only)
    if pick < 0.5:
        return rng.choice([4.0, 12.5, 12.5, 30.0, 61.2])  # repeated values: counts above one
    return rng.uniform(0, 120)  # an API client's full-precision float


def _random_history(project, users, seed, *, check, folds=True):
    rng = random.Random(seed)
    Project.objects.filter(pk=project.pk).update(min_seconds_per_item=10)
    project.refresh_from_db()
    make_items(project, users["lead"], 30)
    people = [users["annotator"], users["annotator2"]]
    held = {}  # annotator -> their submitted assignments (resubmits supersede)
    for step in range(90):
        person = rng.choice(people)
        action = rng.random()
        if action < 0.55:
            a = queue_services.next_assignment(project=project, user=person)
            if a is None:
                continue
            if rng.random() < 0.15:
                queue_services.skip_assignment(assignment=a, user=person, reason="unsure")
                continue
            queue_services.submit_judgment(
                assignment=a,
                user=person,
                decision="accept",
                scores=GOOD_SCORES,
                duration_seconds=_duration(rng),
            )
            held.setdefault(person.pk, []).append(a)
        elif action < 0.8 and held.get(person.pk):
            a = rng.choice(held[person.pk])
            queue_services.submit_judgment(
                assignment=a,
                user=person,
                decision="reject",
                scores=GOOD_SCORES,
                comment=str(rng.random()),
                duration_seconds=_duration(rng),
            )
        elif action < 0.9 and folds:
            timing_state.fold(project)  # the stored sums move on; the read must not change
        if step % 10 == 0:
            check(project)
    check(project)


@pytest.mark.django_db
@pytest.mark.parametrize("seed,fold_after", [(1, 1), (2, 4), (3, 1000)])
def test_maintained_timing_equals_the_direct_pass_after_random_histories(
    project, users, monkeypatch, seed, fold_after
):
    monkeypatch.setattr(timing_state, "FOLD_AFTER", fold_after)  # reads fold too when the gap reaches it
    _random_history(project, users, seed, check=_check)
    state = TimingState.objects.get(project=project)
    assert state.through > 0 and state.data["annotators"]  # something was folded, and it still agrees
    direct = selectors.judgment_timing_direct(project)
    assert direct["overall"]["count"] > 10 and any(a["rushed"] for a in direct["annotators"].values())
    assert TimingCount.objects.filter(project=project, n__gt=1).exists()  # a value counted more than once
    assert not TimingCount.objects.filter(project=project, n__lte=0).exists()


@pytest.mark.django_db
def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two(project, users):
    make_items(project, users["lead"], 4)
    for seconds in (4.0, 10.0, 30.0, 100.0):
        a = queue_services.next_assignment(project=project, user=users["annotator"])
        queue_services.submit_judgment(
            assignment=a,
            user=users["annotator"],
            decision="accept",
            scores=GOOD_SCORES,
            duration_seconds=seconds,
        )
    timing_state.fold(project)
    assert timing_state.timing(project)["overall"] == {"count": 4, "mean": 36.0, "median": 20.0}
    a = queue_services.next_assignment(project=project, user=users["annotator2"])
    queue_services.submit_judgment(
        assignment=a, user=users["annotator2"], decision="accept", scores=GOOD_SCORES, duration_seconds=10.0
    )  # live, not folded: 4, 10, 10, 30, 100
    assert timing_state.timing(project)["overall"] == {"count": 5, "mean": 30.8, "median": 10.0}


@pytest.mark.django_db
def test_a_reset_refolds_from_zero(project, users):
    _random_history(project, users, 4, check=_check)
    before = timing_state.timing(project)
    timing_state.reset(project)
    assert not TimingState.objects.filter(project=project).exists()
    assert not TimingCount.objects.filter(project=project).exists()
    _same(timing_state.timing(project), before)
    timing_state.fold(project)
    _same(timing_state.timing(project), before)


@pytest.mark.django_db
def test_reads_cost_a_fixed_number_of_statements(project, users, django_assert_max_num_queries, monkeypatch):
    _random_history(project, users, 5, check=_check)
    monkeypatch.setattr(timing_state, "FOLD_AFTER", 1)
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    if a is not None:
        queue_services.submit_judgment(
            assignment=a, user=users["annotator"], decision="accept", scores=GOOD_SCORES, duration_seconds=9.0
        )
    # PostgreSQL inside the test's transaction: the fold waits for its commit (the share lock must not
    # outlive the statement that needs it), so the read is the stored sums plus the live delta
    # SQLite folds: state + newest id, settled id, savepoint, state row (get_or_create, then locked),
    # the sums, the counts upserted, zero counts removed, state written, release, the read
    with django_assert_max_num_queries(2 if connection.vendor == "postgresql" else 11):
        first = timing_state.timing(project)
    with django_assert_max_num_queries(2):  # nothing to fold: the state and newest id, the delta + median
        _same(timing_state.timing(project), first)
    _same(first, selectors.judgment_timing_direct(project))


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("seed", [11, 12])
def test_postgres_maintained_timing_equals_percentile_cont(project, users, seed):
    assert connection.vendor == "postgresql"

    def check(p):
        timing_state.fold(p)  # inside the test's transaction: the share lock is ours alone
        _check(p)

    _random_history(project, users, seed, check=check)


@pytest.mark.django_db
def test_a_fold_by_another_process_between_the_state_and_the_read_counts_nothing_twice(
    project, users, monkeypatch
):
    """The stored counts and the live events are read against the watermark stored when the read
    runs: a fold committed after the state was read (another process) is neither missed nor doubled."""
    _random_history(project, users, 6, check=lambda p: None, folds=False)
    real_state, raced = timing_state._state, []

    def state_then_someone_folds(p):
        out = real_state(p)
        if not raced:
            raced.append(True)
            timing_state.fold(p)  # what another request would do now
        return out

    monkeypatch.setattr(timing_state, "_state", state_then_someone_folds)
    _same(timing_state.timing(project), selectors.judgment_timing_direct(project))
    assert raced and TimingState.objects.get(project=project).through > 0
