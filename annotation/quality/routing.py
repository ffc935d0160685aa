"""Routing of complete items: approve when the annotators agree, else an extra annotator, else the leads.

`route_if_complete` runs inside `services.submit_judgment`'s transaction when an item's last slot
(overlap + extra_overlap) is judged and the project has `agreement_routing` on:

  * agreement = the share of the item's current judgments that give the majority answer (SFT: the
    decision; comparison: the winner as a canonical response position, or tie / both bad);
  * share >= project.agreement_threshold -> APPROVED, `Item.resolution` holds the majority answer;
  * otherwise, while item.extra_overlap < project.max_extra_annotators -> one more slot, back to OPEN;
  * otherwise -> DISPUTED: the leads' disagreement queue (annotation.adjudication).

Only the judgments made under the newest rubric version present on the item count, so items re-queued
after a rubric revision are decided by their fresh judgments. Gold items are never routed.
The label helpers here are shared with `annotation.agreement_reports`.
"""

from collections import Counter

from annotation.core import audit
from annotation.models import Item, ItemKind, ItemState, Judgment
from annotation.queue import lifecycle

TIE, BOTH_BAD = "tie", "both_bad"


def canonical_responses(item) -> list[int]:
    """Ids of the responses annotators compare, in canonical (import) order."""
    return list(item.responses.filter(shown=True).order_by("position").values_list("id", flat=True))


def comparison_label(payload: dict, canonical: list[int]) -> str | None:
    """A comparison judgment's overall answer, independent of display order: "response N" (1-based
    canonical position of the winner), "tie" or "both_bad"; None when the payload has no ranking."""
    payload = payload or {}
    outcome = payload.get("outcome")
    if outcome in (TIE, BOTH_BAD):
        return outcome
    ranking = payload.get("ranking") or []
    if not ranking or not ranking[0]:
        return None
    top = ranking[0]
    if len(top) > 1:
        return TIE
    winner = top[0]
    return f"response {canonical.index(winner) + 1}" if winner in canonical else f"response id {winner}"


def signed_strength(payload: dict, canonical: list[int]) -> int | None:
    """Pairwise strength from the first canonical response's side (+1..+3 it wins, -1..-3 the second
    does, 0 tie / both bad); None for N-way comparisons or when there is no answer."""
    if len(canonical) != 2:
        return None
    label = comparison_label(payload, canonical)
    if label is None:
        return None
    if label in (TIE, BOTH_BAD):
        return 0
    strength = max(1, int((payload or {}).get("strength") or 0))
    return strength if label == "response 1" else -strength


def judgment_label(kind: str, judgment, canonical: list[int] | None = None) -> str | None:
    if kind == ItemKind.SFT:
        return judgment.decision or None
    return comparison_label(judgment.payload, canonical or [])


def newest_version_judgments(judgments: list) -> list:
    """Keep the judgments made under the newest rubric version present (None counts as oldest)."""
    if not judgments:
        return []

    def number(j):
        return j.rubric_version.number if j.rubric_version_id else 0

    newest = max(number(j) for j in judgments)
    return [j for j in judgments if number(j) == newest]


def item_agreement(item, judgments: list) -> dict:
    """Majority answer, its share, the answer counts and per-criterion score agreement of one item."""
    canonical = canonical_responses(item) if item.kind == ItemKind.COMPARISON else []
    labelled = [(j, judgment_label(item.kind, j, canonical)) for j in judgments]
    labelled = [(j, label) for j, label in labelled if label is not None]
    counts = Counter(label for _, label in labelled)
    n = sum(counts.values())
    ranked = counts.most_common()
    majority = ranked[0][0] if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]) else None
    share = (ranked[0][1] / n) if n else 0.0
    if majority is None:
        share = min(share, 0.5)  # a tie between answers never counts as agreement
    scores = {}
    for key in sorted({k for j in judgments for k in (j.scores or {})}):
        values = Counter(str(j.scores[key]) for j in judgments if key in (j.scores or {}))
        total = sum(values.values())
        scores[key] = round(values.most_common(1)[0][1] / total, 4) if total else None
    return {
        "n": n,
        "counts": dict(counts),
        "majority": majority,
        "share": round(share, 4),
        "scores": scores,
        "canonical": canonical,
        "judgments": [j for j, label in labelled if label == majority],
    }


def majority_resolution(item, agreement: dict) -> dict:
    """The final answer of an approved item from its majority judgments (the latest one breaks ties)."""
    chosen = agreement["judgments"][-1]
    scores = {}
    for key in sorted({k for j in agreement["judgments"] for k in (j.scores or {})}):
        values = Counter(j.scores[key] for j in agreement["judgments"] if key in (j.scores or {}))
        scores[key] = values.most_common(1)[0][0]
    out = {"source": "routing", "agreement": agreement["share"], "judgment_ids": []}
    out["judgment_ids"] = [j.pk for j in agreement["judgments"]]
    if item.kind == ItemKind.SFT:
        edits = [j for j in agreement["judgments"] if j.decision == "edit" and j.edited_text]
        out.update(decision=chosen.decision, text=edits[-1].edited_text if edits else "", scores=scores)
    else:
        payload = chosen.payload or {}
        out.update(
            outcome=payload.get("outcome"),
            ranking=payload.get("ranking"),
            winner=payload.get("winner") if payload.get("outcome") == "win" else _top(payload),
        )
    return out


def _top(payload):
    ranking = payload.get("ranking") or []
    if payload.get("outcome") in (TIE, BOTH_BAD) or not ranking or len(ranking[0]) != 1:
        return None
    return ranking[0][0]


def route_if_complete(*, item_id: int, project) -> str | None:
    """Route the item if it is COMPLETE (call inside the submit transaction); the new state or None."""
    item = Item.objects.filter(pk=item_id).first()
    if item is None or item.is_gold or item.state != ItemState.COMPLETE:
        return None
    judgments = list(
        Judgment.objects.filter(item=item, is_current=True).select_related("rubric_version").order_by("id")
    )
    agreement = item_agreement(item, newest_version_judgments(judgments))
    data = {k: agreement[k] for k in ("n", "counts", "majority", "share", "scores")}
    if agreement["majority"] is not None and agreement["share"] >= project.agreement_threshold:
        resolution = majority_resolution(item, agreement)
        lifecycle.resolve(item, ItemState.APPROVED, resolution)
        outcome = ItemState.APPROVED
    elif item.extra_overlap < project.max_extra_annotators:
        lifecycle.add_slots(item.pk, 1)
        outcome = "extra_annotator"
    else:
        lifecycle.resolve(item, ItemState.DISPUTED)
        outcome = ItemState.DISPUTED
    audit.record(
        actor=None,
        project=project,
        verb="item.routed",
        obj=item,
        outcome=outcome,
        threshold=project.agreement_threshold,
        extra_overlap=item.extra_overlap + (outcome == "extra_annotator"),
        **data,
    )
    return outcome
