"""Execute one attempt of a TrainingRun in this process: the glue between the Celery task and the pure
pipeline. Progress goes to the database through `training.services` (one small transaction each);
cancellation is read from the database at most every TUNELOOP_CANCEL_POLL_SECONDS.
"""

import logging
import threading
import time
import traceback

from django.conf import settings
from django.db import close_old_connections, connection

from . import selectors, services
from .models import Split

log = logging.getLogger(__name__)


def _refresh_connection():
    """After hours of training the database connection may be gone: drop it if unusable (never
    inside a caller's transaction, e.g. a test calling the task in-process)."""
    if not connection.in_atomic_block:
        close_old_connections()


class _StopCheck:
    """should_stop for the pipeline: cached, asks the database (and beats the heart) every few seconds."""

    def __init__(self, run_id: int, attempt: int, every: float):
        self.run_id, self.attempt, self.every = run_id, attempt, every
        self.last = 0.0
        self.stop = False

    def __call__(self) -> bool:
        if self.stop:
            return True
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.stop = services.heartbeat(run_id=self.run_id, attempt=self.attempt)
        return self.stop


class _Pulse:
    """Beats the run's heart from a daemon thread while the attempt runs, so that long stretches
    without a training step (loading or downloading a large model, a long evaluation, saving a big
    checkpoint) do not get a healthy run marked interrupted. Stop requests are still read by the
    pipeline's should_stop between steps; this thread only writes heartbeat_at."""

    def __init__(self, run_id: int, attempt: int, every: float):
        self.run_id, self.attempt, self.every = run_id, attempt, every
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"run-{run_id}-heartbeat", daemon=True)

    def _loop(self):
        try:
            while not self.done.wait(self.every):
                try:
                    services.heartbeat(run_id=self.run_id, attempt=self.attempt)
                except Exception:  # noqa: BLE001 - a missed beat is retried; it must not kill training
                    log.warning("heartbeat of run %s failed", self.run_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(timeout=10)


def pulse_seconds() -> float:
    """A quarter of TUNELOOP_RUN_STALE_SECONDS: three beats may be missed before a run looks dead."""
    return max(1.0, float(getattr(settings, "TUNELOOP_RUN_STALE_SECONDS", 600)) / 4)


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


def execute(run) -> str:
    """Run the claimed attempt to its end; returns the final state. Never raises for training errors."""
    from training import pipeline

    run_id, attempt = run.pk, run.attempt
    stop = _StopCheck(run_id, attempt, float(getattr(settings, "TUNELOOP_CANCEL_POLL_SECONDS", 2.0)))

    last_step: dict[str, int] = {}

    def on_progress(event):
        data = services.event_dict(event)
        # The trainer repeats values in later events (eval, end): keep one point per (name, step).
        step = int(data.get("step") or 0)
        data["metrics"] = {k: v for k, v in data["metrics"].items() if last_step.get(k, -1) < step}
        last_step.update(dict.fromkeys(data["metrics"], step))
        if not services.record_progress(run_id=run_id, attempt=attempt, event=data, log_line=_log_line(data)):
            stop.stop = True

    try:
        train = services.to_pipeline_rows(
            run.method, selectors.snapshot_rows(run.snapshot, Split.TRAIN).values("data")
        )
        val = services.to_pipeline_rows(
            run.method, selectors.snapshot_rows(run.snapshot, Split.VALIDATION).values("data")
        )
        cfg = pipeline.TrainConfig.from_dict(run.config)
        with _Pulse(run_id, attempt, pulse_seconds()):
            result = pipeline.run_training(cfg, train, val or None, on_progress=on_progress, should_stop=stop)
    except Exception as exc:  # a training error fails the run, it does not crash the worker
        log.exception("training run %s failed", run_id)
        _refresh_connection()
        text = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=20)}"
        return services.fail_run(run_id=run_id, attempt=attempt, error=text).state
    _refresh_connection()
    return services.finish_run(run_id=run_id, attempt=attempt, result=result).state
