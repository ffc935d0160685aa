"""Routing of complete items: approve when the annotators agree, else an extra annotator, else the leads.

`route_if_complete` runs inside `services.submit_judgment`'s transaction when an item's last slot
(overlap + extra_overlap) is judged and the project has `agreement_routing` on:

  * agreement = the share of the item's current judgments that give the majority answer (what
    counts as the same answer is the item kind's label: SFT the decision; see annotation.kinds);
  * share >= project.agreement_threshold -> APPROVED, `Item.resolution` holds the majority answer
    (the kind's resolution of the majority judgments);
  * otherwise, while item.extra_overlap < project.max_extra_annotators -> one more slot, back to OPEN;
  * otherwise -> DISPUTED: the leads' disagreement queue (annotation.adjudication).

Only the judgments made under the newest rubric version present on the item count, so items re-queued
after a rubric revision are decided by their fresh judgments. Gold items are never routed.
"""

from collections import Counter

from annotation.core import audit
from annotation.kinds import registry
from annotation.models import Item, ItemState, Judgment
from annotation.queue import lifecycle


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
    kind = registry.get(item.kind)
    context = kind.context(item)
    labelled = [(j, kind.label_of(j, context)) for j in judgments]
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
        "context": context,
        "judgments": [j for j, label in labelled if label == majority],
    }


def majority_resolution(item, agreement: dict) -> dict:
    """The final answer of an approved item from its majority judgments (the latest one breaks ties)."""
    scores = {}
    for key in sorted({k for j in agreement["judgments"] for k in (j.scores or {})}):
        values = Counter(j.scores[key] for j in agreement["judgments"] if key in (j.scores or {}))
        scores[key] = values.most_common(1)[0][0]
    out = {"source": "routing", "agreement": agreement["share"], "judgment_ids": []}
    out["judgment_ids"] = [j.pk for j in agreement["judgments"]]
    out.update(registry.get(item.kind).resolution(item, agreement["judgments"], scores=scores))
    return out


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
