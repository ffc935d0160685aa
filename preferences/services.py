"""Write paths of the preferences app: comparison judgments, consensus, curated pairs."""

import hashlib
import json

from django.db import transaction
from django.utils import timezone

from annotation.core import audit
from annotation.core.errors import Forbidden, InvalidInput
from annotation.core.permissions import can
from annotation.importing.parse import content_hash
from annotation.models import AnnotatorReliability, Item, ItemKind, Response
from annotation.queue import lifecycle

from . import recompute
from .consensus import RULES
from .models import PairStatus, PreferencePair
from .recompute import ADJUDICATION as ADJUDICATION

IMPROVEMENT = "improvement"


def shown_responses(item):
    """The responses annotators compare: model outputs, not the human improvements added later."""
    return item.responses.filter(shown=True)


def keep_improved_text(judgment) -> None:
    """Keep an annotator's improved text as a new response (never shown in the comparison itself)."""
    text = (judgment.payload or {}).get("improved_text")
    if not text:
        return
    base = judgment.payload.get("winner") or judgment.payload["ranking"][0][0]
    last = judgment.item.responses.order_by("-position").values_list("position", flat=True).first() or 0
    response = Response.objects.create(
        item=judgment.item,
        position=last + 1,
        text=text,
        model_name="human",
        model_version=judgment.annotator.username,
        generation_params={"kind": IMPROVEMENT, "of": base, "judgment": judgment.pk},
        author=judgment.annotator,
        shown=False,
    )
    judgment.payload["improved_response"] = response.pk
    type(judgment).objects.filter(pk=judgment.pk).update(payload=judgment.payload)


@transaction.atomic
def set_pair_status(
    *, pair: PreferencePair, actor, status: str, chosen_text: str | None = None
) -> PreferencePair:
    """A lead approves, excludes or edits (the chosen text of) a curated pair."""
    if not can(actor, "adjudicate", pair.project):
        raise Forbidden("Only leads curate pairs.")
    if status not in PairStatus.values:
        raise InvalidInput(errors={"status": [f"Must be one of: {', '.join(PairStatus.values)}."]})
    old = pair.status
    pair.status = status
    if chosen_text is not None:
        chosen_text = chosen_text.replace("\r\n", "\n").strip()
        if chosen_text == pair.chosen.text.strip():
            chosen_text = ""
        pair.chosen_text_override = chosen_text
    pair.decided_by = actor
    pair.decided_at = timezone.now()
    pair.save()
    audit.record(
        actor=actor,
        project=pair.project,
        verb="pair.curated",
        obj=pair,
        old_status=old,
        new_status=status,
        edited=bool(pair.chosen_text_override),
        chosen_harmful_flags=pair.chosen_harmful_flags,
        chosen_harmful_majority=pair.chosen_harmful_majority,
    )
    return pair


def route_both_bad_to_sft(*, item: Item, actor=None) -> Item | None:
    """ "Both bad" consensus: the prompt goes to SFT review so someone writes a good answer."""

    first = shown_responses(item).order_by("position").first()
    if first is None:
        return None
    responses = [{"text": first.text}]
    digest = content_hash(ItemKind.SFT, item.messages, responses)
    sft, created = lifecycle.get_or_create_item(
        item.project,
        content_hash=digest,
        defaults=dict(
            kind=ItemKind.SFT,
            messages=item.messages,
            priority=item.priority + 10,
            metadata={"origin": "comparison_both_bad", "comparison_item": item.pk},
            source=f"comparison:{item.pk}",
        ),
    )
    if created:
        Response.objects.create(
            item=sft,
            position=0,
            text=first.text,
            model_name=first.model_name,
            model_version=first.model_version,
        )
        audit.record(
            actor=actor, project=item.project, verb="comparison.sent_to_sft", obj=sft, comparison=item.pk
        )
    return sft


def recompute_consensus(
    *,
    project,
    actor=None,
    rule: str = "majority",
    weights: dict | None = None,
    min_confidence: float = 0.0,
    since=None,
    progress=None,
) -> dict:
    """Rebuild Consensus rows and candidate PreferencePairs of every judged comparison in the project.

    Recomputable at any time from the raw judgments; pairs a lead already approved, excluded or edited
    keep that decision, pairs no longer implied are marked stale. "Both bad" prompts go to SFT review.
    A lead's adjudication is final: the item's overall consensus and pairs follow it (rule
    "adjudication", confidence 1.0), whatever the votes say; per-criterion pairs still come from the
    votes. Discarded items get no consensus and no pairs (their earlier pairs become stale).
    Each pair records how many annotators reported its chosen response harmful, and whether they are a
    majority of the comparison's judges (stats["harmful"] counts those pairs).
    With `since`, only the comparisons changed since then are redone (same rows as a full run; see
    preferences.recompute, which gathers, computes and writes); `progress(done, total)` is told along.
    """

    if actor is not None and not can(actor, "adjudicate", project):
        raise Forbidden("Only leads recompute consensus.")
    if rule not in RULES:
        raise InvalidInput(errors={"rule": [f"Must be one of: {', '.join(RULES)}."]})
    if rule == "weighted" and weights is None:
        weights = consensus_weights(project)
    return recompute.recompute_consensus(
        project=project, actor=actor, rule=rule, weights=weights, min_confidence=min_confidence,
        since=since, progress=progress, route_both_bad=route_both_bad_to_sft,
    )  # fmt: skip


def consensus_weights(project) -> dict:
    """Dawid-Skene vote weights from the project's latest agreement computation (annotation)."""
    return AnnotatorReliability.objects.filter(project=project).weights(ItemKind.COMPARISON)


def consensus_params(project, *, rule: str, min_confidence: float = 0.0) -> dict:
    """What a consensus recompute depends on besides the judgments: an incremental run continues only
    a run with the same parameters (other vote weights: a full run)."""
    params = {"rule": rule, "min_confidence": float(min_confidence)}
    if rule == "weighted":
        weights = sorted((int(a), round(float(w), 9)) for a, w in consensus_weights(project).items())
        params["weights"] = hashlib.sha256(json.dumps(weights).encode()).hexdigest()[:16]
    return params


def consensus_body(rec, *, since, progress) -> dict:
    """A recorded consensus recompute's work (preferences.tasks): its stats, mode included."""
    params = rec.params
    stats = recompute_consensus(
        project=rec.project,
        actor=rec.requested_by,
        rule=params["rule"],
        min_confidence=params.get("min_confidence", 0.0),
        since=since,
        progress=progress,
    )
    return {**stats, "rule": params["rule"], "mode": "full" if since is None else "incremental"}
