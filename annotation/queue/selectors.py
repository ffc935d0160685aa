"""Read paths of the queue: progress of a project and of one annotator; the projects' lease facts."""

from django.db.models import Count, Exists, OuterRef, Sum
from django.utils import timezone

from annotation.models import (
    Assignment,
    AssignmentState,
    Item,
    ItemState,
)


def with_expired_leases(projects, now=None):
    """Annotate `expired_leases`: whether any lease of the project ran out before `now` (default: now)
    and is still held (`services.next_assignment` releases them only then; the same index probe as its
    own, but in the statement that loads the project)."""
    expired = Assignment.objects.filter(
        project=OuterRef("pk"), state=AssignmentState.LEASED, leased_until__lt=now or timezone.now()
    )
    return projects.annotate(expired_leases=Exists(expired))


def project_progress(project, user=None) -> dict:
    """Items by state and, when `user` is given, that user's own "n of m" figures.

    For an annotator, m is what they can still be offered plus what they did: the items they judged
    plus the open items they have not had, capped by the project size.
    """
    # One pass over item_state_idx (it carries submitted_count): items by state, and the submitted
    # assignments as the items' submitted slots (lifecycle's rule: submitted_count == the item's
    # SUBMITTED assignments), not a count over every assignment.
    rows = (
        Item.objects.filter(project=project)
        .values_list("state")
        .annotate(n=Count("*"), slots=Sum("submitted_count"))
    )
    by_state = {state: n for state, n, _ in rows}
    total = sum(by_state.values())
    judged_slots = sum(slots or 0 for _, _, slots in rows)
    out = {
        "items_total": total,
        "items_by_state": {s: by_state.get(s, 0) for s in ItemState.values},
        "judgments_needed": total * project.overlap,
        "judgments_done": judged_slots,
        "percent_done": round(100.0 * judged_slots / (total * project.overlap), 1) if total else 0.0,
    }
    if user is not None:
        out["mine"] = annotator_progress(project, user)
    return out


def annotator_progress(project, user, kind: str | None = None) -> dict:
    """The caller's "n of m" (of one item kind, or all): done, skipped, and done plus the items
    still in the queue that they have neither judged nor skipped."""
    mine = Assignment.objects.filter(project=project, annotator=user)
    items = Item.objects.filter(project=project, state__in=[ItemState.OPEN, ItemState.ASSIGNED])
    if kind is not None:
        mine = mine.filter(item__kind=kind)
        items = items.filter(kind=kind)
    done = mine.filter(state=AssignmentState.SUBMITTED).count()
    skipped = mine.filter(state=AssignmentState.SKIPPED).count()
    # One Exists over the same assignment row: a multi-condition exclude() across the relation
    # would match the user on one assignment and the state on another (someone else's submit).
    finished = Assignment.objects.filter(
        item=OuterRef("pk"),
        annotator=user,
        state__in=[AssignmentState.SUBMITTED, AssignmentState.SKIPPED],
    )
    available = items.filter(~Exists(finished)).count()
    return {"done": done, "skipped": skipped, "total": done + available}
