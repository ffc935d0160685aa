"""Building a snapshot in two steps: `create_snapshot` (the lead's request: filters checked, the
sources looked at, a `building` row, cheap) and `build` (the task: PII, duplicates, split, replay,
report, rows; progress written as it goes; `ready` or `failed` at the end).

Lock order: none is taken; a building row is only updated through guarded UPDATEs
(`state=building`), so a snapshot that is ready is never changed again.
"""

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from annotation.core import audit
from annotation.core.errors import InvalidInput, ServiceError

from .. import pipeline, selectors
from ..access import require_train
from ..models import DatasetSnapshot, SnapshotKind, SnapshotRow, SnapshotState, Split
from .filters import clean_snapshot_filters, filter_reason
from .report import pii_kind, prompt_text, quality_report

REPLAY_PATH = Path(__file__).resolve().parent.parent / "data" / "general.jsonl"
Progress = Callable[[float, str], None]


def load_replay_rows() -> list[dict]:
    rows = []
    with open(REPLAY_PATH, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    return rows


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


def _sources(project, kind, f):
    if kind == SnapshotKind.SFT:
        return selectors.sft_sources(project)
    if kind == SnapshotKind.RAW:
        return selectors.raw_sources(project)
    return selectors.dpo_sources(
        project,
        include_candidates=f["include_candidates"],
        candidate_min_confidence=f["candidate_min_confidence"],
    )


def _select(project, kind, f):
    """(kept candidates, dropped Counter, examples by reason, number considered)."""
    dropped: Counter = Counter()
    examples: dict[str, list] = {}
    kept, considered = [], 0
    for candidate in _sources(project, kind, f):
        considered += 1
        reason = filter_reason(kind, candidate["meta"], candidate["data"], f)
        if reason:
            dropped[reason] += 1
            examples.setdefault(reason, [])
            if len(examples[reason]) < 5:
                examples[reason].append(candidate["provenance"].get("item_id"))
            continue
        kept.append(candidate)
    return kept, dropped, examples, considered


def _no_rows(considered, dropped) -> InvalidInput:
    why = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in dropped.most_common()) or "no source data"
    return InvalidInput(
        f"No rows: {considered} candidate(s), none left after the filters ({why}).",
        errors={"filters": [f"No rows match these filters: {considered} considered; dropped: {why}."]},
    )


def _source_hash(kind, f, kept) -> str:
    return pipeline.content_hash(
        [{"kind": kind, "filters": f}] + [{"data": c["data"], "from": c["provenance"]} for c in kept]
    )


def create_snapshot(*, project, actor, kind: str, filters: dict | None = None, name: str = "",
                    reuse_identical: bool = False) -> tuple[DatasetSnapshot, bool]:  # fmt: skip
    """Check the filters and that some candidate passes them, then create a `building` snapshot;
    returns (snapshot, created). With `reuse_identical`, a snapshot (building or ready) of the same
    kind, filters and source candidates is returned instead (the one-click DPO button pressed
    twice). Raises InvalidInput (field messages) for bad filters or when no candidate is left."""
    require_train(actor, project)
    f = clean_snapshot_filters(kind, filters)
    kept, dropped, _, considered = _select(project, kind, f)
    if not kept:
        raise _no_rows(considered, dropped)
    source_hash = _source_hash(kind, f, kept)
    if reuse_identical:
        same = (
            DatasetSnapshot.objects.filter(project=project, kind=kind, filters=f, source_hash=source_hash)
            .exclude(state=SnapshotState.FAILED)
            .order_by("-id")
            .first()
        )
        if same is not None:
            return same, False
    snapshot = DatasetSnapshot.objects.create(
        project=project,
        kind=kind,
        name=(name or "").strip()[:200] or f"{kind.upper()} {timezone.now():%Y-%m-%d %H:%M}",
        filters=f,
        content_hash="",
        state=SnapshotState.BUILDING,
        stage="queued",
        source_hash=source_hash,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit.record(actor=actor, project=project, verb="snapshot.requested", obj=snapshot, kind=kind)
    return snapshot, True


def _progress_writer(snapshot_id: int) -> Progress:
    def write(progress: float, stage: str) -> None:
        DatasetSnapshot.objects.filter(pk=snapshot_id, state=SnapshotState.BUILDING).update(
            progress=round(progress, 3), stage=stage[:64]
        )

    return write


def _screen_pii(kept, f, dropped):
    """Detect PII everywhere; drop or redact when asked. Returns (kept, rows with PII, kinds)."""
    pii_rows, pii_kinds = 0, Counter()
    cleaned = []
    for candidate in kept:
        found = {}
        for field, text in _texts(candidate["data"]):
            hits = pipeline.detect_pii(text)
            if hits:
                found[field] = hits
        if found:
            pii_rows += 1
            for hits in found.values():
                for hit in hits:
                    pii_kinds[pii_kind(hit)] += 1
            if f["drop_pii"]:
                dropped["pii"] += 1
                continue
            if f["redact_pii"]:
                candidate["data"] = _apply_redaction(candidate["data"], pipeline.redact_pii)
                candidate["provenance"]["pii_redacted"] = sorted(found)
            else:
                candidate["provenance"]["pii_detected"] = sorted(found)
        cleaned.append(candidate)
    return cleaned, pii_rows, pii_kinds


def _drop_exact_duplicates(kept):
    seen, unique = set(), []
    for candidate in kept:
        h = pipeline.content_hash([candidate["data"]])
        if h not in seen:
            seen.add(h)
            unique.append(candidate)
    return unique, len(kept) - len(unique)


def _prompt_group(candidate):
    return (candidate["provenance"].get("item_id"), pipeline.prompt_key(candidate["data"]))


def _drop_near_duplicates(kept, threshold, embedder):
    """Drop items whose prompt is a near duplicate (cosine >= threshold) of an earlier item's prompt.

    Rows of one item (several pairs of one comparison) share their prompt and are never compared."""
    order, texts = {}, []
    for candidate in kept:
        key = _prompt_group(candidate)
        if key not in order:
            order[key] = len(order)
            texts.append(prompt_text(candidate["data"]))
    keys = list(order)
    dups = pipeline.near_duplicates(embedder(texts), threshold)
    gone = {keys[i]: (keys[j], cos) for i, (j, cos) in dups.items()}
    out, removed, examples = [], 0, []
    for candidate in kept:
        key = _prompt_group(candidate)
        if key in gone:
            removed += 1
            (kept_item, _), cos = gone[key]
            examples.append({"item_id": key[0], "duplicate_of": kept_item, "cosine": cos})
            continue
        out.append(candidate)
    return out, removed, examples


def _split(rows, val_fraction, seed):
    """Train / validation by prompt (no prompt on both sides), through the pipeline's splitter."""
    key = lambda r: pipeline.prompt_key(r["data"])  # noqa: E731
    if val_fraction <= 0 or len({key(r) for r in rows}) < 2:
        return rows, []
    train, val = pipeline.split_by_prompt(rows, val_fraction=val_fraction, seed=seed, key=key)
    return list(train), list(val)


def _replay(train, f):
    pool = load_replay_rows()
    share = f["replay_fraction"]
    want = min(len(pool), max(1, round(share * len(train) / (1 - share))))
    rng = random.Random(f["seed"])
    return [
        {"data": pool[i], "provenance": {"source": "replay", "file": REPLAY_PATH.name, "line": i + 1}}
        for i in sorted(rng.sample(range(len(pool)), want))
    ]


def build(snapshot: DatasetSnapshot, *, embedder=None, progress: Progress | None = None) -> DatasetSnapshot:
    """Fill in a building snapshot: rows, counts, content hash, report; `ready` when done. Raises
    InvalidInput when no row survives (the caller records the failure). `embedder` (texts ->
    vectors) finds near-duplicate prompts; the bundled MiniLM (llm) by default."""
    progress = progress or _progress_writer(snapshot.pk)
    kind, f = snapshot.kind, snapshot.filters
    progress(0.05, "reading approved data")
    kept, dropped, examples, considered = _select(snapshot.project, kind, f)
    progress(0.2, "checking for PII")
    kept, pii_rows, pii_kinds = _screen_pii(kept, f, dropped)
    exact = near = 0
    near_examples: list[dict] = []
    if f["dedupe"]:
        progress(0.3, "removing duplicates")
        kept, exact = _drop_exact_duplicates(kept)
        if f["near_dup_threshold"] < 1.0 and len(kept) > 1:
            progress(0.35, "embedding prompts")
            kept, near, near_examples = _drop_near_duplicates(
                kept, f["near_dup_threshold"], embedder or import_string(settings.TUNELOOP_EMBEDDER)
            )
    dropped.update({"exact_duplicate": exact} if exact else {})
    dropped.update({"near_duplicate": near} if near else {})
    if f["max_rows"] and len(kept) > f["max_rows"]:
        dropped["max_rows"] += len(kept) - f["max_rows"]
        kept = kept[: f["max_rows"]]
    if not kept:
        raise _no_rows(considered, dropped)
    progress(0.8, "splitting")
    train, val = _split(kept, f["val_fraction"], f["seed"])
    replay = _replay(train, f) if kind == SnapshotKind.SFT and f["replay_fraction"] > 0 else []
    train = train + replay
    rows = [(Split.TRAIN, i, c) for i, c in enumerate(train)] + [
        (Split.VALIDATION, i, c) for i, c in enumerate(val)
    ]
    content_hash = pipeline.content_hash([{"split": s, "data": c["data"]} for s, _, c in rows])
    progress(0.85, "writing the quality report")
    report = quality_report(
        kind=kind, f=f, considered=considered, kept=kept, dropped=dropped, examples=examples,
        dedupe=(exact, near, near_examples), pii=(pii_rows, pii_kinds), train=train, val=val, replay=replay,
    )  # fmt: skip
    progress(0.9, "writing rows")
    with transaction.atomic():
        # The snapshot row locked first: a second build of it (a redelivered message after a worker
        # died, a message published twice) waits here and then finds it ready: rows are written once.
        if not DatasetSnapshot.objects.select_for_update().filter(
            pk=snapshot.pk, state=SnapshotState.BUILDING
        ):
            snapshot.refresh_from_db()
            return snapshot
        SnapshotRow.objects.bulk_create(
            [
                SnapshotRow(
                    snapshot=snapshot, split=s, position=p, data=c["data"], provenance=c["provenance"]
                )
                for s, p, c in rows
            ],
            batch_size=1000,
        )
        DatasetSnapshot.objects.filter(pk=snapshot.pk, state=SnapshotState.BUILDING).update(
            state=SnapshotState.READY, progress=1.0, stage="", content_hash=content_hash,
            train_count=len(train), val_count=len(val), quality_report=report,
        )  # fmt: skip
        audit.record(
            actor=snapshot.created_by, project=snapshot.project, verb="snapshot.created", obj=snapshot,
            kind=kind, train=len(train), validation=len(val), content_hash=content_hash,
        )  # fmt: skip
    snapshot.refresh_from_db()
    return snapshot


def fail(snapshot_id: int, error: str) -> None:
    """Record why a build failed (a building snapshot only)."""
    DatasetSnapshot.objects.filter(pk=snapshot_id, state=SnapshotState.BUILDING).update(
        state=SnapshotState.FAILED, stage="", error=(error or "")[-4000:]
    )


def error_text(exc: Exception) -> str:
    """A failure as the snapshot page shows it: the message, then any field messages."""
    if isinstance(exc, ServiceError):
        lines = [exc.message] + [m for msgs in (exc.errors or {}).values() for m in msgs if m != exc.message]
        return "\n".join(dict.fromkeys(lines))
    return f"{type(exc).__name__}: {exc}"


@transaction.atomic
def build_snapshot(*, project, actor, kind: str, filters: dict | None = None, name: str = "",
                   embedder=None, reuse_identical: bool = False) -> DatasetSnapshot:  # fmt: skip
    """Create and build a snapshot here and now (scripts, tests, the eager task path); returns it
    ready. Raises InvalidInput (field messages) for bad filters or when no row survives them, and
    then writes nothing."""
    snapshot, created = create_snapshot(
        project=project, actor=actor, kind=kind, filters=filters, name=name, reuse_identical=reuse_identical
    )
    if not created:
        return snapshot
    return build(snapshot, embedder=embedder, progress=lambda *_: None)


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
