"""Celery tasks of quality work, and the one rule deciding whether a lead's "Recompute" queues the
agreement report on a worker or computes it in the request. Registered through `annotation.tasks`
(task names stay `annotation.tasks.*`)."""

from dataclasses import dataclass

from celery import shared_task
from django.contrib.auth import get_user_model

from annotation.core import broker, recomputes
from annotation.core.errors import Forbidden
from annotation.core.permissions import can
from annotation.models import AgreementReport, Project
from annotation.models import Recompute as RecomputeRun
from annotation.quality import reports, search_index, tally_store
from annotation.quality import selectors as quality_selectors


@shared_task(name="annotation.tasks.refresh_agreement_reports")
def refresh_agreement_reports() -> list[int]:
    """Recompute the agreement report of every project whose judgments or adjudications changed since
    its latest report (beat runs this every TUNELOOP_AGREEMENT_REFRESH_SECONDS); their ids. The
    dashboard reads the stored report: no page view computes over the judgments."""
    done = []
    for project in quality_selectors.projects_with_stale_agreement():  # only the changed items redone
        reports.recompute_agreement(project=project, since=tally_store.last_started(project))
        done.append(project.pk)
    return done


@shared_task(name="annotation.tasks.refit_reliability")
def refit_reliability(project_id: int) -> int | None:
    """The debounced Dawid-Skene refit after incremental recomputes (annotation.quality.refit); the
    report id."""
    project = Project.objects.filter(pk=project_id).first()
    stored = reports.refit(project) if project is not None else None
    return stored.pk if stored is not None else None


@shared_task(name="annotation.tasks.compute_agreement")
def compute_agreement(project_id: int, actor_id: int | None = None) -> int | None:
    """Recompute the project's agreement report for the lead who asked (annotation.quality.reports);
    the report id. A lead's "Recompute" queues it (request_recompute, below)."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id is not None else None
    return reports.recompute_agreement(project=project, actor=actor).pk


@shared_task(name="annotation.tasks.run_agreement_recompute")
def run_agreement_recompute(recompute_id: int) -> int | None:
    """Run a recorded agreement recompute (annotation.core.recomputes); the report id."""
    rec = recomputes.run(recompute_id, reports.agreement_body)
    return (rec.result or {}).get("report") if rec is not None else None


@dataclass(frozen=True)
class RecomputeOutcome:
    """What a lead's "Recompute" did: "queued" for the worker, or "recomputed" here (with the report);
    `recompute` is the recorded run the page shows the progress of."""

    outcome: str
    report: AgreementReport | None = None
    recompute: RecomputeRun | None = None


def worker_computes_agreement() -> bool:
    """The one rule (annotation.core.recomputes.worker_configured): a Celery worker computes the report
    unless no worker is configured (TUNELOOP_ASYNC_AGREEMENT off, or CELERY_TASK_ALWAYS_EAGER on)."""
    return recomputes.worker_configured()


def request_recompute(*, project, actor, full: bool = False) -> RecomputeOutcome:
    """A lead's "Recompute": record it and queue `run_agreement_recompute`, or compute the report now
    when no worker is configured (`worker_computes_agreement`)."""
    if not can(actor, "view_dashboard", project):
        raise Forbidden("Only leads compute agreement.")
    rec = recomputes.request(
        project=project, what="agreement", params={"count_external": project.count_external_judgments},
        actor=actor, task=run_agreement_recompute, full=full,
    )  # fmt: skip
    if rec.state in recomputes.ACTIVE:
        return RecomputeOutcome("queued", recompute=rec)
    report = AgreementReport.objects.filter(pk=(rec.result or {}).get("report")).first()
    return RecomputeOutcome("recomputed", report, rec)


@shared_task(name="annotation.tasks.index_item_search")
def index_item_search(project_id: int | None = None) -> int:
    """Write the Items page's search rows of items that have none (annotation.quality.search_index):
    queued by an import for its project; beat runs it for all projects and removes deleted items' rows."""
    if project_id is None:
        search_index.purge()
    return search_index.fill(project_id)


def queue_index(project_id: int) -> None:
    """Fill `project_id`'s search rows on a worker once the current transaction commits (PostgreSQL
    only; here and now under CELERY_TASK_ALWAYS_EAGER)."""
    if search_index.enabled():
        broker.send_on_commit(index_item_search, [project_id])
