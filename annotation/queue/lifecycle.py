"""The item lifecycle: the only writer of `Item.state` and of the slot counters.

Every other module changes an item's state or counters through one of the named steps here (a test,
tests/annotation/test_lifecycle.py, fails naming file:line when another module writes them):

  create_items       new items, OPEN with no slots held (import, comparisons sent to SFT review);
                     the file import's one INSERT ... SELECT (annotation.importing.bulk) writes the
                     same starting values, `NEW_ITEM`;
  take_slot          a lease holds one more slot; a full item becomes ASSIGNED;
  retake_slot        a late submit takes its expired slot back if nobody filled it;
  reclaim_slot       an undone skip leases its slot again if nobody filled it (as take_slot);
  free_slots         leases that ended (expired, skipped) give their slots back; ASSIGNED -> OPEN;
  record_submission  a slot's judgment is in; the item moves to COMPLETE / ASSIGNED / OPEN;
  add_slots          more annotators (routing, a lead, a rubric revision): back to OPEN;
  resolve            routing's or a lead's decision: APPROVED (with the resolution), DISPUTED, DISCARDED;
  touch              the item's judgments changed without a slot moving (a superseding judgment, an
                     imported one).

The steps that change what an item's judgments or decision say (record_submission, add_slots, resolve,
touch) also set `Item.updated_at`: background recomputes redo only the items changed since their last
run (annotation.core.changes); record_submission and touch bump the project's judgment version
(annotation.core.versions) once the transaction commits.

The rule they keep, for every item and its assignments (`check_item` tests it):

  active_count    == its assignments that are LEASED or SUBMITTED (a lease that ran out holds its
                     slot until `release_expired_leases` marks it EXPIRED);
  submitted_count == its assignments that are SUBMITTED;
  and, for items that are not gold (gold items have no slot limit and never move with the queue),
  with capacity = project.overlap + extra_overlap:
      submitted_count <= active_count <= capacity, and while the item is in a queue state its state
      follows the counters: COMPLETE when submitted_count >= capacity, else ASSIGNED when
      active_count >= capacity, else OPEN. The other states (DISPUTED, APPROVED, DISCARDED) are
      decisions and stay until `add_slots` re-opens the item.

take_slot and record_submission also come as SQL (`take_slot_sql`, `record_submission_sql`, compiled
from the same expressions) for the queue's one-statement hot path on PostgreSQL (`queue.hot_sql`).

Locking: the steps run inside the caller's transaction and write one row with one UPDATE (F()
expressions, so concurrent steps on one item add up). The callers hold the locks, in this order:
the user row (next), the item (SKIP LOCKED pick) or the assignment, then the item's row through the
UPDATE; several items are always updated in ascending id order.
"""

from django.db.models import Case, F, Q, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone

from annotation.core import versions
from annotation.core.statements import once, update_sql
from annotation.models import Assignment, AssignmentState, Item, ItemState

QUEUE_STATES = (ItemState.OPEN, ItemState.ASSIGNED, ItemState.COMPLETE)
_OPEN_STATES = (ItemState.OPEN, ItemState.ASSIGNED)
_HOLDING = (AssignmentState.LEASED, AssignmentState.SUBMITTED)


# What a new item starts with: OPEN, no slots held, not gold (create_items and the file import's SQL).
NEW_ITEM = {
    "state": ItemState.OPEN,
    "active_count": 0,
    "submitted_count": 0,
    "extra_overlap": 0,
    "is_gold": False,
}


# --- the steps --------------------------------------------------------------------------------


def create_items(project, rows: list[dict], *, batch_size: int = 1000) -> list[Item]:
    """Insert items of `project` from field dicts (kind, messages, content_hash, ...): OPEN, no slots."""
    return Item.objects.bulk_create(
        [Item(project=project, **fields) for fields in rows], batch_size=batch_size
    )


def get_or_create_item(project, *, content_hash: str, defaults: dict) -> tuple[Item, bool]:
    """The project's item with this content hash, created OPEN with no slots when it is new."""
    return Item.objects.get_or_create(project=project, content_hash=content_hash, defaults=defaults)


def _take_slot_values(overlap: int) -> dict:
    return dict(
        active_count=F("active_count") + 1,
        state=Case(
            When(is_gold=True, then=F("state")),
            When(
                active_count__gte=F("extra_overlap") + overlap - 1,
                then=Value(ItemState.ASSIGNED),
            ),
            default=F("state"),
        ),
    )


def take_slot(item: Item, project) -> None:
    """A new lease on `item` (loaded by the queue's pick) holds one slot; the item is updated too."""
    Item.objects.filter(pk=item.pk).update(**_take_slot_values(project.overlap))
    item.active_count += 1
    if not item.is_gold and item.active_count >= project.overlap + item.extra_overlap:
        item.state = ItemState.ASSIGNED


def retake_slot(item: Item, project) -> bool:
    """A submit on an expired lease takes a slot again if the item is still open and has one free."""
    return bool(
        Item.objects.filter(
            Q(is_gold=True) | Q(active_count__lt=F("extra_overlap") + project.overlap),
            pk=item.pk,
            state__in=_OPEN_STATES,
        ).update(active_count=F("active_count") + 1)
    )


def reclaim_slot(item: Item, project) -> bool:
    """An undone skip holds a slot again if the item is still open and has one free; False if not.
    Like take_slot, a full item becomes ASSIGNED."""
    return bool(
        Item.objects.filter(
            Q(is_gold=True) | Q(active_count__lt=F("extra_overlap") + project.overlap),
            pk=item.pk,
            state__in=_OPEN_STATES,
        ).update(**_take_slot_values(project.overlap))
    )


def free_slots(item_id: int, count: int = 1) -> None:
    """Give back `count` held slots of an item; a full (ASSIGNED) item becomes OPEN again."""
    Item.objects.filter(pk=item_id).update(
        active_count=F("active_count") - count,
        state=Case(When(state=ItemState.ASSIGNED, then=Value(ItemState.OPEN)), default=F("state")),
    )


def take_slot_sql(project, item_id: RawSQL) -> tuple[str, tuple]:
    """take_slot as SQL for a larger statement (PostgreSQL: the queue's pick-and-lease); `item_id`
    is an expression without parameters naming an earlier CTE. The caller adds RETURNING. Compiled
    once per process and expression (`statements.once`)."""

    def build(overlap):
        return update_sql(Item.objects.filter(pk=item_id), **_take_slot_values(overlap))

    return once(f"take_slot:{item_id.sql}", build, overlap=project.overlap)


def record_submission(item: Item, project) -> None:
    """One more slot of `item` is judged; only queue states move (a lead's decision stays)."""
    Item.objects.filter(pk=item.pk).update(**_record_submission_values(project.overlap, timezone.now()))
    versions.bump(project.pk)


def record_submission_sql(item: Item, project) -> tuple[str, tuple]:
    """record_submission as SQL for a larger statement (PostgreSQL: submit's one write statement);
    the caller adds RETURNING (the new state tells whether routing has anything to do) and calls
    `versions.bump(project.pk)` as record_submission does. Compiled once per process (`statements.once`)."""

    def build(item_id, overlap, now):
        return update_sql(Item.objects.filter(pk=item_id), **_record_submission_values(overlap, now))

    return once("record_submission", build, item_id=item.pk, overlap=project.overlap, now=timezone.now())


def _record_submission_values(overlap: int, now) -> dict:
    return dict(
        updated_at=now,
        submitted_count=F("submitted_count") + 1,
        # SET sees the row before this update: submitted_count is the old count here.
        state=Case(
            When(Q(is_gold=True) | ~Q(state__in=_OPEN_STATES), then=F("state")),
            When(
                submitted_count__gte=F("extra_overlap") + overlap - 1,
                then=Value(ItemState.COMPLETE),
            ),
            When(active_count__gte=F("extra_overlap") + overlap, then=Value(ItemState.ASSIGNED)),
            default=Value(ItemState.OPEN),
        ),
    )


def touch(item: Item | int, project_id: int) -> None:
    """The item's judgments changed without a slot moving (a judgment superseded, one imported)."""
    item_id = item if isinstance(item, int) else item.pk
    Item.objects.filter(pk=item_id).update(updated_at=timezone.now())
    versions.bump(project_id)


def add_slots(item: Item | int, n: int) -> None:
    """`n` more annotator slots; the item goes back to the queue (OPEN) and loses any resolution.

    Given an Item, the instance is updated too; given an id, only the row."""
    item_id = item if isinstance(item, int) else item.pk
    Item.objects.filter(pk=item_id).update(
        extra_overlap=F("extra_overlap") + n, state=ItemState.OPEN, resolution=None, updated_at=timezone.now()
    )
    if isinstance(item, Item):
        item.extra_overlap += n
        item.state, item.resolution = ItemState.OPEN, None


def resolve(item: Item, state: str, resolution: dict | None = None) -> None:
    """A decision on the item: APPROVED with its final answer, DISPUTED or DISCARDED (no answer)."""
    if state not in (ItemState.APPROVED, ItemState.DISPUTED, ItemState.DISCARDED):
        raise ValueError(f"Not a decision state: {state!r}.")
    if state != ItemState.APPROVED:
        resolution = None
    Item.objects.filter(pk=item.pk).update(state=state, resolution=resolution, updated_at=timezone.now())
    item.state, item.resolution = state, resolution


# --- the rule, checked ------------------------------------------------------------------------


def queue_state(*, active: int, submitted: int, capacity: int) -> str:
    """The state a non-gold item in the queue has with these counters."""
    if submitted >= capacity:
        return ItemState.COMPLETE
    if active >= capacity:
        return ItemState.ASSIGNED
    return ItemState.OPEN


def expected_counters(item: Item) -> dict:
    """active_count and submitted_count as the item's assignments say they must be."""
    states = list(Assignment.objects.filter(item_id=item.pk).values_list("state", flat=True))
    return {
        "active_count": sum(s in _HOLDING for s in states),
        "submitted_count": sum(s == AssignmentState.SUBMITTED for s in states),
    }


def check_item(item: Item, project) -> list[str]:
    """The ways the stored item breaks the rule above (empty when it keeps it); reads the row afresh."""
    item = Item.objects.get(pk=item.pk)
    problems = []
    expected = expected_counters(item)
    for field, value in expected.items():
        if getattr(item, field) != value:
            problems.append(f"item {item.pk}: {field} is {getattr(item, field)}, its assignments say {value}")
    if item.is_gold:
        return problems
    capacity = project.overlap + item.extra_overlap
    if not item.submitted_count <= item.active_count <= capacity:
        problems.append(
            f"item {item.pk}: needs submitted {item.submitted_count} <= active {item.active_count}"
            f" <= capacity {capacity}"
        )
    if item.state in QUEUE_STATES:
        want = queue_state(active=item.active_count, submitted=item.submitted_count, capacity=capacity)
        if item.state != want:
            problems.append(f"item {item.pk}: state {item.state}, its counters say {want}")
    return problems
