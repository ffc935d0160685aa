"""Eval sets: created from held-out production samples, from reviewed items never used in training,
or imported (evaluation.parse); and the leakage check of a set against a model version's training
snapshot (exact prompt keys and near-duplicates by embedding cosine, evaluation.metrics.leakage).
One transaction per write; lead and up (`evaluate`)."""

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from annotation.active_learning.models import ProductionSample
from annotation.core import audit
from annotation.core.errors import InvalidInput
from annotation.models import Item, ItemState
from preferences.models import PairStatus, PreferencePair
from training import pipeline
from training.models import SnapshotRow

from .access import require_evaluate
from .metrics import leakage
from .models import EvalExample, EvalSet, EvalSetSource
from .parse import parse_eval_jsonl


def _row_prompt(data: dict) -> str:
    """The last user turn of a snapshot row's prompt ("messages" or "prompt", text or turns)."""
    value = data.get("messages", data.get("prompt"))
    return value if isinstance(value, str) else _last_user(value)


def _last_user(messages) -> str:
    users = [m.get("content", "") for m in messages or [] if m.get("role") == "user"]
    return users[-1] if users else ""


@transaction.atomic
def _create(*, project, actor, name, source, examples) -> EvalSet:
    require_evaluate(actor, project)
    if not examples:
        raise InvalidInput("No prompts to put in the eval set.", {"source": ["Nothing matched."]})
    eval_set = EvalSet.objects.create(
        project=project, name=(name or f"{source} eval set")[:200], source=source, size=len(examples),
        created_by=actor,
    )  # fmt: skip
    EvalExample.objects.bulk_create(
        [
            EvalExample(
                eval_set=eval_set,
                position=i,
                messages=e["messages"],
                reference=e.get("reference", ""),
                chosen=e.get("chosen", ""),
                rejected=e.get("rejected", ""),
                group=e.get("group", "")[:200],
                provenance=e.get("provenance", {}),
            )  # fmt: skip
            for i, e in enumerate(examples)
        ]
    )
    audit.record(
        actor=actor, project=project, verb="evalset.created", obj=eval_set, source=source, size=len(examples)
    )
    return eval_set


def create_from_production(*, project, actor, name="", limit=200) -> EvalSet:
    """Production samples never selected for review (held out from the loop), newest first."""
    samples = ProductionSample.objects.filter(project=project, selected_batch__isnull=True, item__isnull=True)
    examples = [
        {
            "messages": s.messages,
            "reference": s.edited_text,
            "provenance": {"production_sample": s.pk, "model_version": s.model_version},
        }
        for s in samples.order_by("-id")[: int(limit)]
    ]
    return _create(
        project=project, actor=actor, name=name, source=EvalSetSource.PRODUCTION, examples=examples
    )


def trained_item_ids(project) -> set[int]:
    """Items that any snapshot of the project took a row from."""
    ids = set()
    for provenance in SnapshotRow.objects.filter(snapshot__project=project).values_list(
        "provenance", flat=True
    ):
        if isinstance(provenance, dict) and provenance.get("item_id") is not None:
            ids.add(int(provenance["item_id"]))
    return ids


def create_from_reviewed(*, project, actor, name="", limit=200) -> EvalSet:
    """Approved SFT items (the accepted or edited answer as reference) and comparison items with an
    approved preference pair (a held-out pair), none of which any snapshot used."""
    used = trained_item_ids(project)
    examples = []
    sft = Item.objects.filter(project=project, kind="sft", state=ItemState.APPROVED).exclude(pk__in=used)
    for item in sft.prefetch_related("responses").order_by("id")[: int(limit)]:
        final = item.resolution or {}
        text = final.get("text") or next((r.text for r in item.responses.all() if r.shown), "")
        if final.get("decision") == "reject":
            text = ""
        examples.append({"messages": item.messages, "reference": text, "provenance": {"item_id": item.pk}})
    pairs = (
        PreferencePair.objects.filter(project=project, status=PairStatus.APPROVED, is_stale=False)
        .exclude(item_id__in=used)
        .select_related("item", "chosen", "rejected")
        .order_by("item_id", "id")
    )
    seen = set()
    for pair in pairs:
        if pair.item_id in seen or len(examples) >= int(limit):
            continue
        seen.add(pair.item_id)
        examples.append(
            {
                "messages": pair.item.messages,
                "chosen": pair.chosen_text_override or pair.chosen.text,
                "rejected": pair.rejected.text,
                "provenance": {"item_id": pair.item_id, "pair_id": pair.pk},
            }
        )
    return _create(project=project, actor=actor, name=name, source=EvalSetSource.REVIEWED, examples=examples)


def import_eval_set(*, project, actor, text: str, name="") -> EvalSet:
    """All or nothing: ImportFailed (400 with line-numbered errors) or the new set."""
    require_evaluate(actor, project)
    examples = parse_eval_jsonl(text)
    for i, e in enumerate(examples):
        e["provenance"] = {"line": i + 1}
    return _create(project=project, actor=actor, name=name, source=EvalSetSource.IMPORTED, examples=examples)


def embedder():
    return import_string(settings.TUNELOOP_EMBEDDER)


def check_leakage(eval_set, version, *, embed=None, threshold=None) -> dict:
    """Overlap of the set's prompts with the version's training snapshot (both splits): {"checked",
    "snapshot", "exact", "near", "threshold", "rows": [{example, position, split, kind, cosine,
    prompt, train_prompt}]}. Nothing to compare when the version has no snapshot."""
    threshold = settings.TUNELOOP_EVAL_LEAKAGE_COSINE if threshold is None else threshold
    examples = list(eval_set.examples.order_by("position"))
    if version.snapshot_id is None:
        return {"checked": False, "snapshot": None, "exact": 0, "near": 0, "threshold": threshold, "rows": []}
    rows = list(SnapshotRow.objects.filter(snapshot_id=version.snapshot_id).order_by("split", "position"))
    train_keys = [pipeline.prompt_key(r.data) for r in rows]
    train_texts = [_row_prompt(r.data) for r in rows]
    eval_keys = [pipeline.prompt_key({"messages": e.messages}) for e in examples]
    eval_texts = [_last_user(e.messages) for e in examples]
    found = leakage.find_leaks(
        eval_keys, eval_texts, train_keys, train_texts, embed=embed or embedder(), threshold=threshold
    )
    listed = [
        {
            "example": examples[f["eval_index"]].pk,
            "position": examples[f["eval_index"]].position,
            "split": rows[f["train_index"]].split,
            "row_position": rows[f["train_index"]].position,
            "kind": f["kind"],
            "cosine": f["cosine"],
            "prompt": eval_texts[f["eval_index"]],
            "train_prompt": train_texts[f["train_index"]],
        }  # fmt: skip
        for f in found
    ]
    return {
        "checked": True, "snapshot": version.snapshot_id, "threshold": threshold,
        "exact": sum(1 for f in found if f["kind"] == "exact"),
        "near": sum(1 for f in found if f["kind"] == "near"), "rows": listed,
    }  # fmt: skip


def few_shot_examples(project, *, exclude=None, n: int = 3) -> list[tuple[list[dict], str]]:
    """The prompting baseline's shots: up to n approved SFT items with their final (accepted or edited)
    answer, none of them in the eval set being scored."""
    skip = set()
    if exclude is not None:
        for provenance in exclude.examples.values_list("provenance", flat=True):
            if isinstance(provenance, dict) and provenance.get("item_id") is not None:
                skip.add(provenance["item_id"])
    shots = []
    items = Item.objects.filter(project=project, kind="sft", state=ItemState.APPROVED).exclude(pk__in=skip)
    for item in items.prefetch_related("responses").order_by("id"):
        final = item.resolution or {}
        if final.get("decision") == "reject":
            continue
        text = final.get("text") or next((r.text for r in item.responses.all() if r.shown), "")
        if text:
            shots.append((item.messages, text))
        if len(shots) >= n:
            break
    return shots
