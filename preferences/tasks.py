"""Celery tasks of the preferences app (thin: load ids, call a service)."""

from celery import shared_task

from annotation.core import recomputes

from . import services


@shared_task(name="preferences.tasks.recompute_consensus")
def recompute_consensus(recompute_id: int):
    """Run a recorded consensus recompute (annotation.core.recomputes): incremental when it can be."""
    rec = recomputes.run(recompute_id, services.consensus_body)
    return rec.pk if rec is not None else None
