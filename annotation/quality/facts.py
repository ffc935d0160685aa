"""What a quality report needs, gathered from the database in three queries, as plain data.

`gather(project)` reads the project's items, the responses compared on its comparisons, and its
current judgments (with rubric version and annotator) and labels each judgment with the kind's label
functions (`annotation.quality.routing`); `annotation.quality.report` computes every figure from the
result without touching the database. The number of queries does not grow with the items.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from annotation.models import Item as ItemModel
from annotation.models import ItemKind, Judgment, Response
from annotation.quality.routing import comparison_label, judgment_label, signed_strength


@dataclass(frozen=True)
class JudgmentFact:
    """One current judgment, labelled: `label` is the overall answer (None: no answer)."""

    annotator: int
    item: int
    kind: str
    version: int  # the rubric version's number; 0 when the judgment has none
    label: str | None
    created_at: datetime
    on_gold: bool
    scores: dict = field(default_factory=dict)
    strength: int | None = None  # comparisons of two responses: signed strength
    ranking: list | None = None  # comparisons of three or more: the ranking groups
    preferences: dict = field(default_factory=dict)  # criterion key -> label, as the overall answer


@dataclass(frozen=True)
class GoldAnswer:
    """The known answer of a gold item: its overall label and its rubric scores."""

    kind: str
    label: str | None
    scores: dict


@dataclass
class QualityFacts:
    kinds: tuple[str, ...]
    judgments: list[JudgmentFact]
    names: dict[int, str]  # annotator id -> username
    criteria: dict[int, list[dict]]  # rubric version number -> its criteria
    gold: dict[int, GoldAnswer]  # gold item id -> its answer (gold items with an answer only)


def gather(project, *, gold_only: bool = False) -> QualityFacts:
    """Everything `report.compute` needs about the project (or only its gold items), in three queries."""
    items = ItemModel.objects.filter(project=project)
    if gold_only:
        items = items.filter(is_gold=True, gold_answer__isnull=False)
    items = {
        pk: (kind, is_gold, gold_answer)
        for pk, kind, is_gold, gold_answer in items.values_list("id", "kind", "is_gold", "gold_answer")
    }
    canonical = defaultdict(list)  # comparison id -> response ids, canonical (import) order
    shown = Response.objects.filter(item__project=project, item__kind=ItemKind.COMPARISON, shown=True)
    if gold_only:
        shown = shown.filter(item_id__in=list(items))
    for item_id, response_id in shown.order_by("item_id", "position").values_list("item_id", "id"):
        canonical[item_id].append(response_id)
    rows = Judgment.objects.filter(item__project=project, is_current=True)
    if gold_only:
        rows = rows.filter(item_id__in=list(items))
    rows = list(rows.select_related("rubric_version", "annotator").order_by("id"))

    facts = QualityFacts(kinds=tuple(ItemKind.values), judgments=[], names={}, criteria={}, gold={})
    for pk, (kind, is_gold, gold_answer) in items.items():
        if is_gold and gold_answer is not None:
            label = (
                gold_answer.get("decision")
                if kind == ItemKind.SFT
                else comparison_label(gold_answer, canonical[pk])
            )
            facts.gold[pk] = GoldAnswer(kind=kind, label=label, scores=gold_answer.get("scores") or {})
    for j in rows:
        kind, is_gold, _ = items[j.item_id]
        facts.names[j.annotator_id] = j.annotator.username
        version = j.rubric_version.number if j.rubric_version_id else 0
        if j.rubric_version_id:
            facts.criteria[version] = j.rubric_version.criteria
        extra = {}
        if kind == ItemKind.COMPARISON:
            payload, order = j.payload or {}, canonical[j.item_id]
            ranking = payload.get("ranking")
            extra = {
                "strength": signed_strength(j.payload, order),
                "ranking": ranking
                if ranking and len(order) > 2 and payload.get("outcome") != "both_bad"
                else None,
                "preferences": {
                    key: label
                    for key, answer in (payload.get("criteria") or {}).items()
                    if isinstance(answer, dict) and (label := comparison_label(answer, order)) is not None
                },
            }
        facts.judgments.append(
            JudgmentFact(
                annotator=j.annotator_id,
                item=j.item_id,
                kind=kind,
                version=version,
                label=judgment_label(kind, j, canonical.get(j.item_id)),
                created_at=j.created_at,
                on_gold=is_gold,
                scores=j.scores or {},
                **extra,
            )
        )
    return facts
