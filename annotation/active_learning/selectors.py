"""Read paths of active learning: the explorer's filtered samples, histograms and 2-D map, each
batch's outcome once reviewed, and the coverage report (computed here, stored as a CoverageReport).

Coverage uses annotation data only (this app may not import training): "reviewed" = items of the
project with a judgment or a decision; "training" = items in the approved state, which is what
dataset snapshots are built from.
"""

from collections import Counter

import numpy as np
from django.db.models import Q

from annotation.active_learning import selection
from annotation.active_learning.models import CoverageReport, ItemEmbedding, ProductionSample, SelectionBatch
from annotation.core import charts
from annotation.core.web import query_choice, query_float, query_text
from annotation.kinds import registry
from annotation.models import Item, ItemState, Judgment

RANGE_FIELDS = ("entropy", "logprob", "quality", "committee", "margin", "priority")
MAP_LIMIT = 1500
COVER_THRESHOLD = 0.8


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_filters(request) -> None:
    """The explorer's filters (page and API), each checked against what it takes: a bad one is a
    400 (annotation.core.web's BadQuery) before filtered_samples reads them."""
    query_text(request, "model_version")
    query_text(request, "q")
    query_choice(request, "feedback", ("up", "down", "retried", "edited", "none"))
    query_choice(request, "selected", ("yes", "no"))
    for name in RANGE_FIELDS:
        query_float(request, f"{name}_min")
        query_float(request, f"{name}_max")


def filtered_samples(project, params) -> tuple:
    """Samples matching the explorer's filters; (queryset, the filters as given)."""
    qs = ProductionSample.objects.filter(project=project)
    filters = {k: params.get(k, "") for k in ("model_version", "feedback", "selected", "q")}
    if filters["model_version"]:
        qs = qs.filter(model_version=filters["model_version"])
    feedback = filters["feedback"]
    if feedback in ("up", "down"):
        qs = qs.filter(thumbs=feedback)
    elif feedback == "retried":
        qs = qs.filter(retried=True)
    elif feedback == "edited":
        qs = qs.exclude(edited_text="")
    elif feedback == "none":
        qs = qs.filter(thumbs="", retried=False, edited_text="")
    if filters["selected"] == "yes":
        qs = qs.filter(selected_batch__isnull=False)
    elif filters["selected"] == "no":
        qs = qs.filter(selected_batch__isnull=True)
    if filters["q"]:
        qs = qs.filter(Q(prompt__icontains=filters["q"]) | Q(output__icontains=filters["q"]))
    for name in RANGE_FIELDS:
        low, high = _float(params.get(f"{name}_min")), _float(params.get(f"{name}_max"))
        filters[f"{name}_min"], filters[f"{name}_max"] = (
            params.get(f"{name}_min", ""),
            params.get(f"{name}_max", ""),
        )
        if low is not None:
            qs = qs.filter(**{f"{name}__gte": low})
        if high is not None:
            qs = qs.filter(**{f"{name}__lte": high})
    return qs, filters


def histograms(qs) -> list[dict]:
    out = []
    for name in ("priority", "entropy", "logprob", "quality", "margin"):
        values = np.array([v for v in qs.values_list(name, flat=True) if v is not None], dtype=float)
        if len(values) == 0:
            continue
        counts, edges = np.histogram(values, bins=12)
        rows = [
            {"lo": round(float(a), 3), "hi": round(float(b), 3), "count": int(c)}
            for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
        ]
        out.append(
            {
                "name": name,
                "spec": charts.histogram(rows, title=f"{name} ({len(values)} samples)", x_title=name),
            }
        )
    return out


def embedding_map(qs, *, colour: str = "selection") -> dict:
    """PCA of the filtered samples' embeddings (at most MAP_LIMIT, highest priority first), coloured
    by selection, cluster, or a score (quartiles)."""
    rows = list(
        qs.filter(embedding__isnull=False)
        .order_by("-priority", "id")
        .values_list(
            "id", "embedding", "cluster", "selected_batch_id", "priority", "quality", "entropy", "prompt"
        )[:MAP_LIMIT]
    )
    if not rows:
        return charts.scatter([], title="Embeddings (PCA)", x_title="PC 1", y_title="PC 2")
    coords = selection.pca_2d(selection.from_bytes(bytes(r[1]) for r in rows))
    groups: dict[str, list] = {}
    score_index = {"priority": 4, "quality": 5, "entropy": 6}
    if colour in score_index:
        values = np.array(
            [r[score_index[colour]] if r[score_index[colour]] is not None else np.nan for r in rows]
        )
        finite = values[np.isfinite(values)]
        edges = np.quantile(finite, [0.25, 0.5, 0.75]) if len(finite) else []
    for (pk, _, cluster, batch, *_rest, prompt), (x, y), i in zip(
        rows, coords, range(len(rows)), strict=True
    ):
        if colour == "cluster":
            label = f"cluster {cluster}" if cluster is not None else "no cluster"
        elif colour in score_index:
            v = values[i]
            label = (
                f"{colour} unknown"
                if not np.isfinite(v)
                else f"{colour} Q{int(np.searchsorted(edges, v)) + 1}"
            )
        else:
            label = "selected" if batch else "not selected"
        groups.setdefault(label, []).append((round(float(x), 4), round(float(y), 4), f"#{pk} {prompt[:60]}"))
    series = [charts.series(label, points) for label, points in sorted(groups.items())]
    return charts.scatter(
        series, title=f"Embeddings (PCA), coloured by {colour}", x_title="PC 1", y_title="PC 2"
    )


def batch_outcomes(project) -> list[dict]:
    """Each batch: items made, reviewed, accept rate (SFT decisions) and flip rate (pairs where
    reviewers chose the response the model did not prefer)."""
    batches = list(SelectionBatch.objects.filter(project=project).order_by("-id")[:50])
    item_ids = dict(
        ProductionSample.objects.filter(selected_batch__in=batches, item__isnull=False).values_list(
            "item_id", "selected_batch_id"
        )
    )
    items = {i.pk: i for i in Item.objects.filter(pk__in=item_ids).prefetch_related("responses")}
    votes: dict[int, Counter] = {}
    for item_id, decision in Judgment.objects.filter(item_id__in=item_ids, is_current=True).values_list(
        "item_id", "decision"
    ):
        votes.setdefault(item_id, Counter())[decision] += 1
    many = {k.name for k in registry.all() if k.responses == "many"}
    stats = {b.pk: Counter() for b in batches}
    for item_id, batch_id in item_ids.items():
        item, s = items[item_id], stats[batch_id]
        reviewed = item.submitted_count > 0 or item.state in (ItemState.APPROVED, ItemState.DISCARDED)
        s["reviewed"] += reviewed
        if item.kind in many:
            winner = (item.resolution or {}).get("winner")
            preferred = (item.metadata.get("active_learning") or {}).get("model_preferred_position")
            positions = {r.pk: r.position for r in item.responses.all()}
            if winner is not None and preferred is not None:
                s["pairs_decided"] += 1
                s["flipped"] += positions.get(winner) != preferred
        else:
            decision = (item.resolution or {}).get("decision") or (
                votes[item_id].most_common(1)[0][0] if item_id in votes else None
            )
            if decision:
                s["decided"] += 1
                s["accepted"] += decision == "accept"
    out = []
    for b in batches:
        s = stats[b.pk]
        out.append(
            {
                "batch": b,
                "reviewed": s["reviewed"],
                "accept_rate": round(s["accepted"] / s["decided"], 3) if s["decided"] else None,
                "flip_rate": round(s["flipped"] / s["pairs_decided"], 3) if s["pairs_decided"] else None,
                "decided": s["decided"] + s["pairs_decided"],
            }
        )
    return out


def compute_coverage(project, *, k: int | None = None, examples: int = 3, seed: int = 0) -> CoverageReport:
    """Cluster the project's embedded samples (k ~ sqrt(n/2), 2..30), measure the share of each
    cluster within COVER_THRESHOLD cosine of a reviewed item and of an approved (training) item,
    store the clusters on the samples and the report; least covered by training data first."""
    rows = list(
        ProductionSample.objects.filter(project=project, embedding__isnull=False)
        .order_by("id")
        .values_list("id", "embedding", "prompt")
    )
    item_rows = list(
        ItemEmbedding.objects.filter(item__project=project).values_list(
            "vector", "item__state", "item__submitted_count"
        )
    )
    reviewed = [
        bytes(v) for v, state, n in item_rows if n > 0 or state in (ItemState.APPROVED, ItemState.DISCARDED)
    ]
    training = [bytes(v) for v, state, _ in item_rows if state == ItemState.APPROVED]
    if not rows:
        return CoverageReport.objects.create(project=project, data={"clusters": [], "samples": 0})
    X = selection.from_bytes(bytes(r[1]) for r in rows)
    k = k or int(np.clip(round(np.sqrt(len(rows) / 2)), 2, 30))
    dim = X.shape[1]
    covered = {
        "reviewed": selection.from_bytes(reviewed) if reviewed else np.zeros((0, dim), np.float32),
        "training": selection.from_bytes(training) if training else np.zeros((0, dim), np.float32),
    }
    clusters = selection.coverage(X, covered, k=k, threshold=COVER_THRESHOLD, seed=seed)
    updates = []
    for c in clusters:
        for i in c["members"]:
            updates.append(ProductionSample(pk=rows[i][0], cluster=c["cluster"]))
        c["examples"] = [{"id": rows[i][0], "prompt": rows[i][2][:200]} for i in c.pop("members")[:examples]]
    ProductionSample.objects.bulk_update(updates, ["cluster"], batch_size=1000)
    data = {
        "samples": len(rows),
        "k": k,
        "threshold": COVER_THRESHOLD,
        "reviewed_items": len(reviewed),
        "training_items": len(training),
        "clusters": clusters,
    }
    return CoverageReport.objects.create(project=project, data=data)
