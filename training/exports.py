"""Exports of snapshots, the worker's side: the card's metadata, the rows streamed into
`training.export.export_rows`, the zip the browser downloads, and the export job's attempt (claim,
heartbeat, progress, finish) through the generic `training.worker.Jobs`.

In the chain `runs -> tasks -> exports -> worker -> registry -> snapshots -> pipeline`: the lead's
actions (`training.runs`) create jobs, `training.tasks` runs them here. An export is all or nothing:
an attempt writes into a fresh folder, and a job whose worker died is requeued with a higher attempt
that starts over (`recover_stale`), so a file is never half-written or written twice.

Annotators leave as pseudonyms: HMAC of settings.SECRET_KEY and the project id (stable per project,
different across projects; rotating SECRET_KEY changes them).
"""

import json
import logging
import shutil
import tempfile
import traceback
import zipfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from annotation.core import audit
from annotation.core.errors import InvalidInput
from annotation.models import AgreementReport

from . import export as ex
from . import selectors, worker
from .models import DatasetSnapshot, ExportJob, RunState, SnapshotKind, SnapshotState

log = logging.getLogger(__name__)
PROGRESS_EVERY = 2000  # snapshot rows between two progress writes
READ_CHUNK = 5000  # rows a database fetch


class _ExportJobs(worker.Jobs):
    def can_start(self, job) -> bool:
        """An export starts only from a ready snapshot; one still building waits, queued, until the
        build's end queues it (`waiting_for`)."""
        return DatasetSnapshot.objects.filter(pk=job.snapshot_id, state=SnapshotState.READY).exists()


EXPORTS = _ExportJobs(ExportJob, verb="export")


def pseudonymizer(project) -> ex.Pseudonymizer:
    return ex.Pseudonymizer(settings.SECRET_KEY, project.pk)


def check_export(snapshot, layout: str, fmt: str) -> None:
    """InvalidInput (field messages) unless `snapshot` is ready and takes `layout` in `fmt`."""
    errors: dict[str, list[str]] = {}
    if layout not in ex.LAYOUTS:
        errors["layout"] = [f"Choose one of {', '.join(ex.LAYOUTS)}."]
    elif snapshot.kind not in ex.LAYOUTS[layout].kinds:
        fits = [name for name, lay in ex.LAYOUTS.items() if snapshot.kind in lay.kinds]
        errors["layout"] = [f"A {snapshot.get_kind_display()} snapshot exports as {', '.join(fits)}."]
    if fmt not in ex.FORMATS:
        errors["format"] = [f"Choose one of {', '.join(ex.FORMATS)}."]
    if not snapshot.is_ready:
        errors["snapshot"] = [f"Snapshot #{snapshot.pk} is {snapshot.state}; export it when it is ready."]
    if errors:
        raise InvalidInput(errors=errors)


def layouts_for(kind: str) -> list[str]:
    return [name for name, lay in ex.LAYOUTS.items() if kind in lay.kinds]


class CardFacts:
    """What the dataset card says about the rows, gathered while they stream past (one pass)."""

    def __init__(self):
        self.rubric_versions: set = set()
        self.consensus_rules: set = set()

    def see(self, provenance) -> None:
        if not provenance:
            return
        versions = provenance.get("rubric_versions")
        if versions:
            self.rubric_versions.update(v for v in versions if v is not None)
        rule = provenance.get("consensus_rule")
        if rule:
            self.consensus_rules.add(rule)


def _json_decoder():
    """str -> value through the standard library's C scanner (no whitespace checks: the database's
    JSON text has none around it); json.loads for anything else. None stays None."""
    scan = json.JSONDecoder().scan_once

    def decode(text):
        if text is None:
            return None
        try:
            value, end = scan(text, 0)
        except StopIteration:
            return json.loads(text)
        return value if end == len(text) else json.loads(text)

    return decode


def snapshot_rows(snapshot, on_row=None, *, split: str | None = None, facts: CardFacts | None = None):
    """The snapshot's rows as `export_rows` reads them, streamed from a server-side cursor on
    PostgreSQL (`QuerySet.iterator`), READ_CHUNK rows a fetch. The JSON columns come as text and are
    decoded here (Django's per-value JSONField conversion costs more than the decoding). `on_row(n)`
    every PROGRESS_EVERY rows; `facts`, when given, sees every row's provenance."""
    qs = selectors.snapshot_rows(snapshot, split).values_list(
        "split", "position", Cast("data", TextField()), Cast("provenance", TextField())
    )
    decode = _json_decoder()
    see = facts.see if facts is not None else None
    n = 0
    for row_split, position, data, provenance in qs.iterator(chunk_size=READ_CHUNK):
        provenance = decode(provenance)
        if see is not None:
            see(provenance)
        yield {"split": row_split, "position": position, "data": decode(data), "provenance": provenance}
        n += 1
        if on_row is not None and n % PROGRESS_EVERY == 0:
            on_row(n)


def _agreement(project, kind: str) -> dict:
    """Headline agreement figures of the project's latest report for the snapshot's item kind."""
    report = AgreementReport.objects.filter(project=project).order_by("-id").first()
    if report is None:
        return {}
    item_kind = {SnapshotKind.SFT: "sft", SnapshotKind.DPO: "comparison"}.get(kind)
    out = {"report computed at": report.computed_at.isoformat()}
    for row in report.data.get("decisions") or []:  # rows {"kind", "version", alpha, kappa, percent, ...}
        if str(row.get("version")) != "all" or (item_kind and row.get("kind") != item_kind):
            continue
        for name, value in row.items():
            if (
                name not in ("kind", "version")
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                out[f"{row['kind']} {name}"] = round(value, 4) if isinstance(value, float) else value
    return out


def card_meta(snapshot, facts: CardFacts | None = None) -> dict:
    """What the dataset card says about the snapshot; `facts` gathered while exporting, else one pass
    over the rows' provenance here."""
    if facts is None:
        facts = CardFacts()
        rows = selectors.snapshot_rows(snapshot).values_list(Cast("provenance", TextField()), flat=True)
        decode = _json_decoder()
        for provenance in rows.iterator(chunk_size=READ_CHUNK):
            facts.see(decode(provenance))
    project = snapshot.project
    return {
        "name": f"{project.name}: {snapshot.name}",
        "project": project.name,
        "snapshot_id": snapshot.pk,
        "snapshot_hash": snapshot.content_hash,
        "kind": snapshot.kind,
        "filters": snapshot.filters,
        "rubric_versions": sorted(facts.rubric_versions),
        "agreement": _agreement(project, snapshot.kind),
        "consensus_rule": ", ".join(sorted(facts.consensus_rules)) or None,
        "license": project.dataset_license or "other",
        "created_at": snapshot.created_at.isoformat(),
    }


def write(snapshot, out_dir, *, layout: str, fmt: str, provenance: bool, on_row=None) -> dict:
    """Export `snapshot` into `out_dir` (export_rows' result): one pass over the rows, the card's
    facts gathered on the way."""
    facts = CardFacts()
    return ex.export_rows(
        snapshot_rows(snapshot, on_row, facts=facts), out_dir, layout=layout, fmt=fmt, provenance=provenance,
        pseudonym=pseudonymizer(snapshot.project), meta=lambda: card_meta(snapshot, facts),
    )  # fmt: skip


def zip_folder(folder: Path, target) -> None:
    """Zip `folder`'s files (relative names) into `target` (a path or a binary file object)."""
    folder = Path(folder)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())


def export_archive(snapshot, *, layout: str, fmt: str, provenance: bool):
    """A small export written here and now: an open temporary zip file (deleted when closed)."""
    check_export(snapshot, layout, fmt)
    archive = tempfile.TemporaryFile(suffix=".zip")
    with tempfile.TemporaryDirectory(prefix="export-", dir=_exports_dir()) as tmp:
        write(snapshot, Path(tmp) / "out", layout=layout, fmt=fmt, provenance=provenance)
        zip_folder(Path(tmp) / "out", archive)
    archive.seek(0)
    return archive


# --- small exports streamed as files ----------------------------------------------------------------

STREAMED_FORMATS = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}


def streams_inline(snapshot, fmt: str) -> bool:
    """Small JSONL and CSV exports stream to the browser as files, one per split; the rest is zipped."""
    return fmt in STREAMED_FORMATS and snapshot.total_count <= int(settings.TUNELOOP_EXPORT_INLINE_ROWS)


def splits_of(snapshot) -> list[str]:
    return [s for s, n in (("train", snapshot.train_count), ("validation", snapshot.val_count)) if n]


def check_stream(snapshot, layout: str, fmt: str, split: str) -> None:
    """InvalidInput unless one split of `snapshot` can stream as a `fmt` file now."""
    check_export(snapshot, layout, fmt)
    errors = {}
    if fmt not in STREAMED_FORMATS:
        errors["format"] = [f"Only {' and '.join(STREAMED_FORMATS)} stream as a file; {fmt} comes zipped."]
    if split not in splits_of(snapshot):
        errors["split"] = [f"Choose one of {', '.join(splits_of(snapshot))}."]
    if snapshot.total_count > int(settings.TUNELOOP_EXPORT_INLINE_ROWS):
        errors["snapshot"] = ["This snapshot is too large to stream; export it as a job."]
    if errors:
        raise InvalidInput(errors=errors)


def stream_file(snapshot, *, layout: str, fmt: str, provenance: bool, split: str):
    """One split of a small export as the file's text, encoded a batch at a time (no pyarrow); call
    `check_stream` first."""
    rows = snapshot_rows(snapshot, split=split)
    records = ex.convert(layout, rows, provenance=provenance, pseudonym=pseudonymizer(snapshot.project))
    chunks = ex.jsonl_chunks(records) if fmt == "jsonl" else ex.csv_chunks(records)
    for chunk in chunks:
        yield chunk.encode("utf-8")


def file_name(snapshot, layout: str, split: str, fmt: str) -> str:
    return f"snapshot-{snapshot.pk}-{layout}-{split}.{fmt}"


def card_text(snapshot, *, layout: str, fmt: str, provenance: bool) -> str:
    """The dataset card (README.md) of an export streamed as files: the same as a zipped one's, with
    the rows each file holds (counted through the layout: a KTO layout writes two rows a pair). Only
    small exports stream, so counting them costs one pass over at most TUNELOOP_EXPORT_INLINE_ROWS."""
    check_export(snapshot, layout, fmt)
    splits = splits_of(snapshot)
    counts = {
        s: sum(1 for _ in ex.convert(layout, snapshot_rows(snapshot, split=s), provenance=False))
        for s in splits
    }
    return ex.dataset_card({
        **card_meta(snapshot), "layout": layout, "format": fmt, "provenance": provenance,
        "splits": counts,
        "files": {s: file_name(snapshot, layout, s, fmt) for s in splits},
    })  # fmt: skip


def archive_name(snapshot, layout: str, fmt: str) -> str:
    return f"snapshot-{snapshot.pk}-{layout}-{fmt}.zip"


# --- export jobs -----------------------------------------------------------------------------------


def _exports_dir() -> Path:
    path = Path(settings.DATA_DIR) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_dir(job) -> Path:
    return _exports_dir() / str(job.pk)


def _progress(job_id: int, attempt: int, stop):
    def on_row(n: int) -> None:
        changed = ExportJob.objects.filter(pk=job_id, state=RunState.RUNNING, attempt=attempt).update(
            rows_done=n, heartbeat_at=timezone.now()
        )
        if not changed or stop():
            raise _Stop()

    return on_row


class _Stop(Exception):
    """This attempt is no longer the job's (requeued, cancelled): stop writing."""


@transaction.atomic
def _finish(job_id: int, attempt: int, *, folder: Path, archive: Path, rows: int) -> ExportJob:
    job = ExportJob.objects.select_for_update().select_related("project").get(pk=job_id)
    if job.state != RunState.RUNNING or job.attempt != attempt:
        return job  # someone else decided already
    job.state = RunState.COMPLETED
    job.finished_at = timezone.now()
    job.rows_done = rows
    job.folder, job.file_path, job.file_size = str(folder), str(archive), archive.stat().st_size
    worker.append_log(job, f"[{job.finished_at:%H:%M:%S}] completed: {rows} rows, {job.file_size} bytes")
    job.save()
    audit.record(
        actor=None, project=job.project, verb="export.completed", obj=job, rows=rows, size=job.file_size
    )
    return job


def execute(job) -> str:
    """Run the claimed attempt: write the export into a fresh folder, zip it, record it. Returns the
    final state; never raises for export errors (the job records them)."""
    job_id, attempt = job.pk, job.attempt
    stop = EXPORTS.stop_check(job_id, attempt, float(settings.TUNELOOP_CANCEL_POLL_SECONDS))
    base = job_dir(job)
    shutil.rmtree(base, ignore_errors=True)  # what an earlier attempt left
    base.mkdir(parents=True)
    folder, archive = base / "export", base / archive_name(job.snapshot, job.layout, job.format)
    try:
        with EXPORTS.pulse(job_id, attempt, worker.pulse_seconds()):
            result = write(
                job.snapshot, folder, layout=job.layout, fmt=job.format, provenance=job.provenance,
                on_row=_progress(job_id, attempt, stop),
            )  # fmt: skip
            zip_folder(folder, archive)
    except _Stop:
        shutil.rmtree(base, ignore_errors=True)
        return ExportJob.objects.values_list("state", flat=True).get(pk=job_id)
    except Exception as exc:  # an export error fails the job, it does not crash the worker
        log.warning("export %s failed", job_id, exc_info=True)
        shutil.rmtree(base, ignore_errors=True)
        worker.refresh_connection()
        text = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=10)}"
        return EXPORTS.fail(job_id=job_id, attempt=attempt, error=text).state
    worker.refresh_connection()
    rows = job.snapshot.total_count
    if job.layout.startswith("trl-kto"):
        rows = sum(info["rows"] for info in result["files"].values())
    return _finish(job_id, attempt, folder=folder, archive=archive, rows=rows).state


def claim(*, job_id: int, attempt: int | None, hostname: str, task_id: str = ""):
    job = EXPORTS.claim(job_id=job_id, attempt=attempt, hostname=hostname, task_id=task_id)
    if job is not None:
        ExportJob.objects.filter(pk=job.pk).update(rows_done=0)
    return job


@transaction.atomic
def requeue(job) -> ExportJob:
    """Queue the job again as a new attempt (it starts over)."""
    job = ExportJob.objects.select_for_update().get(pk=job.pk)
    job.state = RunState.QUEUED
    job.attempt += 1
    job.rows_done = 0
    job.error = ""
    job.finished_at = None
    job.worker_hostname = ""
    job.heartbeat_at = None
    worker.append_log(job, f"[{timezone.now():%H:%M:%S}] requeued as attempt {job.attempt}")
    job.save()
    return job


def recover_stale(*, hostname: str = "", older_than=None, now=None) -> list[ExportJob]:
    """Running exports whose worker died (that `hostname` restarted, or no heartbeat for
    TUNELOOP_RUN_STALE_SECONDS) are requeued with a higher attempt; returns them (to dispatch)."""
    ids = EXPORTS.mark_interrupted(hostname=hostname, older_than=older_than, now=now)
    return [requeue(job) for job in ExportJob.objects.filter(pk__in=ids, state=RunState.INTERRUPTED)]


def lock_snapshot(snapshot_id: int):
    """The snapshot, its row locked until the transaction ends (call inside one). The build's end
    (`snapshots.build` marks it ready, `snapshots.fail` failed) writes that row, so whoever asks for an
    export and whoever finishes the build take turns: an export requested while the build is finishing
    either sees `ready` (and is queued at once) or is committed before the build's end looks for the
    exports waiting on it (`waiting_for`)."""
    return DatasetSnapshot.objects.select_for_update().select_related("project").get(pk=snapshot_id)


def waiting_for(snapshot_id: int) -> list[ExportJob]:
    """Queued exports of a (now ready) snapshot: those asked for while it was building."""
    return list(ExportJob.objects.filter(snapshot_id=snapshot_id, state=RunState.QUEUED))


def forgotten(*, older_than: timedelta | None = None, now=None) -> list[ExportJob]:
    """Exports queued for longer than `older_than` (TUNELOOP_RUN_STALE_SECONDS) on a ready snapshot: a
    queue message lost (a broker restart, a process gone between commit and send). Queuing one again is
    harmless: a message for an attempt that already started does nothing."""
    now = now or timezone.now()
    limit = older_than if older_than is not None else worker.stale_after()
    return list(
        ExportJob.objects.filter(
            state=RunState.QUEUED, snapshot__state=SnapshotState.READY, created_at__lt=now - limit
        )
    )


def fail_pending(snapshot_id: int, error: str) -> None:
    """Queued exports of a snapshot that failed to build fail with it."""
    ExportJob.objects.filter(snapshot_id=snapshot_id, state=RunState.QUEUED).update(
        state=RunState.FAILED,
        error=f"The snapshot failed to build: {error}"[:4000],
        finished_at=timezone.now(),
    )


def job_file(job) -> Path | None:
    """The finished export's zip, when it is on this server."""
    if job.state != RunState.COMPLETED or not job.file_path:
        return None
    path = Path(job.file_path)
    return path if path.is_file() else None


# --- snapshot diff ---------------------------------------------------------------------------------

DIFF_EXAMPLES = 50


def diff(old, new) -> dict:
    """Rows added, removed and changed (counted by source) going from snapshot `old` to `new`, both
    streamed; a few example keys of each."""
    if old.project_id != new.project_id:
        raise InvalidInput(errors={"against": ["Both snapshots must belong to the same project."]})
    result = ex.diff_snapshots(snapshot_rows(old), snapshot_rows(new))
    return {
        "from": old.pk,
        "to": new.pk,
        **result.summary(),
        "examples": {
            "added": [list(k) for k in result.added[:DIFF_EXAMPLES]],
            "removed": [list(k) for k in result.removed[:DIFF_EXAMPLES]],
            "changed": [{"row": list(k), "sources": s} for k, s in result.changed[:DIFF_EXAMPLES]],
        },
    }
