"""Selection write path: a lead's budget and strategy -> chosen samples -> items in the queue.

`select` picks (selection.choose) among the project's unselected, embedded samples, skipping
near-duplicates of items already in the project (reviewed or queued) and of selected samples, and
reserves them for a SelectionBatch. `materialize` then turns them into items through the item
lifecycle, at the project's item priority (TUNELOOP_AL_ITEM_PRIORITY) so they come first: SFT review of the production output,
or an item of the project's many-responses kind (the production output against a fresh generation,
or the margin's two sampled responses). Why each was chosen goes into the item's metadata under
"active_learning"; the annotator's task never carries the metadata (annotation.kinds.task).
"""

import numpy as np
from django.db import transaction

from annotation.active_learning import selection
from annotation.active_learning.models import (
    ItemEmbedding,
    ProductionSample,
    SampleScore,
    ScoreKind,
    SelectionBatch,
)
from annotation.active_learning.scores import current_model, project_settings
from annotation.core import audit
from annotation.core.errors import InvalidInput
from annotation.core.permissions import require
from annotation.importing.parse import content_hash
from annotation.kinds import registry
from annotation.models import Item, Response
from annotation.queue import lifecycle

MAX_BUDGET = 1000
Output = SelectionBatch.Output
SIGNAL_NAMES = ("entropy", "logprob", "quality", "committee", "margin")


def pair_kind() -> str:
    """The registered kind whose items hold several responses (registered by preferences)."""
    name = registry.listing_responses()
    if name is None:
        raise InvalidInput(errors={"output": ["No kind with several responses is registered."]})
    return name


def reason_text(why: dict, sample: ProductionSample) -> str:
    """One line a lead reads: the strategy, the priority and rank, the signals and the feedback."""
    parts = [
        f"{why['strategy']}: priority {why['priority']:.2f} (rank {why['priority_rank']} of {why['of']})"
    ]
    if why.get("distance") is not None:
        parts.append(f"distance {why['distance']:.2f} from reviewed/selected")
    signals = [f"{n} {getattr(sample, n):.3g}" for n in SIGNAL_NAMES if getattr(sample, n) is not None]
    if signals:
        parts.append(", ".join(signals))
    feedback = [
        w
        for w, on in (
            ("thumbs down", sample.thumbs == "down"),
            ("retried", sample.retried),
            ("edited", bool(sample.edited_text)),
        )
        if on
    ]
    if feedback:
        parts.append("feedback: " + ", ".join(feedback))
    return "; ".join(parts)


def reference_embeddings(project) -> np.ndarray:
    """Embeddings of what reviewers already have: the project's items and its selected samples."""
    blobs = list(ItemEmbedding.objects.filter(item__project=project).values_list("vector", flat=True))
    blobs += list(
        ProductionSample.objects.filter(
            project=project, selected_batch__isnull=False, embedding__isnull=False
        ).values_list("embedding", flat=True)
    )
    return selection.from_bytes(bytes(b) for b in blobs)


@transaction.atomic
def select(
    *,
    project,
    actor,
    strategy: str,
    budget: int,
    output: str = Output.REVIEW,
    seed: int = 0,
    pool_factor: int = 3,
) -> SelectionBatch:
    """Choose up to `budget` samples by `strategy` and reserve them in a new batch; items are made
    at once, or by the `materialize_batch` task when fresh generations are needed (the caller queues
    it: see `needs_generation`)."""
    require(actor, "select_samples", project)
    errors = {}
    if strategy not in selection.STRATEGIES:
        errors["strategy"] = [f"Must be one of: {', '.join(selection.STRATEGIES)}."]
    if output not in Output.values:
        errors["output"] = [f"Must be one of: {', '.join(Output.values)}."]
    if not isinstance(budget, int) or not 1 <= budget <= MAX_BUDGET:
        errors["budget"] = [f"Must be a whole number from 1 to {MAX_BUDGET}."]
    if errors:
        raise InvalidInput(errors=errors)
    if output != Output.REVIEW:
        pair_kind()
    candidates = ProductionSample.objects.filter(
        project=project, selected_batch__isnull=True, embedding__isnull=False
    )
    if output == Output.MARGIN_PAIR:
        with_margin = SampleScore.objects.filter(kind=ScoreKind.MARGIN, model_version=current_model(project))
        candidates = candidates.filter(pk__in=with_margin.values("sample_id"))
    rows = list(candidates.order_by("id").values_list("id", "embedding", "priority"))
    if not rows:
        raise InvalidInput(
            errors={"budget": ["No scored, unselected samples to choose from (score them first)."]}
        )
    ids = [r[0] for r in rows]
    X = selection.from_bytes(bytes(r[1]) for r in rows)
    priority = np.array([r[2] if r[2] is not None else 0.0 for r in rows])
    threshold = project_settings(project)["duplicate_threshold"]
    picks = selection.choose(
        strategy,
        budget=budget,
        embeddings=X,
        priority=priority,
        reference=reference_embeddings(project),
        duplicate_threshold=threshold,
        seed=seed,
        pool_factor=pool_factor,
    )
    batch = SelectionBatch.objects.create(
        project=project,
        strategy=strategy,
        output=output,
        budget=budget,
        params={
            "seed": seed,
            "pool_factor": pool_factor,
            "duplicate_threshold": threshold,
            "candidates": len(rows),
        },
        created_by=actor,
    )
    samples = {s.pk: s for s in ProductionSample.objects.filter(pk__in=[ids[i] for i, _ in picks])}
    chosen = []
    for i, why in picks:
        sample = samples[ids[i]]
        sample.selected_batch = batch
        sample.selection_reason = {**why, "text": reason_text(why, sample)}
        chosen.append(sample)
    ProductionSample.objects.bulk_update(chosen, ["selected_batch", "selection_reason"])
    batch.n_selected = len(chosen)
    batch.save(update_fields=["n_selected"])
    audit.record(
        actor=actor,
        project=project,
        verb="samples.selected",
        obj=batch,
        strategy=strategy,
        budget=budget,
        selected=len(chosen),
    )
    if not needs_generation(batch):
        materialize(batch)
    return batch


def needs_generation(batch: SelectionBatch) -> bool:
    return batch.output == Output.VERSUS_FRESH


def fresh_generations(project, samples) -> list[str]:
    """Greedy generations of the current model for the samples' conversations (worker only)."""
    from llm import generate, load_model  # deferred: torch loads in the worker only

    model, tokenizer = load_model(current_model(project))
    return generate(model, tokenizer, [s.messages for s in samples], max_new_tokens=128)


def _responses(batch, sample, margin, fresh):
    """(responses [{text, model, params}], position the model preferred or None)."""
    own = {"text": sample.output, "model": sample.model_version or "production", "params": {}}
    if batch.output == Output.REVIEW:
        return [own], None
    if batch.output == Output.VERSUS_FRESH:
        model = current_model(batch.project)
        return [own, {"text": fresh, "model": model, "params": {"decoding": "greedy"}}], 0
    details = margin.details
    rewards = details.get("rewards") or [0.0, 0.0]
    params = {
        "decoding": "sampling",
        "temperature": details.get("temperature"),
        "margin_method": details.get("method"),
    }
    model = margin.model_version
    responses = [{"text": t, "model": model, "params": params} for t in details["responses"]]
    return responses, int(np.argmax(rewards))


@transaction.atomic
def materialize(batch: SelectionBatch, *, fresh: dict[int, str] | None = None) -> int:
    """Create the items of a batch's samples that have none (fresh: sample id -> generation for a
    versus_fresh batch). Items whose content an item of the project already has are linked to it."""
    project = batch.project
    samples = list(batch.samples.filter(item__isnull=True).order_by("id"))
    if batch.output == Output.VERSUS_FRESH and fresh is None:
        fresh = dict(zip([s.pk for s in samples], fresh_generations(project, samples), strict=True))
    margins = {}
    if batch.output == Output.MARGIN_PAIR:
        margins = {
            m.sample_id: m
            for m in SampleScore.objects.filter(
                sample__in=samples, kind=ScoreKind.MARGIN, model_version=current_model(project)
            )
        }
    kind = "sft" if batch.output == Output.REVIEW else pair_kind()
    item_priority = project_settings(project)["item_priority"]
    planned = []
    for sample in samples:
        responses, preferred = _responses(
            batch, sample, margins.get(sample.pk), (fresh or {}).get(sample.pk, "")
        )
        key = content_hash(kind, sample.messages, [{"text": r["text"]} for r in responses])
        planned.append((sample, responses, preferred, key))
    existing = dict(
        Item.objects.filter(project=project, content_hash__in=[p[3] for p in planned]).values_list(
            "content_hash", "id"
        )
    )
    fresh_rows, seen = [], set(existing)
    for sample, responses, preferred, key in planned:
        if key in seen:
            continue
        seen.add(key)
        reason = sample.selection_reason or {}
        meta = {
            "sample": sample.pk,
            "batch": batch.pk,
            "strategy": batch.strategy,
            "reason": reason.get("text", ""),
            "why": reason,
        }
        if preferred is not None:
            meta["model_preferred_position"] = preferred
        fresh_rows.append(
            (
                sample,
                responses,
                dict(
                    kind=kind,
                    messages=sample.messages,
                    external_id=sample.external_id,
                    content_hash=key,
                    metadata={"active_learning": meta},
                    priority=item_priority,
                    source=f"active learning batch {batch.pk}",
                ),
            )
        )
    items = lifecycle.create_items(project, [row for _, _, row in fresh_rows])
    by_hash = dict(
        Item.objects.filter(
            project=project, content_hash__in=[r[2]["content_hash"] for r in fresh_rows]
        ).values_list("content_hash", "id")
    )
    Response.objects.bulk_create(
        [
            Response(
                item_id=by_hash[row["content_hash"]],
                position=pos,
                text=r["text"],
                model_name=r["model"],
                generation_params=r["params"],
            )
            for (_, responses, row) in fresh_rows
            for pos, r in enumerate(responses)
        ]
    )
    by_hash.update(existing)
    for sample, _, _, key in planned:
        sample.item_id = by_hash.get(key)
    ProductionSample.objects.bulk_update(samples, ["item"])
    batch.n_items = len(items)
    batch.state = SelectionBatch.State.DONE
    batch.save(update_fields=["n_items", "state"])
    return len(items)
