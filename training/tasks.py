"""Celery tasks of the training app. `training.tasks.*` is routed to the `gpu` queue.

`run_training_task` is not acks_late: a run lasts longer than a broker's visibility timeout, and a
redelivered message would start a second copy. A worker that dies leaves its run `running`; the
run is marked interrupted when that worker starts again (worker_ready) or when its heartbeat goes
stale (`mark_interrupted_runs`, named outside `training.tasks.*` so it runs on the default queue).
"""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import connection

from . import runner, services

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=False, name="training.tasks.run_training_task")
def run_training_task(self, run_id: int, attempt: int | None = None) -> str:
    run = services.mark_running(
        run_id=run_id, attempt=attempt, hostname=self.request.hostname or "", task_id=self.request.id or ""
    )
    try:
        if run is None:
            return "skipped"
        return runner.execute(run)
    finally:
        # A GPU worker idles between long tasks: give the connection back (unless a caller's
        # transaction, e.g. a test calling the task in-process, still holds it).
        if not connection.in_atomic_block:
            connection.close()


@shared_task(name="training.maintenance.mark_interrupted_runs")
def mark_interrupted_runs() -> list[int]:
    return services.mark_interrupted_runs()


@worker_ready.connect
def _interrupt_runs_of_a_restarted_worker(sender=None, **kwargs):
    """A worker that starts runs nothing yet: whatever the database says it runs died with it."""
    hostname = getattr(sender, "hostname", "") or ""
    try:
        ids = services.mark_interrupted_runs(hostname=hostname) if hostname else []
        ids += services.mark_interrupted_runs()
    except Exception:  # never keep a worker from starting
        log.exception("could not check for interrupted training runs")
        return
    if ids:
        log.warning("marked training runs %s interrupted", ids)
