"""Celery tasks of the training app: thin (load ids, call the worker or the snapshot builder).

`training.tasks.*` is routed to the `gpu` queue: only `run_training_task` is named there. A snapshot
build needs no model but MiniLM on CPU, so `build_snapshot_task` is named outside it and runs on the
default queue, like `mark_interrupted_runs`.

`run_training_task` is not acks_late: a run lasts longer than a broker's visibility timeout, and a
redelivered message would start a second copy. A worker that dies leaves its run `running`; the
run is marked interrupted when that worker starts again (worker_ready) or when its heartbeat goes
stale (`mark_interrupted_runs`).
"""

import logging

from celery import shared_task
from celery.signals import worker_ready

from annotation.core import broker

from . import exports, snapshots, worker
from .models import DatasetSnapshot, SnapshotState

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=False, name="training.tasks.run_training_task")
def run_training_task(self, run_id: int, attempt: int | None = None) -> str:
    return worker.RUNS.run(self, job_id=run_id, attempt=attempt, execute=worker.execute)


@shared_task(name="training.snapshots.build_snapshot_task")
def build_snapshot_task(snapshot_id: int) -> str:
    """Build a `building` snapshot; returns its final state. A failure is recorded on the snapshot."""
    snapshot = DatasetSnapshot.objects.select_related("project", "created_by").filter(pk=snapshot_id).first()
    if snapshot is None or snapshot.state != SnapshotState.BUILDING:
        return "skipped"
    try:
        state = snapshots.build(snapshot).state
    except Exception as exc:  # recorded on the snapshot for the lead; the worker carries on
        log.warning("snapshot %s failed to build", snapshot_id, exc_info=True)
        snapshots.fail(snapshot_id, snapshots.error_text(exc))
        exports.fail_pending(snapshot_id, snapshots.error_text(exc))
        return SnapshotState.FAILED
    for job in exports.waiting_for(snapshot_id):
        queue_export(job)  # exports asked for while the snapshot was building (see exports.lock_snapshot)
    return state


def queue_snapshot_build(snapshot: DatasetSnapshot) -> None:
    """Build after the current transaction commits, on a worker; here and now when no worker is
    configured (CELERY_TASK_ALWAYS_EAGER). The one place that decides."""
    if build_snapshot_task.app.conf.task_always_eager:
        build_snapshot_task.apply(args=[snapshot.pk])
        snapshot.refresh_from_db()
    else:
        broker.send_on_commit(build_snapshot_task, [snapshot.pk])


def queue_training_run(run) -> str:
    """Queue the run's current attempt after commit; returns the task id (stored on the run)."""
    task_id = run.celery_task_id
    broker.send_on_commit(run_training_task, [run.pk, run.attempt], task_id=task_id)
    return task_id


@shared_task(bind=True, acks_late=False, name="training.exports.run_export_task")
def run_export_task(self, job_id: int, attempt: int | None = None) -> str:
    """One attempt of an export job (default queue); a stale attempt number does nothing."""
    job = exports.claim(
        job_id=job_id, attempt=attempt, hostname=self.request.hostname or "", task_id=self.request.id or ""
    )
    if job is None:
        return "skipped"
    return exports.execute(job)


def queue_export(job) -> None:
    """Run the job's current attempt after commit on a worker; here and now without one."""
    if run_export_task.app.conf.task_always_eager:
        run_export_task.apply(args=[job.pk, job.attempt])
        job.refresh_from_db()
    else:
        broker.send_on_commit(run_export_task, [job.pk, job.attempt])


@shared_task(name="training.maintenance.recover_stale_exports")
def recover_stale_exports(hostname: str = "") -> list[int]:
    """Requeue exports whose worker died; each runs again as a new attempt. Periodically (no
    hostname), also queue again exports left queued on a ready snapshot (a lost message)."""
    jobs = exports.recover_stale(hostname=hostname)
    for job in jobs:
        queue_export(job)
    if not hostname:
        for job in exports.forgotten():
            queue_export(job)
    return [job.pk for job in jobs]


@shared_task(name="training.maintenance.mark_interrupted_runs")
def mark_interrupted_runs() -> list[int]:
    return worker.mark_interrupted_runs()


@worker_ready.connect
def _interrupt_runs_of_a_restarted_worker(sender=None, **kwargs):
    """A worker that starts runs nothing yet: whatever the database says it runs died with it."""
    hostname = getattr(sender, "hostname", "") or ""
    try:
        ids = worker.mark_interrupted_runs(hostname=hostname) if hostname else []
        ids += worker.mark_interrupted_runs()
        if hostname:
            recover_stale_exports(hostname)
    except Exception:  # never keep a worker from starting
        log.exception("could not check for interrupted training runs")
        return
    if ids:
        log.warning("marked training runs %s interrupted", ids)
