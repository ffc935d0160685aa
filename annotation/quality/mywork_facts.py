"""The facts of an annotator's "My work" page, gathered in a few queries (`annotation.quality.mywork`
computes the figures).

`gather(project, user)` reads the caller's current, non-external judgments in the project with their
items (one query), each kind's label context once for those items (`Kind.contexts`: at most one query
per kind), and labels the judgment, the item's final answer (approved items: `Item.resolution`) and
its gold answer with the kind's hooks, so every kind is read the same way. Only `user`'s rows are read
(and, as a count in the same statement, whether anyone else judged the item: a final answer routing
made from the caller's judgment alone, with overlap 1, says nothing about agreement and is left out;
a lead's adjudication always counts).
"""

from collections import defaultdict

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from annotation.kinds import registry
from annotation.models import ItemState, Judgment
from annotation.quality.mywork import MyJudgment


def gather(project, user) -> list[MyJudgment]:
    others = (
        Judgment.objects.filter(item=OuterRef("item_id"), is_current=True)
        .exclude(annotator=user)
        .values("item")
        .annotate(n=Count("id"))
        .values("n")
    )
    rows = list(
        Judgment.objects.filter(item__project=project, annotator=user, is_current=True, external=False)
        .select_related("item")
        .annotate(others=Coalesce(Subquery(others), 0))
        .order_by("id")
    )
    by_kind = defaultdict(dict)
    for j in rows:
        by_kind[j.item.kind][j.item_id] = j.item
    context = {}
    for name, items in by_kind.items():
        context.update(registry.get(name).contexts(list(items.values())))
    out = []
    for j in rows:
        item, kind, ctx = j.item, registry.get(j.item.kind), context[j.item_id]
        final = None
        if item.state == ItemState.APPROVED and item.resolution is not None:
            if j.others or item.resolution.get("source") == "adjudication":
                final = kind.gold_label(item.resolution, ctx)
        gold = kind.gold_label(item.gold_answer, ctx) if item.is_gold and item.gold_answer else None
        out.append(
            MyJudgment(
                item=j.item_id,
                created_at=j.created_at,
                duration_seconds=j.duration_seconds,
                rushed=j.rushed,
                label=kind.label_of(j, ctx),
                final_label=final,
                gold_label=gold,
            )
        )
    return out
