"""The worker's side of a long job: claim it for one attempt, beat its heart, check whether to stop,
finish or fail it, and mark the jobs of dead workers interrupted. `Jobs` holds the generic part,
parameterised by the job model (TrainingRun here; evaluation runs reuse it); the rest executes one
attempt of a training run through the pure pipeline.

A job model is a `training.models.Job` (state, attempt, worker_hostname, celery_task_id,
started_at, heartbeat_at, cancel_requested, finished_at, error, log_tail) with a `project`. Every (re)queue bumps
`attempt`; a task carrying another attempt number is stale and does nothing. Each write is one
small transaction; cancellation is read at most every TUNELOOP_CANCEL_POLL_SECONDS.
"""

import dataclasses
import logging
import threading
import time
import traceback
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Max
from django.utils import timezone

from annotation.core import audit

from . import pipeline, registry, selectors
from .models import RunMetric, RunState, Split, TrainingRun
from .pipeline import launch

log = logging.getLogger(__name__)
LOG_TAIL_CHARS = 8000


def stale_after() -> timedelta:
    return timedelta(seconds=int(settings.TUNELOOP_RUN_STALE_SECONDS))


def pulse_seconds() -> float:
    """A quarter of TUNELOOP_RUN_STALE_SECONDS: three beats may be missed before a job looks dead."""
    return max(1.0, float(settings.TUNELOOP_RUN_STALE_SECONDS) / 4)


def append_log(job, line: str) -> None:
    job.log_tail = (job.log_tail + line + "\n")[-LOG_TAIL_CHARS:]


class Jobs:
    """Claim, heartbeat, stop check, fail and interrupted detection for one job model. `verb` prefixes
    the audit events ("run" -> run.started, run.failed, run.interrupted)."""

    def __init__(self, model, *, verb: str):
        self.model, self.verb = model, verb

    def claim_note(self, job) -> str:
        return ""

    def can_start(self, job) -> bool:
        """Whether a queued job may start now; one that may not stays queued (the job model's owner
        queues it again when it can)."""
        return True

    @transaction.atomic
    def claim(self, *, job_id: int, attempt: int | None, hostname: str, task_id: str = ""):
        """Claim a queued job for this worker; None when it is not (or no longer) ours to run."""
        job = self.model.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state != RunState.QUEUED or (attempt is not None and attempt != job.attempt):
            return None
        if not self.can_start(job):
            return None
        now = timezone.now()
        job.state = RunState.RUNNING
        job.worker_hostname = hostname or ""
        job.celery_task_id = task_id or job.celery_task_id
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        append_log(
            job,
            f"[{now:%H:%M:%S}] attempt {job.attempt} started on {hostname or 'a worker'}{self.claim_note(job)}",
        )
        job.save(
            update_fields=[
                "state",
                "worker_hostname",
                "celery_task_id",
                "started_at",
                "heartbeat_at",
                "log_tail",
            ]
        )
        audit.record(
            actor=None, project=job.project, verb=f"{self.verb}.started", obj=job, worker=hostname,
            attempt=job.attempt,
        )  # fmt: skip
        return job

    def run(self, task, *, job_id: int, attempt: int | None, execute) -> str:
        """The body of a long job's Celery task: claim the job for this attempt ("skipped" when it is
        not this attempt's to run), `execute(job)`, then give the connection back (a GPU worker idles
        between long tasks) unless a caller's transaction, e.g. a test calling the task in-process,
        still holds it."""
        hostname, task_id = task.request.hostname or "", task.request.id or ""
        job = self.claim(job_id=job_id, attempt=attempt, hostname=hostname, task_id=task_id)
        try:
            return "skipped" if job is None else execute(job)
        finally:
            if not connection.in_atomic_block:
                connection.close()

    def newest_heartbeat(self):
        """The newest heartbeat of any job of this kind, or None (/healthz's worker age)."""
        return self.model.objects.aggregate(newest=Max("heartbeat_at"))["newest"]

    def heartbeat(self, *, job_id: int, attempt: int) -> bool:
        """Refresh the heartbeat; True when the job should stop (cancel asked, or not this attempt)."""
        self.model.objects.filter(pk=job_id, state=RunState.RUNNING, attempt=attempt).update(
            heartbeat_at=timezone.now()
        )
        row = self.model.objects.filter(pk=job_id).values("state", "attempt", "cancel_requested").first()
        return (
            row is None
            or row["cancel_requested"]
            or row["state"] != RunState.RUNNING
            or row["attempt"] != attempt
        )

    @transaction.atomic
    def fail(self, *, job_id: int, attempt: int, error: str):
        job = self.model.objects.select_for_update().select_related("project").get(pk=job_id)
        if job.attempt != attempt or job.state not in (RunState.RUNNING, RunState.QUEUED):
            return job
        job.state = RunState.FAILED
        job.error = (error or "")[-4000:]
        job.finished_at = timezone.now()
        append_log(
            job, f"[{job.finished_at:%H:%M:%S}] failed: {(error or '').strip().splitlines()[-1:] or ''}"
        )
        job.save()
        audit.record(
            actor=None, project=job.project, verb=f"{self.verb}.failed", obj=job, error=job.error[-500:]
        )
        return job

    @transaction.atomic
    def mark_interrupted(
        self, *, hostname: str = "", older_than: timedelta | None = None, now=None
    ) -> list[int]:
        """Running jobs whose worker died -> interrupted. With `hostname`: that worker (just restarted)
        ran them, so they are dead. Otherwise: no heartbeat for `older_than` (TUNELOOP_RUN_STALE_SECONDS)."""
        now = now or timezone.now()
        qs = self.model.objects.select_for_update().filter(state=RunState.RUNNING)
        if hostname:
            qs = qs.filter(worker_hostname=hostname)
            why = f"worker {hostname} restarted"
        else:
            limit = older_than if older_than is not None else stale_after()
            qs = qs.filter(heartbeat_at__lt=now - limit)
            why = f"no heartbeat for {int(limit.total_seconds())} s"
        ids = []
        for job in qs.select_related("project"):
            job.state = RunState.INTERRUPTED
            job.finished_at = now
            job.error = f"Interrupted: {why}."
            append_log(
                job, f"[{now:%H:%M:%S}] interrupted ({why}); resume continues from the last checkpoint"
            )
            job.save(update_fields=["state", "finished_at", "error", "log_tail"])
            audit.record(
                actor=None, project=job.project, verb=f"{self.verb}.interrupted", obj=job, reason=why
            )
            ids.append(job.pk)
        return ids

    def stop_check(self, job_id: int, attempt: int, every: float) -> "StopCheck":
        return StopCheck(lambda: self.heartbeat(job_id=job_id, attempt=attempt), every)

    def pulse(self, job_id: int, attempt: int, every: float) -> "Pulse":
        return Pulse(lambda: self.heartbeat(job_id=job_id, attempt=attempt), every, f"{self.verb}-{job_id}")


class StopCheck:
    """should_stop for a long loop: cached, asks `beat()` (which answers "stop?") every few seconds."""

    def __init__(self, beat, every: float):
        self.beat, self.every = beat, every
        self.last = 0.0
        self.stop = False

    def __call__(self) -> bool:
        if self.stop:
            return True
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.stop = bool(self.beat())
        return self.stop


class Pulse:
    """Beats a job's heart from a daemon thread while it runs, so that long stretches without a step
    (loading or downloading a large model, a long evaluation, saving a big checkpoint) do not get a
    healthy job marked interrupted. Stop requests are still read by the loop's StopCheck; this thread
    only writes heartbeat_at."""

    def __init__(self, beat, every: float, name: str):
        self.beat, self.every = beat, every
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"{name}-heartbeat", daemon=True)

    def _loop(self):
        try:
            while not self.done.wait(self.every):
                try:
                    self.beat()
                except Exception:  # noqa: BLE001 - a missed beat is retried; it must not kill the job
                    log.warning("heartbeat of %s failed", self.thread.name, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(timeout=10)


def refresh_connection():
    """After hours of work the database connection may be gone: drop it if unusable (never inside a
    caller's transaction, e.g. a test calling the task in-process)."""
    if not connection.in_atomic_block:
        close_old_connections()


# --- training runs --------------------------------------------------------------------------------


class _TrainingRuns(Jobs):
    def claim_note(self, run) -> str:
        return " (resuming from the last checkpoint)" if run.config.get("resume_from_checkpoint") else ""


RUNS = _TrainingRuns(TrainingRun, verb="run")


def mark_running(*, run_id: int, attempt: int | None, hostname: str, task_id: str = ""):
    return RUNS.claim(job_id=run_id, attempt=attempt, hostname=hostname, task_id=task_id)


def heartbeat(*, run_id: int, attempt: int) -> bool:
    return RUNS.heartbeat(job_id=run_id, attempt=attempt)


def fail_run(*, run_id: int, attempt: int, error: str):
    return RUNS.fail(job_id=run_id, attempt=attempt, error=error)


def mark_interrupted_runs(*, hostname: str = "", older_than: timedelta | None = None, now=None) -> list[int]:
    return RUNS.mark_interrupted(hostname=hostname, older_than=older_than, now=now)


class _Pulse(Pulse):
    """A training run's pulse."""

    def __init__(self, run_id: int, attempt: int, every: float):
        super().__init__(lambda: heartbeat(run_id=run_id, attempt=attempt), every, f"run-{run_id}")


PROGRESS_FIELDS = ("step", "max_steps", "epoch", "loss", "learning_rate", "eta_seconds", "tokens_per_second")
NOT_METRICS = {"step", "max_steps", "epoch", "eta_seconds", "elapsed", "kind", "metrics"}


def _number(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


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


@transaction.atomic
def record_progress(*, run_id: int, attempt: int, event, log_line: str = "") -> bool:
    """Store one progress event: the run's progress fields and one RunMetric per numeric value.

    Returns False when the run is no longer running this attempt (the caller should stop)."""
    data = event_dict(event)
    updates = {"heartbeat_at": timezone.now()}
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


@transaction.atomic
def finish_run(*, run_id: int, attempt: int, result):
    """Record a pipeline result: completed -> a ModelVersion; cancelled -> cancelled. Returns the run."""
    run = TrainingRun.objects.select_for_update().select_related("project", "snapshot").get(pk=run_id)
    if run.state != RunState.RUNNING or run.attempt != attempt:
        return run  # someone else (cancel, interrupted detection) decided already
    status = (
        result.get("status", "completed")
        if isinstance(result, dict)
        else getattr(result, "status", "completed")
    )
    now = timezone.now()
    run.finished_at = now
    if status == "completed":
        run.state = RunState.COMPLETED
        run.step = max(run.step, run.max_steps)
        append_log(run, f"[{now:%H:%M:%S}] completed")
        run.save()
        registry.register_model_version(run=run, result=result)
    else:
        run.state = RunState.CANCELLED
        append_log(run, f"[{now:%H:%M:%S}] {status} at step {run.step}")
        run.save()
    audit.record(actor=None, project=run.project, verb=f"run.{run.state}", obj=run, step=run.step)
    return run


def _log_line(data: dict) -> str:
    parts = [f"step {int(data.get('step') or 0)}/{int(data.get('max_steps') or 0)}"]
    for key in (
        "loss",
        "eval_loss",
        "learning_rate",
        "rewards/margins",
        "rewards/accuracies",
        "tokens_per_second",
    ):
        value = data["metrics"].get(key)
        if isinstance(value, int | float):
            parts.append(f"{key} {value:.4g}")
    if data.get("kind") and data["kind"] != "log":
        parts.append(str(data["kind"]))
    return "  ".join(parts)


def trainer_rows(run, split: str) -> list[dict]:
    """The run's snapshot rows of `split` as the trainer reads them."""
    return pipeline.to_trainer_rows(run.method, selectors.snapshot_rows(run.snapshot, split).values("data"))


def execute(run) -> str:
    """Run the claimed attempt to its end; returns the final state. Never raises for training errors."""
    run_id, attempt = run.pk, run.attempt
    stop = RUNS.stop_check(run_id, attempt, float(settings.TUNELOOP_CANCEL_POLL_SECONDS))
    last_step: dict[str, int] = {}

    def on_progress(event):
        data = event_dict(event)
        # The trainer repeats values in later events (eval, end): keep one point per (name, step).
        step = int(data.get("step") or 0)
        data["metrics"] = {k: v for k, v in data["metrics"].items() if last_step.get(k, -1) < step}
        last_step.update(dict.fromkeys(data["metrics"], step))
        if not record_progress(run_id=run_id, attempt=attempt, event=data, log_line=_log_line(data)):
            stop.stop = True

    try:
        train, val = trainer_rows(run, Split.TRAIN), trainer_rows(run, Split.VALIDATION)
        cfg = pipeline.TrainConfig.from_dict(run.config)
        with _Pulse(run_id, attempt, pulse_seconds()):
            if settings.TUNELOOP_GPUS > 1:  # one process per GPU under `accelerate launch`
                result = launch.run_launched(
                    run.config, train, val or None, gpus=settings.TUNELOOP_GPUS,
                    workdir=Path(run.output_dir) / f"launch-{attempt}", on_progress=on_progress,
                    should_stop=stop, model_cache=settings.TUNELOOP_MODEL_CACHE,
                )  # fmt: skip
            else:
                result = pipeline.run_training(
                    cfg, train, val or None, on_progress=on_progress, should_stop=stop,
                    model_cache=settings.TUNELOOP_MODEL_CACHE,
                )  # fmt: skip
    except Exception as exc:  # a training error fails the run, it does not crash the worker
        log.exception("training run %s failed", run_id)
        refresh_connection()
        text = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=20)}"
        return fail_run(run_id=run_id, attempt=attempt, error=text).state
    refresh_connection()
    return finish_run(run_id=run_id, attempt=attempt, result=result).state
