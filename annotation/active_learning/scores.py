"""Scoring write paths: embeddings, model uncertainty, committee disagreement, preference margins
and the priority. Workers claim chunks of the backlog (`claim`), so several share a large one.

A score is stored per (sample, kind, model version) and never recomputed for the same version: the
claim skips samples that already have it, and the unique constraint refuses a second row.
The model is the project's current model pointer (`Project.current_model_path`, written by
training on promotion), else its base model; llm/ loads it (torch loads in the worker only).
"""

from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from annotation.active_learning import scoring, selection
from annotation.active_learning.models import (
    ActiveLearningSettings,
    ItemEmbedding,
    ProductionSample,
    SampleScore,
    ScoreKind,
)
from annotation.models import Item

CLAIM_SECONDS = 900
MARGIN_TEMPERATURE = 0.8


def current_model(project) -> str:
    return project.current_model_path or project.base_model


def base_model(project) -> str:
    return project.base_model


def embedder_name() -> str:
    return settings.TUNELOOP_EMBEDDER


def embed(texts: list[str]) -> np.ndarray:
    return np.asarray(import_string(settings.TUNELOOP_EMBEDDER)(list(texts)), dtype=np.float32)


def sample_text(prompt: str, output: str) -> str:
    return f"{prompt}\n\n{output}"


def project_settings(project) -> dict:
    row = ActiveLearningSettings.objects.filter(project=project).first()
    return {
        "retrain_every": row.retrain_every if row else settings.TUNELOOP_AL_RETRAIN_EVERY,
        "weights": {
            **scoring.DEFAULT_WEIGHTS,
            **settings.TUNELOOP_AL_WEIGHTS,
            **(row.weights if row else {}),
        },
        "duplicate_threshold": row.duplicate_threshold if row else settings.TUNELOOP_AL_DUPLICATE_COSINE,
        "item_priority": row.item_priority
        if row and row.item_priority is not None
        else settings.TUNELOOP_AL_ITEM_PRIORITY,
        "default_output": (row.default_output if row else "") or "review",
    }


# --- embeddings -------------------------------------------------------------------------------


def embed_pending(project, *, batch: int = 256) -> int:
    """Embed the project's samples that have no embedding yet, and its items (prompt and first
    response) that have none; the number embedded."""
    done = 0
    while True:
        rows = list(
            ProductionSample.objects.filter(project=project, embedding__isnull=True).values_list(
                "id", "prompt", "output"
            )[:batch]
        )
        if not rows:
            break
        vectors = embed([sample_text(p, o) for _, p, o in rows])
        objs = [
            ProductionSample(pk=pk, embedding=selection.to_bytes(v))
            for (pk, _, _), v in zip(rows, vectors, strict=True)
        ]
        ProductionSample.objects.bulk_update(objs, ["embedding"])
        done += len(rows)
    missing = Item.objects.filter(project=project).filter(
        ~Exists(ItemEmbedding.objects.filter(item=OuterRef("pk")))
    )
    while True:
        items = list(missing.prefetch_related("responses")[:batch])
        if not items:
            break
        texts = []
        for item in items:
            first = next(iter(item.responses.all()), None)
            texts.append(sample_text(item.prompt_text, first.text if first else ""))
        vectors = embed(texts)
        ItemEmbedding.objects.bulk_create(
            [
                ItemEmbedding(item=i, vector=selection.to_bytes(v), embedder=embedder_name())
                for i, v in zip(items, vectors, strict=True)
            ],
            ignore_conflicts=True,
        )
        done += len(items)
    return done


def scoring_status(project) -> dict:
    """How far the backlog is scored by the current model: {"model", "total", "scored", "pending"}
    (the explorer's live line after "Score the backlog"; two counts)."""
    model = current_model(project)
    samples = ProductionSample.objects.filter(project=project)
    total = samples.count()
    scored = (
        SampleScore.objects.filter(sample__project=project, kind=ScoreKind.UNCERTAINTY, model_version=model)
        .values("sample")
        .distinct()
        .count()
    )
    return {"model": model, "total": total, "scored": scored, "pending": max(total - scored, 0)}


# --- chunk claims -----------------------------------------------------------------------------


def claim(project, *, kind: str, version: str, size: int | None = None) -> list[int]:
    """Claim up to `size` samples that have no `kind` score by `version` and that no other worker
    holds; SKIP LOCKED on PostgreSQL, serialised writers on SQLite. The claim lasts CLAIM_SECONDS."""
    size = size or settings.TUNELOOP_AL_CHUNK_SIZE
    now = timezone.now()
    scored = SampleScore.objects.filter(sample=OuterRef("pk"), kind=kind, model_version=version)
    with transaction.atomic():
        qs = (
            ProductionSample.objects.filter(project=project)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .filter(~Exists(scored))
            .order_by("id")
        )
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        ids = list(qs.values_list("id", flat=True)[:size])
        ProductionSample.objects.filter(pk__in=ids).update(
            claimed_until=now + timedelta(seconds=CLAIM_SECONDS)
        )
    return ids


def release(ids) -> None:
    ProductionSample.objects.filter(pk__in=list(ids)).update(claimed_until=None)


# --- model uncertainty and committee ----------------------------------------------------------


def _loaded(model_ref, cache):
    if model_ref not in cache:
        from llm import load_model  # deferred: torch and transformers load in the worker only

        cache[model_ref] = load_model(model_ref)
    return cache[model_ref]


def _stats(model_ref, cache, conversations, outputs):
    """(summed log-probability, mean log-probability per token, mean token entropy) per output."""
    from llm import response_stats  # deferred: torch loads in the worker only

    model, tokenizer = _loaded(model_ref, cache)
    stats = response_stats(model, tokenizer, conversations, outputs)
    counts = [max(len(tokenizer(o, add_special_tokens=False).input_ids), 1) for o in outputs]
    return [(lp, lp / n, h) for (lp, h), n in zip(stats, counts, strict=True)]


def score_uncertainty_chunk(project, ids, *, model_ref: str, cache: dict) -> int:
    """Entropy and log-probability of each claimed sample's output under `model_ref`; stored and
    copied onto the sample when `model_ref` is the project's current model. Returns rows stored."""
    samples = list(ProductionSample.objects.filter(pk__in=ids).order_by("id"))
    if not samples:
        return 0
    stats = _stats(model_ref, cache, [s.messages for s in samples], [s.output for s in samples])
    rows = [
        SampleScore(
            sample=s,
            kind=ScoreKind.UNCERTAINTY,
            model_version=model_ref,
            entropy=h,
            logprob=mean,
            logprob_sum=lp,
        )
        for s, (lp, mean, h) in zip(samples, stats, strict=True)
    ]
    SampleScore.objects.bulk_create(rows, ignore_conflicts=True)
    if model_ref == current_model(project):
        for s, (_, mean, h) in zip(samples, stats, strict=True):
            s.entropy, s.logprob, s.claimed_until = h, mean, None
        ProductionSample.objects.bulk_update(samples, ["entropy", "logprob", "claimed_until"])
    else:
        release(ids)
    return len(rows)


def update_committee(project) -> int:
    """Committee disagreement for samples scored by both the base and the current model (only when
    the project has two model versions: a promoted model differs from the base)."""
    current, base = current_model(project), base_model(project)
    if current == base:
        return 0
    label = f"{base} | {current}"[:500]
    by_version = {}
    for sample_id, version, mean in SampleScore.objects.filter(
        sample__project=project, kind=ScoreKind.UNCERTAINTY, model_version__in=[current, base]
    ).values_list("sample_id", "model_version", "logprob"):
        by_version.setdefault(sample_id, {})[version] = mean
    done = set(
        SampleScore.objects.filter(
            sample__project=project, kind=ScoreKind.COMMITTEE, model_version=label
        ).values_list("sample_id", flat=True)
    )
    rows, updates = [], []
    for sample_id, versions in by_version.items():
        if len(versions) < 2 or sample_id in done:
            continue
        value = scoring.committee_disagreement(versions[current], versions[base])
        rows.append(
            SampleScore(sample_id=sample_id, kind=ScoreKind.COMMITTEE, model_version=label, value=value)
        )
        updates.append(ProductionSample(pk=sample_id, committee=value))
    SampleScore.objects.bulk_create(rows, ignore_conflicts=True)
    ProductionSample.objects.bulk_update(updates, ["committee"], batch_size=500)
    return len(rows)


def score_uncertainty_backlog(project, *, max_chunks: int | None = None) -> int:
    """Claim and score chunks until none is left (or `max_chunks`): the current model, and the base
    too when a promoted model differs from it (for the committee). Returns rows stored."""
    cache, stored, chunks = {}, 0, 0
    versions = [current_model(project)]
    if base_model(project) not in versions:
        versions.append(base_model(project))
    for version in versions:
        while max_chunks is None or chunks < max_chunks:
            ids = claim(project, kind=ScoreKind.UNCERTAINTY, version=version)
            if not ids:
                break
            try:
                stored += score_uncertainty_chunk(project, ids, model_ref=version, cache=cache)
            except Exception:
                release(ids)
                raise
            chunks += 1
    update_committee(project)
    return stored


# --- preference margin ------------------------------------------------------------------------


def score_margin_chunk(project, ids, *, cache: dict, quality_predict=None, max_new_tokens: int = 64) -> int:
    """Sample two responses per prompt from the current model and measure how far apart it puts
    them: the gap in implicit reward (log-probability under the current model minus under the base)
    when a promoted model exists, else the quality model's gap, else the gap in mean log-probability.
    A small margin is an informative pair (a comparison item for DPO when selected)."""
    from llm import generate  # deferred: torch loads in the worker only

    samples = list(ProductionSample.objects.filter(pk__in=ids).order_by("id"))
    if not samples:
        return 0
    current, base = current_model(project), base_model(project)
    model, tokenizer = _loaded(current, cache)
    convs = [s.messages for s in samples]
    first = generate(
        model, tokenizer, convs, max_new_tokens=max_new_tokens, temperature=MARGIN_TEMPERATURE, seed=1
    )
    second = generate(
        model, tokenizer, convs, max_new_tokens=max_new_tokens, temperature=MARGIN_TEMPERATURE, seed=2
    )
    stats_a = _stats(current, cache, convs, first)
    stats_b = _stats(current, cache, convs, second)
    if current != base:
        ref_a, ref_b = _stats(base, cache, convs, first), _stats(base, cache, convs, second)
        rewards = [
            (scoring.implicit_reward(a[0], ra[0]), scoring.implicit_reward(b[0], rb[0]))
            for a, b, ra, rb in zip(stats_a, stats_b, ref_a, ref_b, strict=True)
        ]
        method = "implicit_reward"
    elif quality_predict is not None:
        qa = quality_predict([sample_text(s.prompt, t) for s, t in zip(samples, first, strict=True)])
        qb = quality_predict([sample_text(s.prompt, t) for s, t in zip(samples, second, strict=True)])
        rewards = list(zip(map(float, qa), map(float, qb), strict=True))
        method = "quality_model"
    else:
        rewards = [(a[1], b[1]) for a, b in zip(stats_a, stats_b, strict=True)]
        method = "mean_logprob"
    rows = []
    for s, ta, tb, (ra, rb) in zip(samples, first, second, rewards, strict=True):
        s.margin, s.claimed_until = abs(ra - rb), None
        rows.append(
            SampleScore(
                sample=s,
                kind=ScoreKind.MARGIN,
                model_version=current,
                value=abs(ra - rb),
                details={
                    "responses": [ta, tb],
                    "rewards": [ra, rb],
                    "method": method,
                    "temperature": MARGIN_TEMPERATURE,
                },
            )
        )
    SampleScore.objects.bulk_create(rows, ignore_conflicts=True)
    ProductionSample.objects.bulk_update(samples, ["margin", "claimed_until"])
    return len(rows)


def score_margin_backlog(project, *, quality_predict=None, max_chunks: int | None = None) -> int:
    cache, stored, chunks = {}, 0, 0
    while max_chunks is None or chunks < max_chunks:
        ids = claim(project, kind=ScoreKind.MARGIN, version=current_model(project))
        if not ids:
            break
        try:
            stored += score_margin_chunk(project, ids, cache=cache, quality_predict=quality_predict)
        except Exception:
            release(ids)
            raise
        chunks += 1
    return stored


# --- the priority -----------------------------------------------------------------------------


def update_priorities(project) -> int:
    """Recompute every sample's priority from its latest signals (scoring.priorities)."""
    rows = list(
        ProductionSample.objects.filter(project=project).values_list(
            "id", "entropy", "logprob", "quality", "committee", "margin", "thumbs", "retried", "edited_text"
        )
    )
    if not rows:
        return 0
    columns = list(zip(*rows, strict=True))
    signals = {
        "entropy": list(columns[1]),
        "logprob": list(columns[2]),
        "quality": list(columns[3]),
        "committee": list(columns[4]),
        "margin": list(columns[5]),
        "feedback": [
            scoring.feedback_signal(thumbs=t, retried=r, edited=bool(e))
            for t, r, e in zip(columns[6], columns[7], columns[8], strict=True)
        ],
    }
    values = scoring.priorities(signals, project_settings(project)["weights"])
    ProductionSample.objects.bulk_update(
        [ProductionSample(pk=pk, priority=float(v)) for pk, v in zip(columns[0], values, strict=True)],
        ["priority"],
        batch_size=1000,
    )
    return len(rows)
