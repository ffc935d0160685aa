"""Read paths of quality work: disagreements, adjudication context, gold accuracy, reports."""

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from annotation.kinds import registry
from annotation.models import (
    Adjudication,
    AdjudicationCategory,
    AgreementReport,
    AnnotatorReliability,
    Item,
    ItemState,
    Judgment,
    Project,
)
from annotation.quality import facts, report
from annotation.queue.routing import item_agreement, newest_version_judgments


def disagreements(project):
    """The leads' queue: DISPUTED items of the project, highest priority first, then oldest."""

    # A correlated count per shown row (PostgreSQL evaluates it after the ORDER BY ... LIMIT), read
    # in the order of item_disputed_idx: the page costs the same at any number of disputed items.
    current = (
        Judgment.objects.filter(item=OuterRef("pk"), is_current=True)
        .order_by()
        .values("item")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        Item.objects.filter(project=project, state=ItemState.DISPUTED, is_gold=False)
        .annotate(n_judgments=Coalesce(Subquery(current), 0))
        .order_by("-priority", "id")
    )


def next_disagreement(project, *, after_id=None):
    """The first disputed item (after `after_id` when given, wrapping round), or None."""
    qs = disagreements(project)
    if after_id is not None:
        nxt = qs.exclude(pk=after_id).first()
        return nxt
    return qs.first()


def adjudication_context(item) -> dict:
    """Everything a lead needs on one item: the conversation, the responses (canonical order), every
    current judgment with its annotator, and the item's earlier adjudications."""

    judgments = list(
        Judgment.objects.filter(item=item, is_current=True)
        .select_related("annotator", "rubric_version")
        .order_by("id")
    )
    responses = list(item.responses.filter(shown=True).order_by("position"))
    position = {r.pk: i + 1 for i, r in enumerate(responses)}
    kind = registry.get(item.kind)
    context = kind.context(item)
    rows = []
    for n, j in enumerate(judgments, start=1):
        payload = j.payload or {}
        rows.append(
            {
                "n": n,
                "judgment": j,
                "label": kind.label_of(j, context),
                "ranking": [[position.get(r, r) for r in g] for g in payload.get("ranking") or []],
                "strength": payload.get("strength"),
                "improved_text": payload.get("improved_text", ""),
            }
        )
    return {
        "item": item,
        "conversation": [
            {"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
            for m in item.messages or []
            if isinstance(m, dict)
        ],
        "responses": responses,
        "judgments": rows,
        "agreement": item_agreement(item, newest_version_judgments(judgments)),
        "history": Adjudication.objects.filter(item=item).select_related("lead").order_by("-id"),
    }


def gold_accuracy(project) -> list[dict]:
    """Per annotator, now: judged gold items, correct answers and accuracy (the overall answer), plus the
    share of matching gold scores; defined by `report.gold_table`, which the stored report uses too.
    Pages read the stored report's "gold"; this is for callers that need the figures of this moment."""
    return report.gold_table(facts.gather(project, gold_only=True))


def guideline_gaps(project, *, limit: int = 50):
    """Adjudications a lead tagged "guideline gap": input for the next rubric version."""

    return (
        Adjudication.objects.filter(item__project=project, category=AdjudicationCategory.GUIDELINE_GAP)
        .select_related("lead", "item")
        .order_by("-id")[:limit]
    )


def latest_agreement_report(project, *, with_data: bool = True):
    """The project's newest stored report (None before the first); `with_data=False` leaves its
    figures unread until used (the page renders them once per report)."""
    qs = AgreementReport.objects.filter(project=project).select_related("computed_by").order_by("-id")
    return (qs if with_data else qs.defer("data")).first()


def projects_with_stale_agreement() -> list[Project]:
    """Projects with a judgment or an adjudication newer than their latest agreement report
    (or judgments and no report yet): what the periodic refresh recomputes. Two indexed probes per
    project; nothing is read from the judgments themselves."""

    stale = []
    for project in Project.objects.order_by("id"):
        latest = (
            AgreementReport.objects.filter(project=project)
            .order_by("-id")
            .values_list("computed_at", flat=True)
            .first()
        )
        judgments = Judgment.objects.filter(item__project=project)
        adjudications = Adjudication.objects.filter(item__project=project)
        if latest is not None:
            judgments = judgments.filter(created_at__gt=latest)
            adjudications = adjudications.filter(created_at__gt=latest)
        if judgments.exists() or (latest is not None and adjudications.exists()):
            stale.append(project)
    return stale


def reliability_weights(project, kind: str) -> dict[int, float]:
    """Annotator id -> vote weight for `kind` (see `AnnotatorReliability.objects.weights`)."""
    return AnnotatorReliability.objects.filter(project=project).weights(kind)
