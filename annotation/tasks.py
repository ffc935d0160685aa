"""Celery tasks: thin wrappers that load ids and call a service."""

from celery import shared_task
from django.contrib.auth import get_user_model

from annotation.models import Project
from annotation.quality import reports
from annotation.quality import selectors as quality_selectors
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


@shared_task(name="annotation.tasks.refresh_agreement_reports")
def refresh_agreement_reports() -> list[int]:
    """Recompute the agreement report of every project whose judgments or adjudications changed since
    its latest report (beat runs this every TUNELOOP_AGREEMENT_REFRESH_SECONDS); their ids. The
    dashboard reads the stored report: no page view computes over the judgments."""
    done = []
    for project in quality_selectors.projects_with_stale_agreement():
        reports.recompute_agreement(project=project)
        done.append(project.pk)
    return done


@shared_task(name="annotation.tasks.compute_agreement")
def compute_agreement(project_id: int, actor_id: int | None = None) -> int | None:
    """Recompute the project's agreement report for the lead who asked (annotation.quality.reports);
    the report id. A lead's "Recompute" queues it (reports.request_recompute)."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id is not None else None
    return reports.recompute_agreement(project=project, actor=actor).pk
