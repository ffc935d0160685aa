"""Write paths of quality control: gold items, more annotators, a lead's adjudication, re-queueing
after a rubric revision. One function per use case, keyword-only, one transaction, audited.

Leads only (permission "adjudicate"). An adjudication is final for datasets: the item becomes
APPROVED with `Item.resolution` = the adjudication's `final`, or DISCARDED; "send back" adds slots
(extra_overlap) and re-opens the item instead.
"""

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.utils import timezone

from annotation.core import audit
from annotation.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from annotation.core.permissions import can
from annotation.kinds import registry
from annotation.models import (
    Adjudication,
    AdjudicationCategory,
    AdjudicationDecision,
    Item,
    ItemState,
    Judgment,
)
from annotation.queue import lifecycle

MAX_MORE = 10


def _require_lead(actor, project):
    if not can(actor, "adjudicate", project):
        raise Forbidden("Only leads and admins may do this.")


def _locked_item(item) -> Item:
    try:
        return Item.objects.select_for_update(of=("self",)).select_related("project").get(pk=item.pk)
    except Item.DoesNotExist:
        raise NotFound("No such item.")


# --- answers --------------------------------------------------------------------------------


def validate_answer(item, answer, *, require_text: bool = False) -> dict:
    """A lead's answer for `item` (gold, override, edit_gold with `require_text`), checked and
    normalised by the item's kind."""
    if not isinstance(answer, dict):
        raise InvalidInput(errors={"answer": ["Must be an object."]})
    return registry.get(item.kind).validate_final(item, answer, require_text=require_text)


def answer_from_judgment(item, judgment) -> dict:
    """The final answer when a lead picks `judgment`, as the item's kind reads it."""
    return registry.get(item.kind).final_from_judgment(item, judgment)


# --- gold -----------------------------------------------------------------------------------


@transaction.atomic
def set_gold(*, item: Item, actor, answer: dict | None, is_gold: bool = True) -> Item:
    """Mark an item gold with its known answer (or unmark it); the answer is the item kind's final
    answer (SFT: {"decision", "text"?, "scores"?}; see annotation.kinds)."""
    locked = _locked_item(item)
    _require_lead(actor, locked.project)
    gold = validate_answer(locked, answer) if is_gold else None
    Item.objects.filter(pk=locked.pk).update(is_gold=is_gold, gold_answer=gold, updated_at=timezone.now())
    locked.is_gold, locked.gold_answer = is_gold, gold
    audit.record(
        actor=actor,
        project=locked.project,
        verb="item.gold_set" if is_gold else "item.gold_unset",
        obj=locked,
        answer=gold,
    )
    return locked


# --- more annotators ------------------------------------------------------------------------


def _add_slots(locked: Item, n: int):
    if not 1 <= n <= MAX_MORE:
        raise InvalidInput(errors={"n": [f"Must be 1..{MAX_MORE}."]})
    if locked.is_gold:
        raise InvalidInput(errors={"item": ["Gold items are not limited by overlap."]})
    lifecycle.add_slots(locked, n)


@transaction.atomic
def request_more_annotators(*, item: Item, actor, n: int = 1, reason: str = "") -> Item:
    """Give the item `n` more annotator slots and put it back in the queue."""
    locked = _locked_item(item)
    _require_lead(actor, locked.project)
    if locked.state == ItemState.DISCARDED:
        raise Conflict("The item is discarded.")
    _add_slots(locked, int(n))
    audit.record(
        actor=actor,
        project=locked.project,
        verb="item.more_annotators",
        obj=locked,
        n=int(n),
        extra_overlap=locked.extra_overlap,
        reason=(reason or "")[:1000],
    )
    return locked


# --- adjudication ---------------------------------------------------------------------------


@transaction.atomic
def adjudicate(
    *,
    item: Item,
    lead,
    decision: str,
    reason: str,
    category: str,
    judgment_id=None,
    final: dict | None = None,
    more: int = 1,
) -> Adjudication:
    """A lead's final word on an item: pick one current judgment, override with their own answer,
    write the gold answer (edit_gold), send back for `more` annotators, or discard."""
    locked = _locked_item(item)
    project = locked.project
    _require_lead(lead, project)
    errors = {}
    if decision not in AdjudicationDecision.values:
        errors["decision"] = [f"Must be one of: {', '.join(AdjudicationDecision.values)}."]
    if category not in AdjudicationCategory.values:
        errors["category"] = [f"Must be one of: {', '.join(AdjudicationCategory.values)}."]
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = ["Say why."]
    if errors:
        raise InvalidInput(errors=errors)
    if locked.is_gold:
        raise InvalidInput(errors={"item": ["Gold items are not adjudicated; edit their gold answer."]})
    chosen, answer = None, None
    if decision == AdjudicationDecision.PICK:
        try:
            chosen = Judgment.objects.get(pk=int(judgment_id), item=locked, is_current=True)
        except (Judgment.DoesNotExist, TypeError, ValueError):
            raise InvalidInput(errors={"judgment": ["Pick one of the item's current judgments."]})
        answer = answer_from_judgment(locked, chosen)
    elif decision == AdjudicationDecision.OVERRIDE:
        answer = validate_answer(locked, final or {})
    elif decision == AdjudicationDecision.EDIT_GOLD:
        answer = validate_answer(locked, final or {}, require_text=True)
    adjudication = Adjudication.objects.create(
        item=locked,
        lead=lead,
        decision=decision,
        chosen_judgment=chosen,
        final=answer,
        reason=reason,
        category=category,
    )
    old_state = locked.state
    if decision == AdjudicationDecision.MORE:
        _add_slots(locked, int(more))
    elif decision == AdjudicationDecision.DISCARD:
        lifecycle.resolve(locked, ItemState.DISCARDED)
    else:
        resolution = {"source": "adjudication", "adjudication": adjudication.pk, **answer}
        lifecycle.resolve(locked, ItemState.APPROVED, resolution)
    audit.record(
        actor=lead,
        project=project,
        verb="item.adjudicated",
        obj=adjudication,
        item=locked.pk,
        decision=decision,
        category=category,
        judgment=chosen.pk if chosen else None,
        old_state=old_state,
        new_state=locked.state,
        reason=reason[:1000],
    )
    adjudication.item = locked
    return adjudication


# --- rubric revisions -----------------------------------------------------------------------


@transaction.atomic
def requeue_outdated(*, project, actor) -> dict:
    """Re-queue the items whose current judgments were made under an older rubric version.

    Choice: the old judgments are kept (append-only history) and each such item gets one extra slot
    per outdated judgment, so it collects as many fresh judgments as it had old ones from annotators
    who have not seen it; routing then decides on the newest version's judgments only. Gold,
    discarded and lead-decided items are left alone; an item a lead only sent back for more
    annotators is re-queued like the others. Returns {"items", "slots", "version"}.
    """
    _require_lead(actor, project)
    version = project.current_rubric_version()
    if version is None:
        raise InvalidInput(errors={"rubric": ["The project has no rubric yet."]})
    outdated = Judgment.objects.filter(
        item=OuterRef("pk"), is_current=True, rubric_version__rubric=version.rubric
    ).filter(Q(rubric_version__number__lt=version.number))
    # A lead's final word (pick, override, edit gold, discard) stands; an item a lead only sent back
    # for more annotators is still the annotators' to decide, so it is re-queued like the others.
    last_decision = Adjudication.objects.filter(item=OuterRef("pk")).order_by("-id").values("decision")[:1]
    items = (
        Item.objects.filter(project=project, is_gold=False)
        .exclude(state=ItemState.DISCARDED)
        .filter(Exists(outdated))
        .annotate(last_adjudication=Subquery(last_decision))
        .filter(Q(last_adjudication__isnull=True) | Q(last_adjudication=AdjudicationDecision.MORE))
        .order_by("id")
    )
    counts = dict(
        Judgment.objects.filter(
            item__in=items,
            is_current=True,
            rubric_version__rubric=version.rubric,
            rubric_version__number__lt=version.number,
        )
        .values_list("item_id")
        .annotate(n=Count("id"))
    )
    slots = 0
    for item_id, n in sorted(counts.items()):  # ascending ids: the queue's lock order
        lifecycle.add_slots(item_id, n)
        slots += n
    audit.record(
        actor=actor,
        project=project,
        verb="items.requeued_for_rubric",
        object_type="project",
        version=version.number,
        items=len(counts),
        slots=slots,
    )
    return {"items": len(counts), "slots": slots, "version": version.number}
