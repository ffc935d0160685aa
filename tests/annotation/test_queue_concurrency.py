"""The queue under real concurrency on PostgreSQL: threads, each with its own connection.

Checks the rules that only races can break (overlap, never twice, no lost or duplicated judgment,
counters equal to the real counts), SKIP LOCKED, and that the candidate query walks item_queue_idx.
"""

import threading
import time
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction

from annotation.models import Assignment, AssignmentState, Item, ItemState, Judgment, Project
from annotation.projects import services as project_services
from annotation.queue import services as queue_services
from tests.conftest import CRITERIA, GOOD_SCORES, make_items

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

User = get_user_model()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run_threads(target, args_list, timeout=120):
    """Run target(*args) in one thread each; each thread closes its own connection. Return results."""
    results, errors = [None] * len(args_list), []
    start = threading.Barrier(len(args_list))

    def body(i, args):
        try:
            start.wait()
            results[i] = target(*args)
        except BaseException as exc:  # reported to the test, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=body, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock or lock wait)"
    assert not errors, errors
    return results


def build_project(n_annotators, n_items, overlap):
    """Routing off: these tests check the queue's own end state (COMPLETE after k judgments)."""
    admin = User.objects.create_user("boss")
    project = project_services.create_project(
        name="Race", created_by=admin, overlap=overlap, agreement_routing=False
    )
    project_services.create_rubric_version(project=project, actor=admin, criteria=CRITERIA)
    annotators = []
    for i in range(n_annotators):
        user = User.objects.create_user(f"racer{i}")
        project_services.set_membership(project=project, actor=admin, user=user, role="annotator")
        annotators.append(user)
    if n_items:
        make_items(project, admin, n_items)
    return project, annotators


def work_until_empty(project_id, user_id):
    """One browser tab: next, submit, repeat until the queue has nothing for this annotator."""
    project = Project.objects.get(pk=project_id)
    user = User.objects.get(pk=user_id)
    done = []
    while (a := queue_services.next_assignment(project=project, user=user)) is not None:
        judgment = queue_services.submit_judgment(
            assignment=a, user=user, decision="accept", scores=GOOD_SCORES
        )
        done.append((a.pk, a.item_id, judgment.pk))
    return done


def test_twenty_threads_ten_double_clicking_annotators(db):
    project, annotators = build_project(n_annotators=10, n_items=40, overlap=2)
    # Two threads per annotator: double clicks and second tabs race each other too.
    per_thread = run_threads(work_until_empty, [(project.pk, u.pk) for u in annotators for _ in range(2)])
    reported = [row for rows in per_thread for row in rows]

    current = list(Judgment.objects.filter(item__project=project, is_current=True))
    # Overlap: no item has more than 2 distinct annotators, counting every assignment row.
    per_item = Counter(Assignment.objects.filter(project=project).values_list("item_id", flat=True))
    assert max(per_item.values()) <= 2
    # Never twice: one current judgment per (item, annotator).
    pairs = Counter((j.item_id, j.annotator_id) for j in current)
    assert max(pairs.values()) == 1
    # No lost and no duplicated judgment: every reported submit is in the DB exactly once. An
    # identical double submit reports the same judgment from both tabs, so compare as sets.
    reported_ids = {judgment_id for _, _, judgment_id in reported}
    assert reported_ids == {j.pk for j in current}
    assert Judgment.objects.filter(item__project=project).count() == len(current) == 40 * 2
    # Counters equal the real counts; every item is complete.
    for item in Item.objects.filter(project=project):
        submitted = Assignment.objects.filter(item=item, state=AssignmentState.SUBMITTED).count()
        leased = Assignment.objects.filter(item=item, state=AssignmentState.LEASED).count()
        assert (item.active_count, item.submitted_count) == (leased + submitted, submitted) == (2, 2)
        assert item.state == ItemState.COMPLETE
    # Work was actually spread: more than two annotators judged something.
    assert len({j.annotator_id for j in current}) > 2


@pytest.mark.parametrize("same_content", [True, False])
def test_concurrent_double_submit_of_one_assignment(db, same_content):
    project, (user,) = build_project(n_annotators=1, n_items=1, overlap=1)
    a = queue_services.next_assignment(project=project, user=user)

    def submit(decision):
        mine = Assignment.objects.get(pk=a.pk)
        return queue_services.submit_judgment(
            assignment=mine, user=User.objects.get(pk=user.pk), decision=decision, scores=GOOD_SCORES
        ).pk

    decisions = ["accept", "accept"] if same_content else ["accept", "reject"]
    ids = run_threads(submit, [(d,) for d in decisions])
    judgments = list(Judgment.objects.filter(assignment_id=a.pk).order_by("id"))
    assert len([j for j in judgments if j.is_current]) == 1
    if same_content:
        assert len(judgments) == 1 and ids[0] == ids[1] == judgments[0].pk
    else:
        assert len(judgments) == 2 and judgments[1].supersedes_id == judgments[0].pk
        assert set(ids) == {j.pk for j in judgments}
    item = Item.objects.get(project=project)
    assert (item.submitted_count, item.active_count, item.state) == (1, 1, ItemState.COMPLETE)


def test_concurrent_next_and_skip_and_submit_keep_counters(db):
    """Mixed traffic: half the tabs skip what they get, half submit; counters must still add up."""
    project, annotators = build_project(n_annotators=6, n_items=20, overlap=2)

    def mixed(user_id, skipper):
        user = User.objects.get(pk=user_id)
        n = 0
        while (a := queue_services.next_assignment(project=project, user=user)) is not None and n < 30:
            n += 1
            if skipper and a.item_id % 3 == 0:
                queue_services.skip_assignment(assignment=a, user=user)
            else:
                queue_services.submit_judgment(assignment=a, user=user, decision="reject", scores=GOOD_SCORES)

    run_threads(mixed, [(u.pk, i % 2 == 0) for i, u in enumerate(annotators) for _ in range(2)])
    for item in Item.objects.filter(project=project):
        rows = Assignment.objects.filter(item=item)
        submitted = rows.filter(state=AssignmentState.SUBMITTED).count()
        leased = rows.filter(state=AssignmentState.LEASED).count()
        assert item.submitted_count == submitted <= 2
        assert item.active_count == leased + submitted
        assert Judgment.objects.filter(item=item, is_current=True).count() == submitted


def test_skip_locked_passes_over_an_item_being_leased(db):
    project, (u1, u2) = build_project(n_annotators=2, n_items=2, overlap=1)
    first, second = Item.objects.filter(project=project).order_by("id")
    locked, release = threading.Event(), threading.Event()

    def hold_first_item():
        with transaction.atomic():
            list(Item.objects.select_for_update().filter(pk=first.pk))
            locked.set()
            release.wait(20)

    holder = threading.Thread(target=lambda: (hold_first_item(), connections.close_all()))
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        got = run_threads(
            lambda: queue_services.next_assignment(project=project, user=u1).item_id, [()], timeout=10
        )
        assert got == [second.pk]  # did not wait for the locked head of the queue
        assert time.monotonic() - started < 5

        # Only the locked item is left: the caller waits for it rather than hearing "empty".
        def late():
            return queue_services.next_assignment(project=project, user=u2)

        waiter = threading.Thread(target=lambda: (result.append(late()), connections.close_all()))
        result = []
        waiter.start()
        time.sleep(0.3)
        assert waiter.is_alive() and not result
        release.set()
        waiter.join(10)
        assert result and result[0].item_id == first.pk
    finally:
        release.set()
        holder.join(10)


def test_candidate_query_walks_item_queue_idx_on_100k_items(db):
    """EXPLAIN the exact candidate query next_assignment runs; no sequential scan of the items."""
    project, (user,) = build_project(n_annotators=1, n_items=0, overlap=2)
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO annotation_item (project_id, kind, messages, external_id, content_hash, metadata,
                priority, state, active_count, submitted_count, is_gold, source, created_at, updated_at)
            SELECT %s, 'sft', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'q' || g)),
                '', md5(g::text), '{}'::jsonb, (g %% 3), CASE WHEN g %% 10 = 0 THEN 'complete' ELSE 'open' END,
                0, 0, false, 'bench', now(), now()
            FROM generate_series(1, 100000) AS g
            """,
            [project.pk],
        )
        cur.execute("ANALYZE annotation_item")
        cur.execute("ANALYZE annotation_assignment")
    candidates = queue_services.queue_candidates(project=project, user=user)
    with transaction.atomic():
        plan = candidates.select_for_update(skip_locked=True, no_key=True, of=("self",))[:1].explain(
            analyze=True
        )
    assert "item_queue_idx" in plan, plan
    assert "Seq Scan on annotation_item" not in plan, plan
    # And the real call picks the best item: highest priority, then lowest id.
    a = queue_services.next_assignment(project=project, user=user)
    best = Item.objects.filter(project=project, state=ItemState.OPEN).order_by("-priority", "id").first()
    assert a.item_id == best.pk


def test_a_pick_that_waited_for_a_locked_item_keeps_no_lock_on_it(db):
    """At the end of the queue SKIP LOCKED finds nothing while another transaction holds the last
    candidate; the pick then waits for it. When that candidate is taken meanwhile, the waiting pick
    must not keep its lock: with the lock kept, a waiting pick and two submits deadlocked (CI)."""
    project, (user,) = build_project(n_annotators=1, n_items=1, overlap=1)
    item = Item.objects.get(project=project)
    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    with holder.cursor() as cur:  # another transaction holds the item, about to close it
        cur.execute("SELECT id FROM annotation_item WHERE id = %s FOR NO KEY UPDATE", [item.pk])
    picked, released = [], threading.Event()

    def pick():
        try:
            with transaction.atomic():
                picked.append(queue_services.next_assignment(project=project, user=user))
                released.wait(30)  # the transaction stays open while the test looks at its locks
        finally:
            connections.close_all()

    thread = threading.Thread(target=pick)
    thread.start()
    deadline = time.monotonic() + 30
    with connection.cursor() as cur:  # wait for the state "the pick waits for a lock", not for time
        while True:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            if cur.fetchone()[0] or time.monotonic() > deadline:
                break
    with holder.cursor() as cur:
        cur.execute("UPDATE annotation_item SET state = 'complete' WHERE id = %s", [item.pk])
    holder.commit()
    while not picked and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert picked == [None]  # nothing left to lease
        with holder.cursor() as cur:  # and the open pick transaction holds no lock on the item
            cur.execute("SELECT id FROM annotation_item WHERE id = %s FOR UPDATE NOWAIT", [item.pk])
            assert cur.fetchone() == (item.pk,)
        holder.rollback()
    finally:
        released.set()
        thread.join(30)
        holder.close()
