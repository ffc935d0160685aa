"""Celery tasks of evaluation: thin. `evaluation.tasks.run_eval_task` is routed to the `gpu` queue
(CELERY_TASK_ROUTES); not acks_late, like training's (a redelivered message would start a copy).
A run whose worker died is marked interrupted by `mark_interrupted_evals` (beat) or when the worker
restarts, and is resumed by the lead as a new attempt that skips the finished suites."""

from celery import shared_task
from celery.signals import worker_ready

from annotation.core import broker

from . import worker


@shared_task(bind=True, acks_late=False, name="evaluation.tasks.run_eval_task")
def run_eval_task(self, run_id: int, attempt: int | None = None) -> str:
    return worker.EVALS.run(self, job_id=run_id, attempt=attempt, execute=worker.execute)


def queue_eval_run(run) -> None:
    """Run the current attempt after commit, on a worker; here and now when tasks run eagerly."""
    broker.send_on_commit(run_eval_task, [run.pk, run.attempt], task_id=run.celery_task_id)


@shared_task(name="evaluation.maintenance.mark_interrupted_evals")
def mark_interrupted_evals() -> list[int]:
    return worker.EVALS.mark_interrupted()


@worker_ready.connect
def _interrupt_evals_of_a_restarted_worker(sender=None, **kwargs):
    hostname = getattr(sender, "hostname", "") or ""
    try:
        if hostname:
            worker.EVALS.mark_interrupted(hostname=hostname)
    except Exception:  # noqa: BLE001 - never keep a worker from starting
        pass
