"""Write paths of the training app: one function per use case, keyword-only, one transaction each.

Snapshots are built from approved SFT items or approved preference pairs and frozen; runs are
validated (config and rows) before anything is queued, then executed by `training.tasks` on the
`gpu` queue, which reports back through `mark_running`, `record_progress`, `finish_run`, `fail_run`.
"""

import dataclasses
import hashlib
import json
import random
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.core import audit
from annotation.core.errors import Conflict, Forbidden, InvalidInput
from annotation.core.permissions import can
from annotation.models import FLAG_CHOICES

from . import selectors
from .models import (
    DatasetSnapshot,
    ModelVersion,
    RunMetric,
    RunState,
    SnapshotKind,
    SnapshotRow,
    Split,
    TrainingRun,
)

VIEW_ACTION = "view_training"  # annotation.permissions.ACTIONS: lead and up
TRAIN_ACTION = "train"  # lead and up
REPLAY_PATH = Path(__file__).resolve().parent / "data" / "general.jsonl"
LOG_TAIL_CHARS = 8000


def _require(user, action, project):
    if not can(user, action, project):
        raise Forbidden("Your role does not allow you to train models in this project.")


def _pipeline():
    """The pure training pipeline, imported on first use (it pulls torch and TRL)."""
    from training import pipeline

    return pipeline


def _pipeline_data():
    from training.pipeline import data

    return data


# --- snapshot filters ------------------------------------------------------------------------------

SNAPSHOT_DEFAULTS = {
    "rubric_version": None,  # judgments (SFT) / pairs (DPO) under this rubric version number only
    "min_agreement": 0.0,  # SFT: share of current judgments that accept or edit
    "min_confidence": 0.0,  # DPO: pair confidence
    "include_candidates": False,  # DPO: also candidate pairs with confidence >= candidate_min_confidence
    "candidate_min_confidence": 0.8,
    "criterion": "",  # DPO: "" = the overall preference, "*" = any criterion
    "exclude_flags": ["pii", "unsafe"],
    "date_from": None,  # ISO dates; compared with the latest judgment on the item
    "date_to": None,
    "dedupe": True,
    "near_dup_threshold": 0.95,  # MiniLM cosine between prompts; 1.0 turns near-dedupe off
    "val_fraction": 0.1,
    "seed": 0,
    "replay_fraction": 0.0,  # SFT: share of the training split taken from training/data/general.jsonl
    "redact_pii": False,
    "drop_pii": False,
    "max_rows": None,
}


def _as_float(value, field, errors, lo, hi):
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors.setdefault(field, []).append("Enter a number.")
        return None
    if not lo <= number <= hi:
        errors.setdefault(field, []).append(f"Must be between {lo} and {hi}.")
    return number


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _as_date(value, field, errors):
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        errors.setdefault(field, []).append("Enter a date as YYYY-MM-DD.")
        return None


def clean_snapshot_filters(kind: str, filters: dict | None) -> dict:
    """Filters with defaults filled in and types checked; raises InvalidInput with field messages."""
    filters = dict(filters or {})
    errors: dict[str, list[str]] = {}
    if kind not in SnapshotKind.values:
        raise InvalidInput(errors={"kind": [f"Choose one of {', '.join(SnapshotKind.values)}."]})
    unknown = sorted(set(filters) - set(SNAPSHOT_DEFAULTS))
    for key in unknown:
        errors[key] = ["Unknown filter."]
    out = {**SNAPSHOT_DEFAULTS, **{k: v for k, v in filters.items() if k in SNAPSHOT_DEFAULTS}}
    rv = out["rubric_version"]
    if rv in ("", None):
        out["rubric_version"] = None
    else:
        try:
            out["rubric_version"] = int(rv)
        except (TypeError, ValueError):
            errors["rubric_version"] = ["Enter a rubric version number."]
    for key, lo, hi in (
        ("min_agreement", 0, 1),
        ("min_confidence", 0, 1),
        ("candidate_min_confidence", 0, 1),
        ("near_dup_threshold", 0, 1),
        ("val_fraction", 0, 0.9),
        ("replay_fraction", 0, 0.9),
    ):
        out[key] = _as_float(out[key], key, errors, lo, hi)
    for key in ("include_candidates", "dedupe", "redact_pii", "drop_pii"):
        out[key] = _as_bool(out[key])
    try:
        out["seed"] = int(out["seed"])
    except (TypeError, ValueError):
        errors["seed"] = ["Enter a whole number."]
    if out["max_rows"] not in (None, ""):
        try:
            out["max_rows"] = int(out["max_rows"])
            if out["max_rows"] < 1:
                errors["max_rows"] = ["Must be at least 1."]
        except (TypeError, ValueError):
            errors["max_rows"] = ["Enter a whole number."]
    else:
        out["max_rows"] = None
    flags = out["exclude_flags"]
    if isinstance(flags, str):
        flags = [f.strip() for f in flags.split(",") if f.strip()]
    flags = list(flags or [])
    bad = [f for f in flags if f not in FLAG_CHOICES]
    if bad:
        errors["exclude_flags"] = [f"Unknown flag(s): {', '.join(map(str, bad))}."]
    out["exclude_flags"] = sorted(set(flags) - set(bad))
    out["criterion"] = str(out["criterion"] or "").strip()
    out["date_from"] = _as_date(out["date_from"], "date_from", errors)
    out["date_to"] = _as_date(out["date_to"], "date_to", errors)
    if out["date_from"] and out["date_to"] and out["date_from"] > out["date_to"]:
        errors.setdefault("date_to", []).append("Must not be before date_from.")
    if kind == SnapshotKind.DPO and out["replay_fraction"]:
        errors.setdefault("replay_fraction", []).append(
            "Replay mixes in SFT examples; DPO snapshots have none."
        )
    if errors:
        raise InvalidInput(errors=errors)
    return out


# --- building a snapshot ---------------------------------------------------------------------------


def _row_hash(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _prompt_key(data) -> str:
    return json.dumps(data["messages"], sort_keys=True, ensure_ascii=False)


def _prompt_text(data) -> str:
    return "\n".join(m["content"] for m in data["messages"])


def _texts(data) -> list[tuple[str, str]]:
    """(field, text) of every string a row carries, message contents included."""
    out = [(f"messages[{i}]", m["content"]) for i, m in enumerate(data["messages"])]
    out += [(k, data[k]) for k in ("response", "chosen", "rejected") if k in data]
    return out


def _apply_redaction(data, redact) -> dict:
    data = json.loads(json.dumps(data))
    for message in data["messages"]:
        message["content"] = redact(message["content"])
    for key in ("response", "chosen", "rejected"):
        if key in data:
            data[key] = redact(data[key])
    return data


def _filter_reason(kind, meta, data, f) -> str | None:
    """Why a candidate is left out (a short key for the report), or None to keep it."""
    if meta["not_approved"]:
        return "not_approved"
    if kind == SnapshotKind.SFT and not data["response"].strip():
        return "empty_response"
    if kind == SnapshotKind.DPO:
        if not data["chosen"].strip() or not data["rejected"].strip():
            return "empty_response"
        if data["chosen"] == data["rejected"]:
            return "chosen_equals_rejected"
    if not any(m["role"] == "user" and m["content"].strip() for m in data["messages"]):
        return "no_prompt"
    if f["rubric_version"] is not None and meta["rubric_versions"] != [f["rubric_version"]]:
        return "rubric_version"
    for flag in f["exclude_flags"]:
        if flag in meta["flags"]:
            return f"flag:{flag}"
    if kind == SnapshotKind.SFT and meta["agreement"] < f["min_agreement"]:
        return "min_agreement"
    if kind == SnapshotKind.DPO:
        if meta["confidence"] < f["min_confidence"]:
            return "min_confidence"
        if f["criterion"] != "*" and meta["criterion"] != f["criterion"]:
            return "criterion"
    judged = meta["last_judged_at"]
    if judged is not None:
        day = judged.date().isoformat()
        if f["date_from"] and day < f["date_from"]:
            return "date_range"
        if f["date_to"] and day > f["date_to"]:
            return "date_range"
    elif f["date_from"] or f["date_to"]:
        return "date_range"
    return None


def load_replay_rows() -> list[dict]:
    rows = []
    with open(REPLAY_PATH, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def _histogram(values, bins: int = 12) -> list[dict]:
    if not values:
        return []
    lo, hi = min(values), max(values)
    width = max(1, -(-(hi - lo + 1) // bins))
    counts = Counter((v - lo) // width for v in values)
    return [
        {"lo": lo + i * width, "hi": lo + (i + 1) * width - 1, "count": counts.get(i, 0)}
        for i in range((hi - lo) // width + 1)
    ]


def _length_stats(rows, field) -> dict:
    values = sorted(len(r["data"][field]) for r in rows if field in r["data"])
    if not values:
        return {}
    return {
        "n": len(values),
        "min": values[0],
        "median": values[len(values) // 2],
        "mean": round(sum(values) / len(values), 1),
        "max": values[-1],
        "histogram": _histogram(values),
    }


def to_pipeline_rows(method: str, rows) -> list[dict]:
    """Snapshot rows (simple form) -> the pipeline's conversational rows."""
    out = []
    for row in rows:
        data = row["data"] if "data" in row else row
        messages = [dict(m) for m in data["messages"]]
        if method == SnapshotKind.SFT:
            out.append({"messages": messages + [{"role": "assistant", "content": data["response"]}]})
        else:
            out.append(
                {
                    "prompt": messages,
                    "chosen": [{"role": "assistant", "content": data["chosen"]}],
                    "rejected": [{"role": "assistant", "content": data["rejected"]}],
                }
            )
    return out


def _split(rows, val_fraction, seed):
    """Train / validation by prompt (no prompt on both sides), through the pipeline's splitter."""
    if val_fraction <= 0 or len({_prompt_key(r["data"]) for r in rows}) < 2:
        return rows, []
    data = _pipeline_data()
    train, val = data.split_by_prompt(
        rows, val_fraction=val_fraction, seed=seed, key=lambda r: _prompt_key(r["data"])
    )
    return list(train), list(val)


@transaction.atomic
def build_snapshot(
    *,
    project,
    actor,
    kind: str,
    filters: dict | None = None,
    name: str = "",
    embedder=None,
    reuse_identical: bool = False,
):
    """Freeze the project's approved data into a new DatasetSnapshot; returns it.

    `embedder` (texts -> vectors) is used for near-duplicate prompts; the bundled MiniLM by default.
    With `reuse_identical`, an existing snapshot of the same kind, filters and rows (content hash) is
    returned instead of a copy (the one-click DPO button pressed twice). Raises InvalidInput (field
    messages) for bad filters or when no row survives them.
    """
    _require(actor, TRAIN_ACTION, project)
    f = clean_snapshot_filters(kind, filters)
    if kind == SnapshotKind.SFT:
        sources = selectors.sft_sources(project)
    else:
        sources = selectors.dpo_sources(
            project,
            include_candidates=f["include_candidates"],
            candidate_min_confidence=f["candidate_min_confidence"],
        )
    dropped: Counter = Counter()
    examples: dict[str, list[dict]] = {}
    kept = []
    seen = {}
    considered = 0
    for candidate in sources:
        considered += 1
        reason = _filter_reason(kind, candidate["meta"], candidate["data"], f)
        if reason:
            dropped[reason] += 1
            examples.setdefault(reason, [])
            if len(examples[reason]) < 5:
                examples[reason].append(candidate["provenance"].get("item_id"))
            continue
        kept.append(candidate)

    # PII: detect everywhere; drop or redact when asked.
    pdata = _pipeline_data()
    pii_rows, pii_kinds = 0, Counter()
    cleaned = []
    for candidate in kept:
        found = {}
        for field, text in _texts(candidate["data"]):
            hits = pdata.detect_pii(text)
            if hits:
                found[field] = hits
        if found:
            pii_rows += 1
            for hits in found.values():
                for hit in hits:
                    pii_kinds[_pii_kind(hit)] += 1
            if f["drop_pii"]:
                dropped["pii"] += 1
                continue
            if f["redact_pii"]:
                candidate["data"] = _apply_redaction(candidate["data"], pdata.redact_pii)
                candidate["provenance"]["pii_redacted"] = sorted(found)
            else:
                candidate["provenance"]["pii_detected"] = sorted(found)
        cleaned.append(candidate)
    kept = cleaned

    # Exact duplicates (same row content), then near-duplicate prompts across items.
    exact = near = 0
    near_examples = []
    if f["dedupe"]:
        unique = []
        for candidate in kept:
            h = _row_hash(candidate["data"])
            if h in seen:
                exact += 1
                continue
            seen[h] = candidate
            unique.append(candidate)
        kept = unique
        if f["near_dup_threshold"] < 1.0 and len(kept) > 1:
            kept, near, near_examples = _drop_near_duplicates(kept, f["near_dup_threshold"], embedder)
    dropped.update({"exact_duplicate": exact} if exact else {})
    dropped.update({"near_duplicate": near} if near else {})
    if f["max_rows"] and len(kept) > f["max_rows"]:
        dropped["max_rows"] += len(kept) - f["max_rows"]
        kept = kept[: f["max_rows"]]
    if not kept:
        why = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in dropped.most_common()) or "no source data"
        raise InvalidInput(
            f"No rows: {considered} candidate(s), none left after the filters ({why}).",
            errors={"filters": [f"No rows match these filters: {considered} considered; dropped: {why}."]},
        )

    train, val = _split(kept, f["val_fraction"], f["seed"])
    replay = []
    if kind == SnapshotKind.SFT and f["replay_fraction"] > 0:
        pool = load_replay_rows()
        share = f["replay_fraction"]
        want = min(len(pool), max(1, round(share * len(train) / (1 - share))))
        rng = random.Random(f["seed"])
        for index in sorted(rng.sample(range(len(pool)), want)):
            replay.append(
                {
                    "data": pool[index],
                    "provenance": {"source": "replay", "file": REPLAY_PATH.name, "line": index + 1},
                }
            )
        train = train + replay

    rows = [(Split.TRAIN, i, c) for i, c in enumerate(train)] + [
        (Split.VALIDATION, i, c) for i, c in enumerate(val)
    ]
    content_hash = hashlib.sha256(
        json.dumps([[s, c["data"]] for s, _, c in rows], sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    if reuse_identical:
        same = (
            DatasetSnapshot.objects.filter(project=project, kind=kind, content_hash=content_hash, filters=f)
            .order_by("-id")
            .first()
        )
        if same is not None:
            return same
    all_rows = [c for _, _, c in rows]
    train_prompts = {_prompt_key(c["data"]) for c in train}
    report = {
        "considered": considered,
        "kept": len(kept),
        "dropped": dict(dropped.most_common()),
        "dropped_examples": examples,
        "duplicates": {"exact": exact, "near": near, "near_examples": near_examples[:20]},
        "pii": {
            "rows": pii_rows,
            "kinds": dict(pii_kinds),
            "action": "dropped" if f["drop_pii"] else "redacted" if f["redact_pii"] else "kept",
        },
        "splits": {"train": len(train), "validation": len(val), "replay": len(replay)},
        "prompt_leakage": len(train_prompts & {_prompt_key(c["data"]) for c in val}),
        "lengths": {
            "prompt": _length_stats([{"data": {"p": _prompt_text(c["data"])}} for c in all_rows], "p"),
            **{
                field: _length_stats(all_rows, field)
                for field in (("response",) if kind == SnapshotKind.SFT else ("chosen", "rejected"))
            },
        },
        "diversity": {
            "unique_prompts": len({_prompt_key(c["data"]) for c in all_rows}),
            "distinct_first_words": len(
                {(_prompt_text(c["data"]).split() or [""])[0].lower() for c in all_rows}
            ),
        },
        "annotators": dict(
            Counter(a for c in all_rows for a in c["provenance"].get("annotators", [])).most_common()
        ),
        "sources": dict(Counter(c["provenance"].get("source", "") for c in all_rows)),
    }
    if kind == SnapshotKind.DPO:
        longer = sum(len(c["data"]["chosen"]) > len(c["data"]["rejected"]) for c in all_rows)
        report["balance"] = {
            "chosen_longer": longer,
            "chosen_longer_share": round(longer / len(all_rows), 3),
            "criteria": dict(Counter(c["provenance"].get("criterion") or "overall" for c in all_rows)),
            "pair_status": dict(Counter(c["provenance"].get("pair_status") for c in all_rows)),
        }
    else:
        report["balance"] = {
            "gold_from": dict(Counter(c["provenance"].get("gold_from", "replay") for c in all_rows))
        }
    try:
        report["pipeline"] = _jsonable(
            pdata.quality_report(to_pipeline_rows(kind, [c["data"] for c in all_rows]), kind)
        )
    except Exception as exc:  # the report is advisory: never lose a snapshot over it
        report["pipeline"] = {"error": str(exc)[:500]}

    snapshot = DatasetSnapshot.objects.create(
        project=project,
        kind=kind,
        name=(name or "").strip()[:200] or f"{kind.upper()} {timezone.now():%Y-%m-%d %H:%M}",
        filters=f,
        content_hash=content_hash,
        train_count=len(train),
        val_count=len(val),
        quality_report=report,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    SnapshotRow.objects.bulk_create(
        [
            SnapshotRow(
                snapshot=snapshot, split=split, position=pos, data=c["data"], provenance=c["provenance"]
            )
            for split, pos, c in rows
        ],
        batch_size=1000,
    )
    audit.record(
        actor=actor,
        project=project,
        verb="snapshot.created",
        obj=snapshot,
        kind=kind,
        train=len(train),
        validation=len(val),
        content_hash=content_hash,
    )
    return snapshot


def _pii_kind(hit) -> str:
    if isinstance(hit, dict):
        return str(hit.get("kind") or hit.get("type") or "pii")
    for attr in ("kind", "type", "label"):
        if hasattr(hit, attr):
            return str(getattr(hit, attr))
    if isinstance(hit, tuple | list) and hit:
        return str(hit[0])
    return str(hit) if isinstance(hit, str) else "pii"


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _drop_near_duplicates(kept, threshold, embedder):
    """Drop items whose prompt is a near duplicate (cosine >= threshold) of an earlier item's prompt.

    Rows of one item (several pairs of one comparison) share their prompt and are never compared."""
    from .embeddings import minilm_embedder, near_duplicates

    embedder = embedder or minilm_embedder
    order, texts = [], []
    for candidate in kept:
        key = (candidate["provenance"].get("item_id"), _prompt_key(candidate["data"]))
        if key not in order:
            order.append(key)
            texts.append(_prompt_text(candidate["data"]))
    dups = near_duplicates(embedder(texts), threshold)
    gone = {order[i]: (order[j], cos) for i, (j, cos) in dups.items()}
    out, removed, examples = [], 0, []
    for candidate in kept:
        key = (candidate["provenance"].get("item_id"), _prompt_key(candidate["data"]))
        if key in gone:
            removed += 1
            (kept_item, _), cos = gone[key]
            examples.append({"item_id": key[0], "duplicate_of": kept_item, "cosine": cos})
            continue
        out.append(candidate)
    return out, removed, examples


def snapshot_jsonl(snapshot, split: str | None = None):
    """Yield the snapshot's rows as JSON lines (streamed): {"split", "data", "provenance"}."""
    for row in selectors.snapshot_rows(snapshot, split).iterator(chunk_size=500):
        yield (
            json.dumps(
                {"split": row.split, "position": row.position, **row.data, "provenance": row.provenance},
                ensure_ascii=False,
            )
            + "\n"
        )


# --- runs --------------------------------------------------------------------------------------------

RUN_CONFIG_EXCLUDE = {"method", "output_dir"}


def run_output_dir(run_id) -> Path:
    return Path(settings.DATA_DIR) / "runs" / str(run_id)


def default_run_config(project, method: str) -> dict:
    """The run form's starting values: the pipeline's defaults for `method` on the project's model."""
    pipeline = _pipeline()
    cfg = pipeline.TrainConfig(method=method, base_model=project.base_model, output_dir="")
    out = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RUN_CONFIG_EXCLUDE}
    return _jsonable(out)


def _build_config(*, project, method, config: dict, output_dir: str):
    """(validated TrainConfig, init ModelVersion or None); raises InvalidInput with field messages."""
    pipeline = _pipeline()
    config = dict(config or {})
    errors: dict[str, list[str]] = {}
    init_version = None
    init_id = config.pop("init_model_version", None)
    if init_id not in (None, ""):
        init_version = ModelVersion.objects.filter(project=project, pk=_int_or_none(init_id)).first()
        if init_version is None:
            errors["init_model_version"] = ["No such model version in this project."]
        else:
            config["init_adapter"] = init_version.adapter_path
    config.setdefault("base_model", project.base_model)
    if init_version is not None and config["base_model"] != init_version.base_model:
        errors.setdefault("init_model_version", []).append(
            f"That version was trained on {init_version.base_model}, not {config['base_model']}."
        )
    fields = {f.name for f in dataclasses.fields(pipeline.TrainConfig)}
    for key in sorted(set(config) - fields | (set(config) & RUN_CONFIG_EXCLUDE)):
        errors[key] = ["Unknown or reserved field."]
        config.pop(key)
    cfg = None
    try:
        cfg = pipeline.validate_config(
            # the worker checks the GPU side (CUDA, bitsandbytes) on its own machine
            pipeline.TrainConfig(method=method, output_dir=output_dir, **config),
            check_environment=False,
        )
    except pipeline.ConfigError as exc:
        for key, messages in _config_errors(exc).items():
            errors.setdefault(key, []).extend(messages)
    except (TypeError, ValueError) as exc:
        errors.setdefault("config", []).append(str(exc))
    if errors:
        raise InvalidInput(errors=errors)
    return cfg, init_version


def _config_errors(exc) -> dict[str, list[str]]:
    errors = getattr(exc, "errors", None) or {"config": [str(exc)]}
    if isinstance(errors, list):
        errors = {"rows": [str(e) for e in errors]}
    return {str(k): [str(m) for m in (v if isinstance(v, list | tuple) else [v])] for k, v in errors.items()}


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _enqueue(run):
    from . import tasks

    task_id = str(uuid.uuid4())
    TrainingRun.objects.filter(pk=run.pk).update(celery_task_id=task_id)
    run.celery_task_id = task_id
    attempt = run.attempt
    transaction.on_commit(
        lambda: tasks.run_training_task.apply_async(args=[run.pk, attempt], task_id=task_id)
    )


@transaction.atomic
def start_run(*, project, actor, snapshot, config: dict | None = None, method: str | None = None):
    """Validate the config and the snapshot's rows, create a queued run, enqueue it after commit.

    Nothing is created or queued when validation fails (InvalidInput with field messages).
    """
    _require(actor, TRAIN_ACTION, project)
    if snapshot.project_id != project.pk:
        raise InvalidInput(errors={"snapshot": ["That snapshot belongs to another project."]})
    method = method or snapshot.kind
    if method not in SnapshotKind.values:
        raise InvalidInput(errors={"method": [f"Choose one of {', '.join(SnapshotKind.values)}."]})
    if method != snapshot.kind:
        raise InvalidInput(errors={"method": [f"A {method.upper()} run needs a {method.upper()} snapshot."]})
    cfg, init_version = _build_config(
        project=project, method=method, config=config or {}, output_dir="pending"
    )
    pipeline = _pipeline()
    for split, label in ((Split.TRAIN, "train"), (Split.VALIDATION, "validation")):
        rows = to_pipeline_rows(method, selectors.snapshot_rows(snapshot, split).values("data"))
        if not rows and split == Split.VALIDATION:
            continue  # a snapshot may have no validation split
        try:
            pipeline.validate_rows(method, rows)
        except pipeline.ConfigError as exc:
            errors = _config_errors(exc)
            raise InvalidInput(
                errors={"snapshot": [f"{label} {k}: {m}" for k, v in errors.items() for m in v]}
            )
    run = TrainingRun.objects.create(
        project=project,
        snapshot=snapshot,
        method=method,
        config={},
        init_from=init_version,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        max_steps=max(int(getattr(cfg, "max_steps", 0) or 0), 0),
    )
    run.output_dir = str(run_output_dir(run.pk))
    run.config = _jsonable({**dataclasses.asdict(cfg), "output_dir": run.output_dir})
    TrainingRun.objects.filter(pk=run.pk).update(output_dir=run.output_dir, config=run.config)
    _enqueue(run)
    audit.record(
        actor=actor, project=project, verb="run.queued", obj=run, method=method, snapshot=snapshot.pk
    )
    return run


@transaction.atomic
def cancel_run(*, run, actor):
    """Ask a run to stop. A queued run is cancelled at once; a running one stops at its next check."""
    _require(actor, TRAIN_ACTION, run.project)
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if run.state == RunState.QUEUED:
        run.state = RunState.CANCELLED
        run.cancel_requested = True
        run.finished_at = timezone.now()
        run.save(update_fields=["state", "cancel_requested", "finished_at"])
    elif run.state == RunState.RUNNING:
        run.cancel_requested = True
        run.save(update_fields=["cancel_requested"])
    else:
        raise Conflict(f"Run #{run.pk} is {run.state}; there is nothing to cancel.")
    audit.record(actor=actor, project=run.project, verb="run.cancel_requested", obj=run, state=run.state)
    return run


RESUMABLE = (RunState.INTERRUPTED, RunState.FAILED, RunState.CANCELLED)


@transaction.atomic
def resume_run(*, run, actor):
    """Requeue an interrupted, failed or cancelled run; it continues from its last checkpoint."""
    _require(actor, TRAIN_ACTION, run.project)
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if run.state not in RESUMABLE:
        raise Conflict(f"Run #{run.pk} is {run.state}; only interrupted, failed or cancelled runs resume.")
    has_checkpoint = any(Path(run.output_dir).glob("checkpoint-*")) if run.output_dir else False
    # True: the pipeline takes the last checkpoint in output_dir, or starts afresh when there is none.
    run.config = {**run.config, "resume_from_checkpoint": True}
    run.state = RunState.QUEUED
    run.attempt += 1
    run.cancel_requested = False
    run.error = ""
    run.finished_at = None
    run.worker_hostname = ""
    run.heartbeat_at = None
    run.save(
        update_fields=[
            "config", "state", "attempt", "cancel_requested", "error", "finished_at",
            "worker_hostname", "heartbeat_at",
        ]
    )  # fmt: skip
    _enqueue(run)
    audit.record(
        actor=actor, project=run.project, verb="run.resumed", obj=run, attempt=run.attempt,
        from_checkpoint=bool(has_checkpoint),
    )  # fmt: skip
    return run


# --- called by the worker --------------------------------------------------------------------------


@transaction.atomic
def mark_running(*, run_id: int, attempt: int | None, hostname: str, task_id: str = ""):
    """Claim a queued run for this worker; None when the run is not (or no longer) ours to run."""
    run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.state != RunState.QUEUED or (attempt is not None and attempt != run.attempt):
        return None
    now = timezone.now()
    run.state = RunState.RUNNING
    run.worker_hostname = hostname or ""
    run.celery_task_id = task_id or run.celery_task_id
    run.started_at = run.started_at or now
    run.heartbeat_at = now
    note = f"[{now:%H:%M:%S}] attempt {run.attempt} started on {hostname or 'a worker'}"
    if run.config.get("resume_from_checkpoint"):
        note += " (resuming from the last checkpoint)"
    run.log_tail = (run.log_tail + note + "\n")[-LOG_TAIL_CHARS:]
    run.save(
        update_fields=["state", "worker_hostname", "celery_task_id", "started_at", "heartbeat_at", "log_tail"]
    )
    audit.record(
        actor=None, project=run.project, verb="run.started", obj=run, worker=hostname, attempt=run.attempt
    )
    return run


PROGRESS_FIELDS = ("step", "max_steps", "epoch", "loss", "learning_rate", "eta_seconds", "tokens_per_second")
NOT_METRICS = {"step", "max_steps", "epoch", "eta_seconds", "elapsed", "kind", "metrics"}


def event_dict(event) -> dict:
    """A ProgressEvent (or a dict) as a plain dict; `metrics` holds the trainer's values by TRL name."""
    if dataclasses.is_dataclass(event):
        data = dataclasses.asdict(event)
    elif isinstance(event, dict):
        data = dict(event)
    else:
        data = dict(vars(event))
    if "metrics" in data:
        metrics = data["metrics"] or {}
    else:  # a plain dict of values
        metrics = {k: v for k, v in data.items() if k not in NOT_METRICS}
    data["metrics"] = {
        str(k): v for k, v in metrics.items() if k not in NOT_METRICS and _number(v) is not None
    }
    return data


def _number(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


@transaction.atomic
def record_progress(*, run_id: int, attempt: int, event, log_line: str = "") -> bool:
    """Store one progress event: the run's progress fields and one RunMetric per numeric value.

    Returns False when the run is no longer running this attempt (the caller should stop)."""
    data = event_dict(event)
    now = timezone.now()
    updates = {"heartbeat_at": now}
    for key in PROGRESS_FIELDS:
        if key == "loss" and data.get("kind") == "eval":
            continue  # the progress loss is the training loss; eval_loss is a series of its own
        value = _number(data.get(key))
        if value is not None:
            updates[key] = int(value) if key in ("step", "max_steps") else value
    changed = TrainingRun.objects.filter(pk=run_id, state=RunState.RUNNING, attempt=attempt).update(**updates)
    if not changed:
        return False
    step = int(_number(data.get("step")) or 0)
    metrics = [
        RunMetric(run_id=run_id, step=step, name=name[:64], value=_number(value))
        for name, value in data["metrics"].items()
    ]
    if metrics:
        RunMetric.objects.bulk_create(metrics)
    if log_line:
        run = TrainingRun.objects.only("log_tail").get(pk=run_id)
        TrainingRun.objects.filter(pk=run_id).update(
            log_tail=(run.log_tail + log_line + "\n")[-LOG_TAIL_CHARS:]
        )
    return True


def heartbeat(*, run_id: int, attempt: int) -> bool:
    """Refresh the heartbeat; True when the run should stop (cancel asked, or no longer this attempt)."""
    TrainingRun.objects.filter(pk=run_id, state=RunState.RUNNING, attempt=attempt).update(
        heartbeat_at=timezone.now()
    )
    row = TrainingRun.objects.filter(pk=run_id).values("state", "attempt", "cancel_requested").first()
    return (
        row is None
        or row["cancel_requested"]
        or row["state"] != RunState.RUNNING
        or row["attempt"] != attempt
    )


def _append_log(run, line):
    run.log_tail = (run.log_tail + line + "\n")[-LOG_TAIL_CHARS:]


def _hash_dir(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _result_get(result, name, default=None):
    if isinstance(result, dict):
        return result.get(name, default)
    return getattr(result, name, default)


@transaction.atomic
def finish_run(*, run_id: int, attempt: int, result):
    """Record a pipeline result: completed -> a ModelVersion; cancelled -> cancelled. Returns the run."""
    run = TrainingRun.objects.select_for_update().select_related("project", "snapshot").get(pk=run_id)
    if run.state != RunState.RUNNING or run.attempt != attempt:
        return run  # someone else (cancel, interrupted detection) decided already
    status = _result_get(result, "status", "completed")
    now = timezone.now()
    run.finished_at = now
    if status == "completed":
        run.state = RunState.COMPLETED
        run.step = max(run.step, run.max_steps)
        _append_log(run, f"[{now:%H:%M:%S}] completed")
        run.save()
        register_model_version(run=run, result=result)
    else:
        run.state = RunState.CANCELLED
        _append_log(run, f"[{now:%H:%M:%S}] {status} at step {run.step}")
        run.save()
    audit.record(actor=None, project=run.project, verb=f"run.{run.state}", obj=run, step=run.step)
    return run


@transaction.atomic
def fail_run(*, run_id: int, attempt: int, error: str):
    run = TrainingRun.objects.select_for_update().select_related("project").get(pk=run_id)
    if run.attempt != attempt or run.state not in (RunState.RUNNING, RunState.QUEUED):
        return run
    run.state = RunState.FAILED
    run.error = (error or "")[-4000:]
    run.finished_at = timezone.now()
    _append_log(run, f"[{run.finished_at:%H:%M:%S}] failed: {(error or '').strip().splitlines()[-1:] or ''}")
    run.save()
    audit.record(actor=None, project=run.project, verb="run.failed", obj=run, error=run.error[-500:])
    return run


def register_model_version(*, run, result) -> ModelVersion:
    """Add the run's adapter to the registry (called inside finish_run's transaction)."""
    adapter_dir = _result_get(result, "adapter_dir") or _result_get(result, "output_dir") or run.output_dir
    sha = _result_get(result, "adapter_sha256") or ""
    if not sha and adapter_dir and Path(adapter_dir).is_dir():
        sha = _hash_dir(Path(adapter_dir))
    metrics = _jsonable(_result_get(result, "metrics") or {})
    config = _jsonable(_result_get(result, "config") or run.config)
    versions = _jsonable(_result_get(result, "library_versions") or _result_get(result, "versions") or {})
    count = ModelVersion.objects.filter(project=run.project).count()
    version = ModelVersion.objects.create(
        project=run.project,
        run=run,
        name=f"{run.project.name[:80]} {run.method.upper()} v{count + 1}",
        method=run.method,
        base_model=config.get("base_model") or run.config.get("base_model", ""),
        adapter_path=str(adapter_dir),
        adapter_sha256=sha,
        snapshot=run.snapshot,
        config=config,
        library_versions=versions,
        device=_jsonable(_result_get(result, "device") or {}),
        metrics=metrics,
    )
    audit.record(
        actor=None, project=run.project, verb="model.registered", obj=version, run=run.pk, sha256=sha
    )
    return version


def model_archive(version: ModelVersion):
    """The version's adapter (or full model) directory as a zip in a temporary file, rewound; None
    when the files are not on this server. Spooled to disk past 32 MiB: a full fine-tune's weights
    are never held in memory. The caller streams it (FileResponse) and closing it deletes it."""
    import tempfile
    import zipfile

    root = Path(version.adapter_path or "")
    if not version.adapter_path or not root.is_dir():
        return None
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            archive.write(file, arcname=str(file.relative_to(root)))
    spool.seek(0)
    return spool


def stale_after() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "TUNELOOP_RUN_STALE_SECONDS", 600)))


@transaction.atomic
def mark_interrupted_runs(*, hostname: str = "", older_than: timedelta | None = None, now=None) -> list[int]:
    """Running runs whose worker died -> interrupted. With `hostname`: that worker (just restarted) ran
    them, so they are dead. Otherwise: no heartbeat for `older_than` (TUNELOOP_RUN_STALE_SECONDS)."""
    now = now or timezone.now()
    qs = TrainingRun.objects.select_for_update().filter(state=RunState.RUNNING)
    if hostname:
        qs = qs.filter(worker_hostname=hostname)
        why = f"worker {hostname} restarted"
    else:
        limit = older_than if older_than is not None else stale_after()
        qs = qs.filter(heartbeat_at__lt=now - limit)
        why = f"no heartbeat for {int(limit.total_seconds())} s"
    ids = []
    for run in qs.select_related("project"):
        run.state = RunState.INTERRUPTED
        run.finished_at = now
        run.error = f"Interrupted: {why}."
        _append_log(run, f"[{now:%H:%M:%S}] interrupted ({why}); resume continues from the last checkpoint")
        run.save(update_fields=["state", "finished_at", "error", "log_tail"])
        audit.record(actor=None, project=run.project, verb="run.interrupted", obj=run, reason=why)
        ids.append(run.pk)
    return ids
