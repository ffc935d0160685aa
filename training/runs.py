"""The lead's actions: ask for a snapshot, start a run (config and rows validated before anything is
queued), cancel it, resume it. One function per use case, keyword-only, one transaction each.

Runs execute on the `gpu` queue (`training.tasks`), which reports back through `training.worker`;
snapshots build in a task on the default queue (`training.snapshots`).
"""

import dataclasses
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.core import audit
from annotation.core.errors import Conflict, InvalidInput

from . import export, exports, pipeline, selectors, snapshots, tasks
from .access import require_train
from .models import ExportJob, ModelVersion, RunState, SnapshotKind, SnapshotState, Split, TrainingRun

RUN_CONFIG_EXCLUDE = {"method", "output_dir"}
RESUMABLE = (RunState.INTERRUPTED, RunState.FAILED, RunState.CANCELLED)


# --- snapshots ------------------------------------------------------------------------------------


@transaction.atomic
def request_snapshot(*, project, actor, kind: str, filters: dict | None = None, name: str = "",
                     reuse_identical: bool = False):  # fmt: skip
    """Check the filters, create a `building` snapshot and queue its build; returns it at once (built
    already when no worker is configured). Raises InvalidInput (field messages) for bad filters or
    when no candidate passes them; see `snapshots.create_snapshot` for `reuse_identical`."""
    snapshot, created = snapshots.create_snapshot(
        project=project, actor=actor, kind=kind, filters=filters, name=name, reuse_identical=reuse_identical
    )
    if created:
        tasks.queue_snapshot_build(snapshot)
    return snapshot


def _require_ready(snapshot) -> None:
    if snapshot.state == SnapshotState.BUILDING:
        raise InvalidInput(
            errors={"snapshot": [
                f"Snapshot #{snapshot.pk} is still building ({snapshot.percent}%); start the run when it is ready."
            ]}
        )  # fmt: skip
    if snapshot.state == SnapshotState.FAILED:
        raise InvalidInput(
            errors={"snapshot": [f"Snapshot #{snapshot.pk} failed to build: {snapshot.error.strip()[:300]}"]}
        )


# --- runs -----------------------------------------------------------------------------------------


def run_output_dir(run_id) -> Path:
    return Path(settings.DATA_DIR) / "runs" / str(run_id)


def base_model_of(project) -> str:
    return project.base_model or settings.TUNELOOP_DEFAULT_BASE_MODEL


def default_run_config(project, method: str) -> dict:
    """The run form's starting values: the pipeline's defaults for `method` on the project's model."""
    cfg = pipeline.TrainConfig(method=method, base_model=base_model_of(project), output_dir="")
    out = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RUN_CONFIG_EXCLUDE}
    return pipeline.jsonable(out)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _config_errors(exc) -> dict[str, list[str]]:
    errors = getattr(exc, "errors", None) or {"config": [str(exc)]}
    if isinstance(errors, list):
        errors = {"rows": [str(e) for e in errors]}
    return {str(k): [str(m) for m in (v if isinstance(v, list | tuple) else [v])] for k, v in errors.items()}


def _build_config(*, project, method, config: dict, output_dir: str):
    """(validated TrainConfig, init ModelVersion or None); raises InvalidInput with field messages."""
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
    config.setdefault("base_model", base_model_of(project))
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


def _validate_rows(snapshot, method) -> None:
    for split, label in ((Split.TRAIN, "train"), (Split.VALIDATION, "validation")):
        rows = pipeline.to_trainer_rows(method, selectors.snapshot_rows(snapshot, split).values("data"))
        if not rows and split == Split.VALIDATION:
            continue  # a snapshot may have no validation split
        try:
            pipeline.validate_rows(method, rows)
        except pipeline.ConfigError as exc:
            errors = _config_errors(exc)
            raise InvalidInput(
                errors={"snapshot": [f"{label} {k}: {m}" for k, v in errors.items() for m in v]}
            )


def _enqueue(run) -> None:
    run.celery_task_id = str(uuid.uuid4())
    TrainingRun.objects.filter(pk=run.pk).update(celery_task_id=run.celery_task_id)
    tasks.queue_training_run(run)


@transaction.atomic
def start_run(*, project, actor, snapshot, config: dict | None = None, method: str | None = None):
    """Validate the config and the snapshot's rows, create a queued run, enqueue it after commit.

    Nothing is created or queued when validation fails (InvalidInput with field messages)."""
    require_train(actor, project)
    if snapshot.project_id != project.pk:
        raise InvalidInput(errors={"snapshot": ["That snapshot belongs to another project."]})
    _require_ready(snapshot)
    if snapshot.kind == SnapshotKind.RAW:
        raise InvalidInput(errors={"snapshot": ["A raw-judgments snapshot is for export, not training."]})
    method = method or snapshot.kind
    if method not in SnapshotKind.values:
        raise InvalidInput(errors={"method": [f"Choose one of {', '.join(SnapshotKind.values)}."]})
    if method != snapshot.kind:
        raise InvalidInput(errors={"method": [f"A {method.upper()} run needs a {method.upper()} snapshot."]})
    cfg, init_version = _build_config(
        project=project, method=method, config=config or {}, output_dir="pending"
    )
    _validate_rows(snapshot, method)
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
    run.config = pipeline.jsonable({**dataclasses.asdict(cfg), "output_dir": run.output_dir})
    TrainingRun.objects.filter(pk=run.pk).update(output_dir=run.output_dir, config=run.config)
    _enqueue(run)
    audit.record(
        actor=actor, project=project, verb="run.queued", obj=run, method=method, snapshot=snapshot.pk
    )
    return run


@transaction.atomic
def cancel_run(*, run, actor):
    """Ask a run to stop. A queued run is cancelled at once; a running one stops at its next check."""
    require_train(actor, run.project)
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


@transaction.atomic
def resume_run(*, run, actor):
    """Requeue an interrupted, failed or cancelled run; it continues from its last complete
    checkpoint (the pipeline's `last_complete_checkpoint`), or starts afresh when there is none."""
    require_train(actor, run.project)
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if run.state not in RESUMABLE:
        raise Conflict(f"Run #{run.pk} is {run.state}; only interrupted, failed or cancelled runs resume.")
    checkpoint = pipeline.last_complete_checkpoint(run.output_dir) if run.output_dir else None
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
        from_checkpoint=checkpoint is not None,
    )  # fmt: skip
    return run


# --- exports --------------------------------------------------------------------------------------

EXPORT_SOURCES = {"pairs": SnapshotKind.DPO, "sft": SnapshotKind.SFT, "judgments": SnapshotKind.RAW}


def exports_inline(snapshot) -> bool:
    """Small exports are written in the request and sent at once; larger ones run as a job."""
    return snapshot.total_count <= int(settings.TUNELOOP_EXPORT_INLINE_ROWS)


@transaction.atomic
def request_export(*, snapshot, actor, layout: str, fmt: str, provenance: bool = False) -> ExportJob:
    """Create a queued export job of `snapshot` and queue it (run here and now without a worker). A
    snapshot still building is fine: the job waits, queued, and the build's end queues it; the
    snapshot's row is locked meanwhile so that the build cannot end unseen between our reading its
    state and our commit (`exports.lock_snapshot`). InvalidInput (field messages) for a layout the
    snapshot's kind cannot take, an unknown format, a failed snapshot."""
    require_train(actor, snapshot.project)
    snapshot = exports.lock_snapshot(snapshot.pk)
    if snapshot.state == SnapshotState.FAILED:
        _require_ready(snapshot)
    try:
        exports.check_export(snapshot, layout, fmt)
    except InvalidInput as exc:
        if not (snapshot.is_building and set(exc.errors) == {"snapshot"}):
            raise
    job = ExportJob.objects.create(
        project=snapshot.project, snapshot=snapshot, layout=layout, format=fmt, provenance=bool(provenance),
        rows_total=snapshot.total_count, created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )  # fmt: skip
    audit.record(
        actor=actor, project=snapshot.project, verb="export.requested", obj=job, snapshot=snapshot.pk,
        layout=layout, format=fmt, provenance=bool(provenance),
    )  # fmt: skip
    if snapshot.is_ready:
        tasks.queue_export(job)
        job.refresh_from_db()
    return job


def snapshot_for_export(*, project, actor, source: str, filters: dict | None = None):
    """The snapshot an export from a live view ("pairs", "sft", "judgments") reads: an identical
    existing one, else a new one (building). `filters` as the snapshot form's; for pairs, `status`
    "approved" (default) or "candidates" (approved plus confident candidates)."""
    if source not in EXPORT_SOURCES:
        raise InvalidInput(errors={"from": [f"Choose one of {', '.join(EXPORT_SOURCES)}."]})
    filters = dict(filters or {})
    status = filters.pop("status", "approved")
    if status not in ("approved", "candidates"):
        raise InvalidInput(errors={"status": ["Choose approved or candidates."]})
    if source == "pairs" and status == "candidates":
        filters["include_candidates"] = True
    return request_snapshot(
        project=project, actor=actor, kind=EXPORT_SOURCES[source], filters=filters, reuse_identical=True
    )


def push_export(*, job, actor, repo_id: str, private: bool = True) -> ExportJob:
    """Push a finished Hugging Face folder export to the Hub with the operator's token
    (TUNELOOP_HF_TOKEN), card included. Raises InvalidInput when there is no token, the job is not a
    finished `hf` export, or the push fails."""
    require_train(actor, job.project)
    token = settings.TUNELOOP_HF_TOKEN
    errors = {}
    if not token:
        errors["token"] = ["No Hugging Face token is configured (TUNELOOP_HF_TOKEN)."]
    if (
        job.state != RunState.COMPLETED
        or job.format != "hf"
        or not Path(job.folder or "/nonexistent").is_dir()
    ):
        errors["export"] = ["Only a finished Hugging Face folder export (format hf) can be pushed."]
    if not repo_id or repo_id.count("/") != 1:
        errors["repo_id"] = ["Enter the dataset repository as owner/name."]
    if errors:
        raise InvalidInput(errors=errors)
    card = (Path(job.folder) / "README.md").read_text(encoding="utf-8")
    try:
        export.push_to_hub(job.folder, repo_id, token, private=private, card=card)
    except Exception as exc:  # the Hub's answer, without the token
        message = str(exc).replace(token, "***")
        raise InvalidInput(errors={"repo_id": [f"The push failed: {message[:300]}"]}) from None
    ExportJob.objects.filter(pk=job.pk).update(hub_repo=repo_id)
    job.hub_repo = repo_id
    audit.record(actor=actor, project=job.project, verb="export.pushed", obj=job, repo_id=repo_id)
    return job
