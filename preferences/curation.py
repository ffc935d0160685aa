"""Bulk curation of preference pairs: a lead approves or excludes many pairs in one action.

The same rules as one pair's update (`services.set_pair_status`): leads (and admins) only, the
decision and its author stamped on each pair, one audit event (`pairs.bulk_curated`: the count, the
ids changed and, by their status before, what an undo needs). A bulk action adds three rules:
- only the project's pairs are touched; ids of another project (or of no pair) are ignored and
  counted, never changed;
- a bulk approval never takes a pair whose chosen response most of its judges reported harmful
  (`chosen_harmful_majority`): that needs the lead's explicit approval of that one pair; such pairs
  are left as they are and reported;
- pairs already in the target status are left alone (their decision and author stay).
"Approve all with confidence >= c" (`approve_confident`) takes the *candidate* pairs matching the
pairs page's filters (a status filter other than "candidate" leaves nothing to approve), all of them,
not only one page, and never overturns a lead's earlier exclusion.

Each action is a fixed number of statements whatever the number of pairs: one locking read of the
ids, one UPDATE, one audit INSERT.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from annotation.core import audit
from annotation.core.errors import Forbidden, InvalidInput
from annotation.core.numbers import whole_number
from annotation.core.permissions import can

from . import selectors
from .models import PairStatus, PreferencePair

ACTIONS = {"approve": PairStatus.APPROVED, "exclude": PairStatus.EXCLUDED}
MAX_IDS = 1000  # pairs one request may name (the page shows 50)
VERB = "pairs.bulk_curated"


@dataclass
class BulkResult:
    """What a bulk action did: `changed` ids (now in `status`), ids `ignored` (not a pair of the
    project), ids `skipped_harmful` (an approval left alone), ids `unchanged` (already in `status`)."""

    action: str
    status: str
    changed: list[int] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)
    skipped_harmful: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "action": self.action,
            "status": self.status,
            "changed": len(self.changed),
            "ids": self.changed,
            "ignored": self.ignored,
            "skipped_harmful": self.skipped_harmful,
            "unchanged": self.unchanged,
        }

    def sentence(self) -> str:
        """One line for the page: what changed, and what was left alone and why."""
        verb = "approved" if self.status == PairStatus.APPROVED else "excluded"
        n = len(self.changed)
        text = f"{n} pair{'' if n == 1 else 's'} {verb}."
        if self.unchanged:
            text += f" {len(self.unchanged)} already {verb}."
        if self.skipped_harmful:
            text += (
                f" {len(self.skipped_harmful)} left as they were: most judges reported the chosen response "
                "harmful, approve such a pair on its own."
            )
        if self.ignored:
            text += f" {len(self.ignored)} id(s) are not pairs of this project and were ignored."
        return text


def _status(action: str) -> str:
    if action not in ACTIONS:
        raise InvalidInput(errors={"action": [f"Must be one of: {', '.join(ACTIONS)}."]})
    return ACTIONS[action]


def _ids(ids) -> list[int]:
    """Distinct pair ids, sorted: integers, or strings of digits (a form's values)."""
    if isinstance(ids, str | bytes) or not hasattr(ids, "__iter__"):
        raise InvalidInput(errors={"ids": ["Must be a list of pair ids (integers)."]})
    out = set()
    for value in ids:
        number = whole_number(value, minimum=1)
        if number is None:
            raise InvalidInput(errors={"ids": ["Must be a list of pair ids (integers)."]})
        out.add(number)
    return sorted(out)


def _check(actor, project):
    if not can(actor, "adjudicate", project):
        raise Forbidden("Only leads curate pairs.")


def _apply(
    *, project, actor, status: str, queryset, result: BulkResult, wanted=(), **audit_data
) -> BulkResult:
    """Lock the matching pairs, change those that are not already `status` (nor a harmful-majority
    approval) in one UPDATE, and record one audit event. `queryset` is already the project's; ids
    of `wanted` it does not hold are `ignored`."""
    rows = list(
        queryset.order_by("pk")
        .select_for_update(of=("self",))
        .values_list("pk", "status", "chosen_harmful_majority")
    )
    previous: dict[str, list[int]] = {}  # the changed pairs by their status before: undo needs it
    for pk, old, harmful in rows:
        if old == status:
            result.unchanged.append(pk)
        elif harmful and status == PairStatus.APPROVED:
            result.skipped_harmful.append(pk)
        else:
            result.changed.append(pk)
            previous.setdefault(old, []).append(pk)
    found = {pk for pk, _, _ in rows}
    result.ignored = [pk for pk in wanted if pk not in found]
    if result.changed:
        # The read's own condition, not the id list: a threshold may name tens of thousands of pairs
        # (the rows are locked on PostgreSQL, so the same ones change).
        changing = queryset.exclude(status=status)
        if status == PairStatus.APPROVED:
            changing = changing.exclude(chosen_harmful_majority=True)
        now = timezone.now()
        changing.update(status=status, decided_by=actor, decided_at=now, updated_at=now)
    audit.record(
        actor=actor,
        project=project,
        verb=VERB,
        object_type="preferencepair",
        action=result.action,
        new_status=status,
        count=len(result.changed),
        ids=result.changed,
        previous=previous,
        skipped_harmful=result.skipped_harmful,
        ignored=result.ignored,
        **audit_data,
    )
    return result


@transaction.atomic
def curate_pairs(*, project, actor, action: str, ids) -> BulkResult:
    """Approve (`action="approve"`) or exclude (`"exclude"`) the project's pairs among `ids`."""
    _check(actor, project)
    status = _status(action)
    wanted = _ids(ids)
    if not wanted:
        raise InvalidInput(errors={"ids": ["Select at least one pair."]})
    if len(wanted) > MAX_IDS:
        raise InvalidInput(errors={"ids": [f"At most {MAX_IDS} pairs at a time."]})
    result = BulkResult(action=action, status=status)
    qs = PreferencePair.objects.filter(project=project, pk__in=wanted)
    return _apply(project=project, actor=actor, status=status, queryset=qs, result=result, wanted=wanted)


@transaction.atomic
def approve_confident(*, project, actor, min_confidence: float, filters: dict | None = None) -> BulkResult:
    """Approve every candidate pair of the project with confidence >= `min_confidence` that matches
    the pairs page's `filters` (selectors.candidate_pairs' keyword arguments), on every page."""
    _check(actor, project)
    try:
        threshold = float(min_confidence)
    except (TypeError, ValueError):
        threshold = -1.0
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput(errors={"min_confidence": ["Must be a number from 0 to 1."]})
    filters = dict(filters or {})
    qs = (
        selectors.candidate_pairs(project, **filters)
        .filter(confidence__gte=threshold, status=PairStatus.CANDIDATE)
        .select_related(None)
    )
    result = BulkResult(action="approve", status=PairStatus.APPROVED)
    shown = {k: v for k, v in filters.items() if v not in (None, "", False)}
    return _apply(
        project=project,
        actor=actor,
        status=PairStatus.APPROVED,
        queryset=qs,
        result=result,
        min_confidence=threshold,
        filters=shown,
    )
