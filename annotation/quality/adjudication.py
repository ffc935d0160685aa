"""Write paths of quality control: gold items, more annotators, a lead's adjudication, re-queueing
after a rubric revision. One function per use case, keyword-only, one transaction, audited.

Leads only (permission "adjudicate"). An adjudication is final for datasets: the item becomes
APPROVED with `Item.resolution` = the adjudication's `final`, or DISCARDED; "send back" adds slots
(extra_overlap) and re-opens the item instead.
"""

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery

from annotation.core import audit
from annotation.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from annotation.core.permissions import can
from annotation.models import (
    Adjudication,
    AdjudicationCategory,
    AdjudicationDecision,
    Decision,
    Item,
    ItemKind,
    ItemState,
    Judgment,
)
from annotation.projects.rubrics import RubricError, validate_scores
from annotation.quality.routing import BOTH_BAD, TIE, canonical_responses
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


def _sft_answer(item, answer: dict, *, require_text: bool = False) -> dict:
    decision = str(answer.get("decision") or "").strip()
    if require_text:
        decision = Decision.EDIT
    if decision not in Decision.values:
        raise InvalidInput(errors={"decision": [f"Must be one of: {', '.join(Decision.values)}."]})
    text = str(answer.get("text") or answer.get("edited_text") or "").replace("\r\n", "\n").strip()
    if decision == Decision.EDIT and not text:
        raise InvalidInput(errors={"text": ["An edit needs the gold answer text."]})
    out = {"decision": decision, "text": text if decision == Decision.EDIT else ""}
    scores = answer.get("scores") or {}
    if scores:
        version = item.project.current_rubric_version()
        try:
            out["scores"] = validate_scores(version.criteria if version else [], scores, require_all=False)
        except RubricError as exc:
            raise InvalidInput(errors=exc.errors)
    return out


def _comparison_answer(item, answer: dict) -> dict:
    """{"winner": response id} | {"ranking": [[ids], ...]} | {"outcome": "tie" | "both_bad"}."""
    canonical = canonical_responses(item)
    outcome = str(answer.get("outcome") or "").strip()
    if outcome in (TIE, BOTH_BAD):
        return {"outcome": outcome, "ranking": [sorted(canonical)], "winner": None}
    if answer.get("ranking"):
        ranking = answer["ranking"]
        try:
            groups = [sorted(int(x) for x in g) for g in ranking]
        except (TypeError, ValueError):
            raise InvalidInput(errors={"ranking": ["Give groups of response ids, best first."]})
        if sorted(x for g in groups for x in g) != sorted(canonical):
            raise InvalidInput(errors={"ranking": ["Rank every shown response exactly once."]})
        winner = groups[0][0] if len(groups[0]) == 1 else None
        return {"outcome": "ranked" if len(groups) > 1 else TIE, "ranking": groups, "winner": winner}
    try:
        winner = int(answer.get("winner"))
    except (TypeError, ValueError):
        raise InvalidInput(errors={"winner": ["Give the winning response id, a ranking or an outcome."]})
    if winner not in canonical:
        raise InvalidInput(errors={"winner": ["Not one of this comparison's responses."]})
    others = [r for r in canonical if r != winner]
    return {"outcome": "win", "ranking": [[winner], others], "winner": winner}


def validate_answer(item, answer, *, require_text: bool = False) -> dict:
    if not isinstance(answer, dict):
        raise InvalidInput(errors={"answer": ["Must be an object."]})
    if item.kind == ItemKind.SFT:
        return _sft_answer(item, answer, require_text=require_text)
    out = _comparison_answer(item, answer)
    if require_text:
        text = str(answer.get("text") or "").replace("\r\n", "\n").strip()
        if not text or out.get("winner") is None:
            raise InvalidInput(errors={"text": ["An edited gold answer needs a winner and its text."]})
        out["text"] = text
    return out


def answer_from_judgment(item, judgment) -> dict:
    if item.kind == ItemKind.SFT:
        out = {
            "decision": judgment.decision,
            "text": judgment.edited_text if judgment.decision == "edit" else "",
        }
        if judgment.scores:
            out["scores"] = judgment.scores
        return out
    payload = judgment.payload or {}
    ranking = payload.get("ranking") or []
    winner = (
        ranking[0][0] if ranking and len(ranking[0]) == 1 and payload.get("outcome") != BOTH_BAD else None
    )
    return {"outcome": payload.get("outcome"), "ranking": ranking, "winner": winner}


# --- gold -----------------------------------------------------------------------------------


@transaction.atomic
def set_gold(*, item: Item, actor, answer: dict | None, is_gold: bool = True) -> Item:
    """Mark an item gold with its known answer (or unmark it). SFT answer: {"decision", "text"?,
    "scores"?}; comparison: {"winner": response id} or {"ranking": [[ids], ...]} or {"outcome"}."""
    locked = _locked_item(item)
    _require_lead(actor, locked.project)
    gold = validate_answer(locked, answer) if is_gold else None
    Item.objects.filter(pk=locked.pk).update(is_gold=is_gold, gold_answer=gold)
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
