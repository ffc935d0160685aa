"""An annotator's way back, and a lead's look without taking.

- undo_skip: while the skip is within the lease time, the skipped assignment is leased to the caller
  again if the item still has a free slot (lifecycle.reclaim_slot); otherwise a clear Conflict.
- reopen: the item the caller just submitted, with its current judgment, while the lease time lasts;
  the next submit supersedes (services.submit_judgment), as a resubmit always has.
- preview: the item next_assignment would pick for the caller, read without a lock, a lease or a slot.
"""

from django.db import transaction
from django.utils import timezone

from annotation.core import audit
from annotation.core.errors import Conflict, NotFound
from annotation.core.permissions import require
from annotation.models import Assignment, AssignmentState, Judgment, Project
from annotation.queue import lifecycle, services


def _own(assignment, user, *, lock: bool) -> Assignment:
    qs = Assignment.objects.select_related("project", "item")
    if lock:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(pk=assignment.pk, annotator_id=user.pk)
    except (Assignment.DoesNotExist, ValueError, TypeError):  # other people's do not exist for the caller
        raise NotFound("No such assignment.")


@transaction.atomic
def undo_skip(*, assignment: Assignment, user, now=None) -> Assignment:
    """The caller's skipped assignment is theirs again, leased for a fresh lease time."""
    now = now or timezone.now()
    locked = _own(assignment, user, lock=True)
    project = locked.project
    require(user, "annotate", project)
    if locked.state == AssignmentState.LEASED:  # already undone (a retry, a double click)
        return locked
    if locked.state != AssignmentState.SKIPPED:
        raise Conflict("This item was not skipped.")
    if locked.leased_until < now:
        raise Conflict("Too late to undo this skip: its lease time is over.")
    if not lifecycle.reclaim_slot(locked.item, project):
        raise Conflict("This skip cannot be undone: someone else has taken the item's free place.")
    locked.state = AssignmentState.LEASED
    locked.skip_reason = ""
    locked.reason = "undo"
    locked.leased_until = now + services.lease_delta(project)
    locked.save(update_fields=["state", "skip_reason", "reason", "leased_until"])
    audit.record(actor=user, project=project, verb="assignment.unskipped", obj=locked, item=locked.item_id)
    return locked


def reopen(*, assignment: Assignment, user, now=None) -> tuple[Assignment, Judgment]:
    """The caller's submitted assignment and its current judgment, to change and submit again."""
    now = now or timezone.now()
    mine = _own(assignment, user, lock=False)
    require(user, "annotate", mine.project)
    judgment = None
    if mine.state == AssignmentState.SUBMITTED:
        judgment = mine.judgments.filter(is_current=True).first()
    if judgment is None:
        raise Conflict("There is no submitted answer of yours on this item to go back to.")
    if mine.leased_until < now:
        raise Conflict("Too late to go back: the lease time on this item is over.")
    return mine, judgment


def preview(*, project: Project, user, kind: str) -> Assignment | None:
    """An unsaved assignment of the item the caller's next lease would most likely get (the queue's
    first candidate; gold items are never previewed); None when the queue has nothing for them."""
    item = services.queue_candidates(project=project, user=user, kind=kind).first()
    if item is None:
        return None
    order = list(item.responses.filter(shown=True).order_by("position", "id").values_list("id", flat=True))
    return Assignment(
        pk=0,  # never saved: the page shows it read-only and posts nothing to it
        item=item,
        project=project,
        annotator=user,
        state=AssignmentState.LEASED,
        leased_until=timezone.now(),
        display_order=order,
        reason="preview",
    )
