"""What a quality report needs, gathered from the database in a few queries, as plain data.

`gather(project)` reads the project's items, what each kind needs to label their judgments (one
`Kind.contexts` call per kind: comparisons read their shown responses in one query) and the current
judgments (with rubric version and annotator), and labels each judgment with its kind's hooks
(`annotation.kinds`); `annotation.quality.report` computes every figure from the result without
touching the database. The number of queries does not grow with the items.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from annotation.kinds import registry
from annotation.models import Item as ItemModel
from annotation.models import Judgment


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
    ranking: list | None = None  # a full ranking (kinds that rank three or more responses)
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
    criterion_types: dict[str, str] = field(default_factory=dict)  # kind -> type of its payload criteria


def gather(project, *, gold_only: bool = False) -> QualityFacts:
    """Everything `report.compute` needs about the project (or only its gold items), in a few queries:
    the items, one per kind that reads a context (comparisons: their shown responses), the judgments."""
    items = ItemModel.objects.filter(project=project)
    if gold_only:
        items = items.filter(is_gold=True, gold_answer__isnull=False)
    items = {i.pk: i for i in items.only("id", "kind", "is_gold", "gold_answer", "project_id")}
    by_kind = defaultdict(list)
    for item in items.values():
        by_kind[item.kind].append(item)
    kinds = {name: registry.get(name) for name in by_kind}
    context = {}
    for name, members in by_kind.items():
        context.update(kinds[name].contexts(members))
    rows = Judgment.objects.filter(item__project=project, is_current=True)
    if not project.count_external_judgments:  # other teams' work is not our annotators' agreement
        rows = rows.filter(external=False)
    if gold_only:
        rows = rows.filter(item_id__in=list(items))
    rows = list(rows.select_related("rubric_version", "annotator").order_by("id"))

    facts = QualityFacts(
        kinds=tuple(registry.names()),
        judgments=[],
        names={},
        criteria={},
        gold={},
        criterion_types={k.name: k.criterion_label_type for k in registry.all()},
    )
    for pk, item in items.items():
        if item.is_gold and item.gold_answer is not None:
            label = kinds[item.kind].gold_label(item.gold_answer, context[pk])
            facts.gold[pk] = GoldAnswer(
                kind=item.kind, label=label, scores=item.gold_answer.get("scores") or {}
            )
    for j in rows:
        item = items[j.item_id]
        kind, ctx = kinds[item.kind], context[j.item_id]
        facts.names[j.annotator_id] = j.annotator.username
        version = j.rubric_version.number if j.rubric_version_id else 0
        if j.rubric_version_id:
            facts.criteria[version] = j.rubric_version.criteria
        facts.judgments.append(
            JudgmentFact(
                annotator=j.annotator_id,
                item=j.item_id,
                kind=item.kind,
                version=version,
                label=kind.label_of(j, ctx),
                created_at=j.created_at,
                on_gold=item.is_gold,
                scores=j.scores or {},
                strength=kind.strength(j, ctx),
                ranking=kind.ranking(j, ctx) or None,
                preferences=kind.criterion_labels(j, ctx),
            )
        )
    return facts
