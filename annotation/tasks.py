"""Celery tasks: thin wrappers that load ids and call a service."""

from celery import shared_task

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
    from annotation.quality import selectors as quality_selectors
    from annotation.quality.reports import recompute_agreement

    done = []
    for project in quality_selectors.projects_with_stale_agreement():
        recompute_agreement(project=project)
        done.append(project.pk)
    return done


@shared_task(name="annotation.tasks.compute_agreement")
def compute_agreement(project_id: int) -> int | None:
    """Recompute the project's agreement report (annotation.agreement_reports); the report id."""
    from annotation.models import Project
    from annotation.quality.reports import recompute_agreement

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    return recompute_agreement(project=project).pk
