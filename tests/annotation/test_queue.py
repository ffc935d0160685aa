"""The assignment queue: overlap, never twice, priority, resume, lease expiry, skip, resubmit.

Fast (SQLite). Time moves through the services' `now=` parameter. The same rules under real
concurrency on PostgreSQL are in test_queue_concurrency.py.
"""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from annotation.models import Assignment, AssignmentState, Item, ItemState, Judgment
from annotation.projects import services as project_services
from annotation.queue import services as queue_services
from tests.conftest import GOOD_SCORES, make_items

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The users fixture hashes five passwords; PBKDF2 costs seconds per test on a small machine.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


LATER = timedelta(minutes=31)  # past the default 30-minute lease


def add_annotators(project, admin, n, django_user_model, prefix="ann"):
    out = []
    for i in range(n):
        user = django_user_model.objects.create_user(f"{prefix}{i}")
        project_services.set_membership(project=project, actor=admin, user=user, role="annotator")
        out.append(user)
    return out


def submit(assignment, user, decision="accept", **kw):
    return queue_services.submit_judgment(
        assignment=assignment, user=user, decision=decision, scores=kw.pop("scores", GOOD_SCORES), **kw
    )


def assert_bookkeeping(project):
    """Every item's counters equal the real counts, and its state follows from them."""
    for item in Item.objects.filter(project=project):
        rows = Assignment.objects.filter(item=item)
        leased = rows.filter(state=AssignmentState.LEASED).count()
        submitted = rows.filter(state=AssignmentState.SUBMITTED).count()
        assert item.submitted_count == submitted, item
        assert item.active_count == leased + submitted, item
        assert Judgment.objects.filter(item=item, is_current=True).count() == submitted, item
        if item.state in (ItemState.OPEN, ItemState.ASSIGNED, ItemState.COMPLETE):
            if submitted >= project.overlap:
                expected = ItemState.COMPLETE
            elif leased + submitted >= project.overlap:
                expected = ItemState.ASSIGNED
            else:
                expected = ItemState.OPEN
            assert item.state == expected, (item, leased, submitted)


def set_overlap(project, users, overlap):
    return project_services.update_project(project=project, actor=users["admin"], overlap=overlap)


# --- overlap, never twice, order ------------------------------------------------------------


def test_overlap_caps_distinct_annotators(project, items, users, django_user_model):
    third = add_annotators(project, users["admin"], 1, django_user_model)[0]
    a1 = queue_services.next_assignment(project=project, user=users["annotator"])
    a2 = queue_services.next_assignment(project=project, user=users["annotator2"])
    a3 = queue_services.next_assignment(project=project, user=third)
    assert a1.item_id == a2.item_id == items[0].pk
    assert a3.item_id == items[1].pk  # item 0 has its two annotators
    items[0].refresh_from_db()
    assert items[0].state == ItemState.ASSIGNED and items[0].active_count == 2
    assert_bookkeeping(project)


def test_an_annotator_never_gets_an_item_twice(project, users):
    make_items(project, users["lead"], 3)
    seen = []
    while (a := queue_services.next_assignment(project=project, user=users["annotator"])) is not None:
        seen.append(a.item_id)
        submit(a, users["annotator"])
    assert sorted(seen) == sorted(project.items.values_list("id", flat=True))
    # The items still need a second annotator, but never this one again.
    assert project.items.filter(state=ItemState.OPEN).count() == 3
    assert queue_services.next_assignment(project=project, user=users["annotator"]) is None
    assert queue_services.next_assignment(project=project, user=users["annotator2"]).item_id == seen[0]
    assert_bookkeeping(project)


def test_priority_first_then_oldest(project, users):
    set_overlap(project, users, 1)
    make_items(project, users["lead"], 3, start=0, priority=0)
    make_items(project, users["lead"], 2, start=10, priority=5)
    low = list(project.items.filter(priority=0).order_by("id"))
    high = list(project.items.filter(priority=5).order_by("id"))
    # A later feature pushes the newest low-priority item to the very front.
    project_services.set_item_priority(item=low[2], actor=users["lead"], priority=9)
    got = []
    while (a := queue_services.next_assignment(project=project, user=users["annotator"])) is not None:
        got.append(a.item_id)
        submit(a, users["annotator"])
    assert got == [low[2].pk, high[0].pk, high[1].pk, low[0].pk, low[1].pk]


def test_kinds_have_separate_queues_and_bad_kind_is_refused(project, items, users):
    assert queue_services.next_assignment(project=project, user=users["annotator"], kind="comparison") is None
    with pytest.raises(InvalidInput) as exc:
        queue_services.next_assignment(project=project, user=users["annotator"], kind="essay")
    assert "kind" in exc.value.errors


def test_non_members_get_nothing(project, items, users):
    with pytest.raises(Forbidden):
        queue_services.next_assignment(project=project, user=users["outsider"])
    assert not Assignment.objects.exists()


def test_nobody_submits_or_skips_someone_elses_assignment(project, items, users):
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    # 404, not 403: other people's assignments do not exist for the caller (no id probing)
    with pytest.raises(NotFound):
        submit(a, users["annotator2"])
    with pytest.raises(NotFound):
        queue_services.skip_assignment(assignment=a, user=users["annotator2"])
    assert not Judgment.objects.exists()


# --- resume and leases ----------------------------------------------------------------------


def test_resume_returns_the_same_lease_and_renews_it(project, items, users):
    now = timezone.now()
    first = queue_services.next_assignment(project=project, user=users["annotator"], now=now)
    again = queue_services.next_assignment(
        project=project, user=users["annotator"], now=now + timedelta(minutes=20)
    )
    assert again.pk == first.pk and again.reason == "resume"
    assert again.leased_until == now + timedelta(minutes=50)
    assert Assignment.objects.count() == 1
    items[0].refresh_from_db()
    assert items[0].active_count == 1  # resuming does not take a second slot
    # Renewed: 31 minutes after the first call the lease still holds.
    assert queue_services.release_expired_leases(project=project, now=now + LATER) == 0


def test_expired_lease_returns_the_item_to_the_queue(project, items, users):
    set_overlap(project, users, 1)
    now = timezone.now()
    mine = queue_services.next_assignment(project=project, user=users["annotator"], now=now)
    assert (
        queue_services.next_assignment(project=project, user=users["annotator2"], now=now).item_id
        == items[1].pk
    )
    # annotator2 is still busy with item 1 at +31 min; submit it so they can take the next one.
    submit(Assignment.objects.get(annotator=users["annotator2"]), users["annotator2"])
    taken = queue_services.next_assignment(project=project, user=users["annotator2"], now=now + LATER)
    assert taken.item_id == mine.item_id == items[0].pk
    mine.refresh_from_db()
    assert mine.state == AssignmentState.EXPIRED
    assert_bookkeeping(project)


def test_release_expired_leases_counts_and_is_idempotent(project, items, users):
    now = timezone.now()
    queue_services.next_assignment(project=project, user=users["annotator"], now=now)
    queue_services.next_assignment(project=project, user=users["annotator2"], now=now)
    assert queue_services.release_expired_leases(now=now + timedelta(minutes=29)) == 0
    assert queue_services.release_expired_leases(now=now + LATER) == 2
    assert queue_services.release_expired_leases(now=now + LATER) == 0
    items[0].refresh_from_db()
    assert items[0].state == ItemState.OPEN and items[0].active_count == 0
    assert_bookkeeping(project)


def test_project_lease_minutes_are_honoured(project, items, users):
    project_services.update_project(project=project, actor=users["admin"], lease_minutes=5)
    now = timezone.now()
    a = queue_services.next_assignment(project=project, user=users["annotator"], now=now)
    assert a.leased_until == now + timedelta(minutes=5)
    assert queue_services.release_expired_leases(now=now + timedelta(minutes=6)) == 1


def test_own_expired_item_can_come_back_to_the_same_annotator(project, items, users):
    set_overlap(project, users, 1)
    now = timezone.now()
    first = queue_services.next_assignment(project=project, user=users["annotator"], now=now)
    again = queue_services.next_assignment(project=project, user=users["annotator"], now=now + LATER)
    assert again.pk == first.pk and again.item_id == items[0].pk
    assert again.state == AssignmentState.LEASED and again.reason == "queue"
    assert again.leased_until == now + LATER + timedelta(minutes=30)
    submit(again, users["annotator"])
    items[0].refresh_from_db()
    assert items[0].state == ItemState.COMPLETE
    assert_bookkeeping(project)


def test_late_submit_counts_when_the_slot_is_still_free(project, items, users):
    set_overlap(project, users, 1)
    now = timezone.now()
    a = queue_services.next_assignment(project=project, user=users["annotator"], now=now)
    assert queue_services.release_expired_leases(now=now + LATER) == 1
    judgment = submit(a, users["annotator"], now=now + LATER)
    a.refresh_from_db()
    items[0].refresh_from_db()
    assert judgment.is_current and a.state == AssignmentState.SUBMITTED
    assert items[0].state == ItemState.COMPLETE
    assert (items[0].active_count, items[0].submitted_count) == (1, 1)
    assert_bookkeeping(project)


def test_late_submit_is_refused_when_someone_else_took_the_slot(project, items, users):
    set_overlap(project, users, 1)
    now = timezone.now()
    a = queue_services.next_assignment(project=project, user=users["annotator"], now=now)
    other = queue_services.next_assignment(project=project, user=users["annotator2"], now=now + LATER)
    assert other.item_id == a.item_id
    with pytest.raises(Conflict) as exc:
        submit(a, users["annotator"], now=now + LATER)
    assert exc.value.status == 409
    assert not Judgment.objects.filter(annotator=users["annotator"]).exists()
    submit(other, users["annotator2"])
    items[0].refresh_from_db()
    assert items[0].state == ItemState.COMPLETE and items[0].submitted_count == 1
    assert_bookkeeping(project)


# --- skip -----------------------------------------------------------------------------------


def test_skip_frees_the_slot_and_the_skipper_never_gets_it_again(project, items, users):
    set_overlap(project, users, 1)
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    queue_services.skip_assignment(assignment=a, user=users["annotator"], reason="not my language")
    items[0].refresh_from_db()
    assert items[0].state == ItemState.OPEN and items[0].active_count == 0
    got = []
    while (b := queue_services.next_assignment(project=project, user=users["annotator"])) is not None:
        got.append(b.item_id)
        submit(b, users["annotator"])
    assert items[0].pk not in got and len(got) == len(items) - 1
    assert queue_services.next_assignment(project=project, user=users["annotator2"]).item_id == items[0].pk
    assert_bookkeeping(project)


def test_skip_is_idempotent_and_blocks_a_later_submit(project, items, users):
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    queue_services.skip_assignment(assignment=a, user=users["annotator"])
    queue_services.skip_assignment(assignment=a, user=users["annotator"])
    items[0].refresh_from_db()
    assert items[0].active_count == 0  # freed once, not twice
    with pytest.raises(Conflict):
        submit(a, users["annotator"])


def test_skip_of_an_expired_lease_frees_nothing_twice(project, items, users):
    now = timezone.now()
    a = queue_services.next_assignment(project=project, user=users["annotator"], now=now)
    queue_services.next_assignment(project=project, user=users["annotator2"], now=now)
    queue_services.release_expired_leases(now=now + LATER)
    queue_services.skip_assignment(assignment=a, user=users["annotator"])
    a.refresh_from_db()
    assert a.state == AssignmentState.SKIPPED
    items[0].refresh_from_db()
    assert items[0].active_count == 0 and items[0].state == ItemState.OPEN
    # Skipped counts as "had": the expired-lease comeback does not apply to a skip.
    assert queue_services.next_assignment(
        project=project, user=users["annotator"], now=now + LATER
    ).item_id != (items[0].pk)
    assert_bookkeeping(project)


def test_a_submitted_item_cannot_be_skipped(project, items, users):
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    submit(a, users["annotator"])
    with pytest.raises(Conflict):
        queue_services.skip_assignment(assignment=a, user=users["annotator"])


# --- submit ---------------------------------------------------------------------------------


def test_item_completes_after_overlap_submits(project, items, users):
    a1 = queue_services.next_assignment(project=project, user=users["annotator"])
    a2 = queue_services.next_assignment(project=project, user=users["annotator2"])
    assert a1.item_id == a2.item_id == items[0].pk
    submit(a1, users["annotator"], decision="accept")
    items[0].refresh_from_db()
    assert items[0].state == ItemState.ASSIGNED and items[0].submitted_count == 1
    submit(a2, users["annotator2"], decision="reject")
    items[0].refresh_from_db()
    assert items[0].state == ItemState.COMPLETE and items[0].submitted_count == 2
    assert_bookkeeping(project)


def test_resubmit_supersedes_without_counting_twice(project, items, users):
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    first = submit(a, users["annotator"], decision="accept")
    second = submit(a, users["annotator"], decision="reject", comment="changed my mind")
    assert second.pk != first.pk and second.supersedes_id == first.pk
    first.refresh_from_db()
    assert not first.is_current and second.is_current
    assert Judgment.objects.filter(assignment=a).count() == 2  # append-only: the first is kept
    assert Judgment.objects.filter(assignment=a, is_current=True).get().decision == "reject"
    items[0].refresh_from_db()
    assert items[0].submitted_count == 1 and items[0].active_count == 1
    assert_bookkeeping(project)


def test_identical_resubmit_is_idempotent(project, items, users):
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    first = submit(a, users["annotator"], decision="accept", comment="fine")
    again = submit(a, users["annotator"], decision="accept", comment="fine")
    assert again.pk == first.pk
    assert Judgment.objects.filter(assignment=a).count() == 1
    items[0].refresh_from_db()
    assert items[0].submitted_count == 1


def test_a_leads_decision_on_the_item_survives_a_submit(project, items, users):
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    Item.objects.filter(pk=a.item_id).update(state=ItemState.DISCARDED)
    submit(a, users["annotator"])
    items[0].refresh_from_db()
    assert items[0].state == ItemState.DISCARDED and items[0].submitted_count == 1


def test_late_submit_on_a_discarded_item_is_refused(project, items, users):
    now = timezone.now()
    a = queue_services.next_assignment(project=project, user=users["annotator"], now=now)
    queue_services.release_expired_leases(now=now + LATER)
    Item.objects.filter(pk=a.item_id).update(state=ItemState.DISCARDED)
    with pytest.raises(Conflict):
        submit(a, users["annotator"], now=now + LATER)


# --- many random steps keep the books straight ----------------------------------------------


@pytest.mark.parametrize(
    "seed", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)]
)
def test_random_walk_keeps_counters_and_rules(project, users, django_user_model, seed):
    """Random next / submit / resubmit / skip / time jumps by 5 annotators; check every invariant."""
    rng = random.Random(seed)
    set_overlap(project, users, 2)
    make_items(project, users["lead"], 12)
    people = add_annotators(project, users["admin"], 5, django_user_model, prefix=f"w{seed}_")
    now = timezone.now()
    for _ in range(150):
        user = rng.choice(people)
        step = rng.random()
        if step < 0.08:
            now += LATER
            continue
        a = queue_services.next_assignment(project=project, user=user, now=now)
        if a is None:
            continue
        if step < 0.2:
            queue_services.skip_assignment(assignment=a, user=user)
        elif step < 0.3:
            pass  # walk away: the lease runs out later
        else:
            try:
                submit(a, user, now=now, decision=rng.choice(["accept", "reject"]))
            except Conflict:
                pass
            if step > 0.9:
                submit(a, user, now=now, decision="reject", comment="second thoughts")
    queue_services.release_expired_leases(project=project, now=now + LATER)
    assert_bookkeeping(project)
    for item in Item.objects.filter(project=project):
        submitted = Assignment.objects.filter(item=item, state=AssignmentState.SUBMITTED)
        assert submitted.count() <= project.overlap
    # Nobody holds two rows for one item (the constraint) and nobody judged an item twice.
    pairs = list(Judgment.objects.filter(is_current=True).values_list("item_id", "annotator_id"))
    assert len(pairs) == len(set(pairs))
