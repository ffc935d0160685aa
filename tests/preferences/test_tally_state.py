"""The maintained leaderboard tallies (preferences.tally_state: stored sums up to a judgment id plus the
live delta) equal the full SQL aggregate over the current judgments (preferences.tallies, itself
checked against the raw-judgment fit) after random sequences of submits, resubmits (supersedes),
skips, adjudications and folds; on SQLite and PostgreSQL."""

import random

import numpy as np
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from annotation.core import watermark
from annotation.models import Item, Judgment
from annotation.projects import services as project_services
from annotation.quality import adjudication
from annotation.queue import services as queue_services
from preferences import tallies, tally_state
from preferences.models import TallyState
from tests.preferences.factories import make_comparisons

ANSWERS_2 = [
    {"choice": "A", "strength": 1},
    {"choice": "B", "strength": 2},
    {"choice": "tie"},
    {"choice": "both_bad"},
]
RANKINGS_3 = ["A>B>C", "B>A=C", "A=B>C", "C>B>A", "A=B=C"]


def _same(maintained, reference):
    assert maintained.names == reference.names
    assert np.array_equal(maintained.wins, reference.wins)
    assert np.array_equal(maintained.ties, reference.ties)
    assert maintained.positions == reference.positions


def _answer(rng, assignment):
    if len(assignment.display_order) == 2:
        return rng.choice(ANSWERS_2)
    return {"ranking": rng.choice(RANKINGS_3)}


def _random_history(users, django_user_model, seed, *, check):
    rng = random.Random(seed)
    p = project_services.create_project(name=f"Tally {seed}", created_by=users["admin"], overlap=2)
    people = [users["annotator"], users["annotator2"]] + [
        django_user_model.objects.create_user(f"tally{seed}-{i}") for i in range(2)
    ]
    for person in people:
        project_services.set_membership(project=p, actor=users["admin"], user=person, role="annotator")
    make_comparisons(p, users["admin"], 8, models=("model-a", "model-b"))
    make_comparisons(p, users["admin"], 4, models=("model-b", "model-c@2"), start=10)
    make_comparisons(p, users["admin"], 4, models=("model-a", "model-b", "model-c"), start=20, prefix="Three")
    held = {}  # annotator -> their submitted assignments (resubmits supersede)
    steps = 0
    for _ in range(70):
        person = rng.choice(people)
        action = rng.random()
        if action < 0.5:
            a = queue_services.next_assignment(project=p, user=person, kind="comparison")
            if a is None:
                continue
            if rng.random() < 0.15:
                queue_services.skip_assignment(assignment=a, user=person, reason="unsure")
            else:
                queue_services.submit_judgment(assignment=a, user=person, payload=_answer(rng, a))
                held.setdefault(person.pk, []).append(a)
        elif action < 0.7 and held.get(person.pk):
            a = rng.choice(held[person.pk])
            queue_services.submit_judgment(
                assignment=a, user=person, payload=_answer(rng, a), comment=str(rng.random())
            )
        elif action < 0.8:
            disputed = Item.objects.filter(project=p, state="disputed").first()
            if disputed is not None:
                decision = rng.choice(["more", "discard"])
                adjudication.adjudicate(
                    item=disputed, lead=users["admin"], decision=decision, reason="r", category="other"
                )
        elif action < 0.9:
            tally_state.fold(p)  # the stored sums move on; the read must not change
        else:
            check(p)
        steps += 1
        if steps % 10 == 0:
            check(p)
    check(p)
    return p


def _check(p):
    _same(tally_state.tallies(p), tallies.tallies(p))


@pytest.mark.django_db
@pytest.mark.parametrize("seed,fold_after", [(1, 1), (2, 3), (3, 1000)])
def test_maintained_tallies_equal_the_sql_aggregate_after_random_histories(
    users, django_user_model, monkeypatch, seed, fold_after
):
    monkeypatch.setattr(tally_state, "FOLD_AFTER", fold_after)  # reads fold too when the gap reaches it
    p = _random_history(users, django_user_model, seed, check=_check)
    state = TallyState.objects.get(project=p)
    assert state.through > 0 and state.data["pairs"]  # something was folded, and it still agrees
    assert tallies.tallies(p).n_outcomes > 10


@pytest.mark.django_db
def test_a_reset_refolds_from_zero_and_a_superseded_model_leaves_the_names(users, django_user_model):
    p = _random_history(users, django_user_model, 4, check=_check)
    before = tally_state.tallies(p)
    tally_state.reset(p)
    assert not TallyState.objects.filter(project=p).exists()
    _same(tally_state.tallies(p), before)


@pytest.mark.django_db
def test_reads_cost_a_fixed_number_of_statements(
    users, django_user_model, django_assert_max_num_queries, monkeypatch
):
    p = _random_history(users, django_user_model, 5, check=_check)
    make_comparisons(p, users["admin"], 1, models=("model-c", "model-d"), start=90, prefix="Late")
    a = queue_services.next_assignment(project=p, user=users["annotator"], kind="comparison")
    queue_services.submit_judgment(
        assignment=a, user=users["annotator"], payload=_answer(random.Random(0), a)
    )
    monkeypatch.setattr(tally_state, "FOLD_AFTER", 1)
    # PostgreSQL: each count is in a transaction (savepoint, SET LOCAL jit, release); inside the test's
    # transaction the fold waits for its commit (the share lock must not outlive a statement's need)
    pg = 3 if connection.vendor == "postgresql" else 0
    with django_assert_max_num_queries(7 + pg):  # state + newest id, fold (2 counts, write), delta (2), users
        folded = tally_state.tallies(p)
    with django_assert_max_num_queries(4 + pg):  # nothing to fold: state + newest id, delta (2), users
        _same(tally_state.tallies(p), folded)
    _same(folded, tallies.tallies(p))


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("seed", [11, 12])
def test_postgres_maintained_tallies_equal_the_sql_aggregate(users, django_user_model, seed):
    assert connection.vendor == "postgresql"

    def check(p):
        tally_state.fold(p)  # inside the test's transaction: the share lock is ours alone
        _check(p)

    _random_history(users, django_user_model, seed, check=check)


def _other_connection():
    """A second connection to the test database, outside Django (another process's transaction)."""
    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname=db["NAME"],
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_a_writer_in_flight_stops_the_fold_not_the_read(users, django_user_model, monkeypatch):
    """Another connection holds the judgment table for writing (as an uncommitted submit does): the fold
    cannot tell which ids are settled, gives up after the lock timeout and leaves the watermark; the
    read is still the full aggregate."""
    monkeypatch.setattr(tally_state, "FOLD_AFTER", 1)
    p = _random_history(users, django_user_model, 21, check=_check)
    late = django_user_model.objects.create_user("late")
    project_services.set_membership(project=p, actor=users["admin"], user=late, role="annotator")
    make_comparisons(p, users["admin"], 1, models=("model-c", "model-d"), start=90, prefix="Late")
    a = queue_services.next_assignment(project=p, user=late, kind="comparison")
    queue_services.submit_judgment(assignment=a, user=late, payload=_answer(random.Random(0), a))
    through = TallyState.objects.get(project=p).through
    assert a.judgments.get().pk > through  # a judgment the fold would take in
    other = _other_connection()
    try:
        other.execute("LOCK TABLE annotation_judgment IN ROW EXCLUSIVE MODE")  # what an INSERT takes
        assert tally_state.settled_id() is None
        _same(tally_state.tallies(p), tallies.tallies(p))
        assert TallyState.objects.get(project=p).through == through
    finally:
        other.rollback()
        other.close()
    assert tally_state.settled_id() is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_an_id_drawn_before_its_insert_holds_the_settled_id(users, django_user_model):
    """The submit hot path draws its judgment's id before inserting the row (no table lock yet): while
    that transaction is open the settled id cannot be read, so no sum can advance past the drawn id
    and then miss the judgment when it commits."""
    _random_history(users, django_user_model, 5, check=_check)
    sql, params = watermark.drawn_id_sql()
    other = _other_connection()
    try:
        drawn = other.execute(f"SELECT {sql}", params).fetchone()[0]
        assert drawn > Judgment.objects.order_by("-id").values_list("id", flat=True).first()
        assert watermark.settled_judgment_id() is None  # not max(id), which is below the drawn id
    finally:
        other.rollback()
        other.close()
    assert watermark.settled_judgment_id() is not None
