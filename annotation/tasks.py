"""Celery tasks: thin wrappers that load ids and call a service. Celery finds the app's tasks here:
the quality tasks live in `annotation.quality.tasks`, the import job's in `annotation.importing.tasks`; both
are imported below so that it registers them."""

from celery import shared_task

from annotation.core import broker, health, idempotency
from annotation.importing.tasks import run_import_job
from annotation.quality.tasks import (
    compute_agreement,
    index_item_search,
    refit_reliability,
    refresh_agreement_reports,
    run_agreement_recompute,
)
from annotation.queue import services as queue_services


@shared_task(name="annotation.tasks.release_expired_leases")
def release_expired_leases(batch: int = 500, max_batches: int = 40) -> int:
    """Return every expired lease's slot to the queue (beat runs this each minute); the number released.

    Works in batches of `batch`, each its own short transaction, so a backlog never holds locks long.
    """
    total = 0
    for _ in range(max_batches):
        released = queue_services.release_expired_leases(limit=batch)
        total += released
        if released < batch:
            break
    return total


@shared_task(name="annotation.tasks.worker_heartbeat")
def worker_heartbeat() -> None:
    """Beat runs this each minute on the default queue: /healthz reports how long ago a worker ran it."""
    health.beat()


@shared_task(name="annotation.tasks.flush_outbox")
def flush_outbox() -> int:
    """Beat runs this each minute: task messages kept while the broker was down are published."""
    return broker.flush()


@shared_task(name="annotation.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Beat runs this hourly: API idempotency keys past TUNELOOP_IDEMPOTENCY_HOURS are deleted."""
    return idempotency.purge_expired()


__all__ = [
    "compute_agreement",
    "index_item_search",
    "flush_outbox",
    "purge_idempotency_keys",
    "refit_reliability",
    "refresh_agreement_reports",
    "release_expired_leases",
    "worker_heartbeat",
    "run_agreement_recompute",
    "run_import_job",
]
