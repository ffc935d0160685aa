"""Celery tasks of quality work, and the one rule deciding whether a lead's "Recompute" queues the
agreement report on a worker or computes it in the request. Registered through `annotation.tasks`
(task names stay `annotation.tasks.*`)."""

from dataclasses import dataclass

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model

from annotation.core.errors import Forbidden
from annotation.core.permissions import can
from annotation.models import AgreementReport, Project
from annotation.quality import reports
from annotation.quality import selectors as quality_selectors


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
    the report id. A lead's "Recompute" queues it (request_recompute, below)."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id is not None else None
    return reports.recompute_agreement(project=project, actor=actor).pk


@dataclass(frozen=True)
class Recompute:
    """What a lead's "Recompute" did: "queued" for the worker, or "recomputed" here (with the report)."""

    outcome: str
    report: AgreementReport | None = None


def worker_computes_agreement() -> bool:
    """The one rule: a Celery worker computes the report unless no worker is configured.

    A worker is configured when TUNELOOP_ASYNC_AGREEMENT is on (scripts/serve.sh, which starts one,
    turns it on; so do deployments that run one) and tasks are not run eagerly in the caller
    (CELERY_TASK_ALWAYS_EAGER). Otherwise the report is computed in the request."""
    return bool(settings.TUNELOOP_ASYNC_AGREEMENT) and not settings.CELERY_TASK_ALWAYS_EAGER


def request_recompute(*, project, actor) -> Recompute:
    """A lead's "Recompute": queue `compute_agreement`, or compute the report now when no worker is
    configured (`worker_computes_agreement`)."""
    if not can(actor, "view_dashboard", project):
        raise Forbidden("Only leads compute agreement.")
    if worker_computes_agreement():
        compute_agreement.delay(project.pk, actor.pk)
        return Recompute("queued")
    return Recompute("recomputed", reports.recompute_agreement(project=project, actor=actor))
