"""Read paths of the training app: the source examples a snapshot may take, runs, series, registry."""

from collections import defaultdict

from django.db.models import Prefetch, Q

from annotation.models import Adjudication, Decision, Item, ItemKind, ItemState, Judgment, Response
from preferences.models import Consensus, PairStatus, PreferencePair

from .models import DatasetSnapshot, ModelVersion, RunMetric, SnapshotRow, TrainingRun

GOOD_DECISIONS = {Decision.ACCEPT, Decision.EDIT}


def _clean_messages(messages) -> list[dict]:
    return [
        {"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
        for m in (messages or [])
        if isinstance(m, dict)
    ]


def _judgment_info(judgments) -> dict:
    return {
        "judgment_ids": [j.pk for j in judgments],
        # ids, never usernames: exports pseudonymise them (training.export.pseudonyms)
        "annotators": sorted({j.annotator_id for j in judgments}),
        "flags": sorted({f for j in judgments for f in (j.flags or [])}),
        "rubric_versions": sorted({j.rubric_version.number for j in judgments if j.rubric_version_id}),
        "last_judged_at": max((j.created_at for j in judgments), default=None),
    }


def sft_sources(project):
    """Yield one candidate per SFT item that is approved, or complete with every current judgment an
    accept or an edit. Gold items (quality checks) are left out.

    An item with a final answer (`Item.resolution`, from routing or a lead's adjudication) follows it:
    a final "reject" is not approved, a final edit's text is the gold answer. Otherwise the gold answer
    is the latest edit's text, else the response.

    Each candidate: {"data", "provenance", "meta"}; `meta` carries what the filters look at.
    """
    current = Judgment.objects.filter(is_current=True).select_related("annotator", "rubric_version")
    items = (
        Item.objects.filter(
            project=project,
            kind=ItemKind.SFT,
            state__in=[ItemState.APPROVED, ItemState.COMPLETE],
            is_gold=False,
        )
        .prefetch_related(
            Prefetch("judgments", queryset=current.order_by("id"), to_attr="current_judgments"),
            Prefetch("responses", queryset=Response.objects.order_by("position")),
        )
        .order_by("id")
    )
    for item in items.iterator(chunk_size=500):
        judgments = item.current_judgments
        good = [j for j in judgments if j.decision in GOOD_DECISIONS]
        final = item.resolution or {}
        if item.state == ItemState.APPROVED and final.get("decision"):
            approved = final["decision"] in GOOD_DECISIONS
        else:
            approved = item.state == ItemState.APPROVED or (judgments and len(good) == len(judgments))
        responses = list(item.responses.all())
        info = _judgment_info(judgments)
        meta = {
            **info,
            "item_id": item.pk,
            "agreement": (len(good) / len(judgments)) if judgments else (1.0 if approved else 0.0),
            "not_approved": not approved,
        }
        edits = [j for j in good if j.decision == Decision.EDIT and j.edited_text.strip()]
        if final.get("decision") == Decision.EDIT and (final.get("text") or "").strip():
            gold, gold_from = final["text"], final.get("source", "resolution")
        elif edits:
            gold, gold_from = edits[-1].edited_text, "edit"
        elif responses:
            gold, gold_from = responses[0].text, "response"
        else:
            gold, gold_from = "", "none"
        provenance = {
            "source": "annotation",
            "item_id": item.pk,
            "item_state": item.state,
            "response_ids": [r.pk for r in responses[:1]],
            "judgment_ids": info["judgment_ids"],
            "annotators": info["annotators"],
            "gold_from": gold_from,
            "rubric_versions": info["rubric_versions"],
            "consensus_rule": _sft_rule(item, judgments),
            "edit_judgment_id": edits[-1].pk if edits else None,
            "adjudication_ids": _adjudication_ids(item),
        }
        yield {
            "data": {"messages": _clean_messages(item.messages), "response": gold},
            "provenance": provenance,
            "meta": meta,
        }


def _sft_rule(item, judgments) -> str:
    """How the item's answer was reached: a final answer's source (routing, adjudication), else the
    judges all agreed."""
    final = item.resolution or {}
    if final.get("decision"):
        return str(final.get("source") or "resolution")
    return "unanimous" if judgments else "approved"


def _adjudication_ids(item) -> list[int]:
    """Ids of the lead's adjudications of this item, when the annotation app records them."""
    related = getattr(item, "adjudications", None)
    if related is None:
        return []
    return list(related.values_list("pk", flat=True))


def dpo_sources(project, *, include_candidates: bool, candidate_min_confidence: float):
    """Yield one candidate per approved preference pair (plus confident candidates when asked)."""
    pairs = PreferencePair.objects.filter(project=project, is_stale=False).select_related(
        "item", "chosen", "rejected", "rubric_version"
    )
    if include_candidates:
        pairs = pairs.filter(
            Q(status=PairStatus.APPROVED)
            # a candidate whose chosen response most of its judges reported harmful needs a lead
            | Q(
                status=PairStatus.CANDIDATE,
                confidence__gte=candidate_min_confidence,
                chosen_harmful_majority=False,
            )
        )
    else:
        pairs = pairs.filter(status=PairStatus.APPROVED)
    pairs = list(pairs.order_by("item_id", "criterion", "-confidence", "id"))
    judgments = defaultdict(list)
    for j in (
        Judgment.objects.filter(item_id__in={p.item_id for p in pairs}, is_current=True)
        .select_related("annotator", "rubric_version")
        .order_by("id")
    ):
        judgments[j.item_id].append(j)
    adjudications = defaultdict(list)
    for item_id, pk in (
        Adjudication.objects.filter(item_id__in={p.item_id for p in pairs})
        .order_by("id")
        .values_list("item_id", "pk")
    ):
        adjudications[item_id].append(pk)
    for pair in pairs:
        info = _judgment_info(judgments[pair.item_id])
        meta = {
            **info,
            "item_id": pair.item_id,
            "confidence": pair.confidence,
            "agreement": pair.confidence,
            "criterion": pair.criterion,
            "rubric_versions": [pair.rubric_version.number]
            if pair.rubric_version_id
            else info["rubric_versions"],
            "not_approved": False,
        }
        provenance = {
            "source": "preferences",
            "item_id": pair.item_id,
            "pair_id": pair.pk,
            "pair_status": pair.status,
            "criterion": pair.criterion,
            "confidence": pair.confidence,
            "margin": pair.margin,
            "consensus_rule": pair.rule,
            "rubric_versions": meta["rubric_versions"],
            "response_ids": [pair.chosen_id, pair.rejected_id],
            "chosen_edited": bool(pair.chosen_text_override),
            "chosen_harmful_flags": pair.chosen_harmful_flags,
            "judgment_ids": info["judgment_ids"],
            "annotators": info["annotators"],
            "adjudication_ids": adjudications[pair.item_id],
            "decided_by": pair.decided_by_id,
            "decided_at": pair.decided_at.isoformat() if pair.decided_at else None,
        }
        yield {
            "data": {
                "messages": _clean_messages(pair.item.messages),
                "chosen": pair.chosen_text,
                "rejected": pair.rejected.text,
            },
            "provenance": provenance,
            "meta": meta,
        }


def raw_sources(project):
    """Yield one candidate per judgment of the project, current and superseded (research wants the
    edit history; `is_current` says which), with its item's prompt and responses, the item's
    adjudications and, for comparisons, the stored consensus (rule, confidence) per criterion.
    Annotators and leads are ids; the export pseudonymises them."""
    judgments = (
        Judgment.objects.filter(item__project=project)
        .select_related("item", "rubric_version")
        .order_by("item_id", "id")
    )
    item_ids = set(judgments.values_list("item_id", flat=True))
    responses = defaultdict(list)
    for r in Response.objects.filter(item_id__in=item_ids).order_by("item_id", "position"):
        responses[r.item_id].append({"id": r.pk, "text": r.text, "model": r.model_name})
    adjudications = defaultdict(list)
    for a in Adjudication.objects.filter(item_id__in=item_ids).order_by("id"):
        adjudications[a.item_id].append({
            "id": a.pk, "decision": a.decision, "category": a.category, "reason": a.reason,
            "final": a.final, "lead": a.lead_id, "created_at": a.created_at.isoformat(),
        })  # fmt: skip
    consensus = defaultdict(list)
    for c in Consensus.objects.filter(item_id__in=item_ids).order_by("item_id", "criterion"):
        consensus[c.item_id].append({
            "criterion": c.criterion, "rule": c.rule, "params": c.params, "outcome": c.outcome,
            "winner": c.winner_id, "order": c.order, "confidence": c.confidence, "margin": c.margin,
            "n_votes": c.n_votes,
        })  # fmt: skip
    for j in judgments.iterator(chunk_size=500):
        number = j.rubric_version.number if j.rubric_version_id else None
        data = {
            "messages": _clean_messages(j.item.messages),
            "responses": responses[j.item_id],
            "judgment": {
                "id": j.pk, "item_id": j.item_id, "item_kind": j.item.kind, "annotator": j.annotator_id,
                "external": j.external, "source": j.source, "is_current": j.is_current, "rubric_version": number,
                "decision": j.decision, "edited_text": j.edited_text, "scores": j.scores,
                "flags": list(j.flags or []), "comment": j.comment, "payload": j.payload,
                "duration_seconds": j.duration_seconds, "rushed": j.rushed,
                "created_at": j.created_at.isoformat(),
            },
            "adjudications": adjudications[j.item_id],
            "consensus": consensus[j.item_id],
        }  # fmt: skip
        meta = {
            "item_id": j.item_id, "not_approved": False, "agreement": 1.0, "confidence": 1.0,
            "criterion": "", "rubric_versions": [number] if number is not None else [],
            "flags": list(j.flags or []), "last_judged_at": j.created_at,
        }  # fmt: skip
        provenance = {
            "source": "judgment", "item_id": j.item_id, "judgment_ids": [j.pk], "annotators": [j.annotator_id],
            "adjudication_ids": [a["id"] for a in adjudications[j.item_id]],
            "rubric_versions": meta["rubric_versions"],
        }  # fmt: skip
        yield {"data": data, "provenance": provenance, "meta": meta}


# --- snapshots, runs, registry -----------------------------------------------------------------


def snapshots_for(project):
    return DatasetSnapshot.objects.filter(project=project).select_related("created_by").order_by("-id")


def snapshot_rows(snapshot, split: str | None = None):
    qs = SnapshotRow.objects.filter(snapshot=snapshot)
    if split:
        qs = qs.filter(split=split)
    return qs.order_by("split", "position")


def runs_for(project):
    return (
        TrainingRun.objects.filter(project=project).select_related("snapshot", "created_by").order_by("-id")
    )


def model_versions_for(project):
    return ModelVersion.objects.filter(project=project).select_related("run", "snapshot").order_by("-id")


def metric_series(run, names=None) -> dict[str, list[tuple[int, float]]]:
    """{name: [(step, value), ...]} in step order; a step logged twice keeps its last value."""
    qs = RunMetric.objects.filter(run=run)
    if names:
        qs = qs.filter(name__in=list(names))
    series: dict[str, dict[int, float]] = defaultdict(dict)
    for name, step, value in qs.order_by("name", "step", "id").values_list("name", "step", "value"):
        series[name][step] = value
    return {name: sorted(points.items()) for name, points in series.items()}


def metric_names(run) -> list[str]:
    return sorted(RunMetric.objects.filter(run=run).values_list("name", flat=True).distinct())
