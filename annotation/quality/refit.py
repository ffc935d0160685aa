"""Dawid-Skene outside the incremental recompute: the latest fit kept, the refit debounced.

The agreement sums are updated incrementally (annotation.quality.tally_store), but the Dawid-Skene fit
is not a sum: it is an EM over every current vote of the project (a million votes: ~10 s). An
incremental recompute run by the worker therefore keeps the latest fit (`stored_fit`: the
`AnnotatorReliability` rows, as of the latest report's "reliability_as_of") and `schedule`s one refit:
a task queued `TUNELOOP_RELIABILITY_REFIT_SECONDS` later, at most one pending per project (the cache
key is added atomically and removed when the refit starts), which recomputes the report from the stored
sums with a fresh fit under the project's lock, so that no incremental run's report with newer sums
comes before it (annotation.quality.reports.refit). A full recompute, and any recompute when no
worker is configured (`inline`), fits in place as before. The page shows "reliability as of …".
Known gap: a refit that lands between an incremental run's sums and its report is overwritten by that
report's kept fit; the next incremental run queues another refit.
"""

import logging

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from annotation.core import bulk, recomputes
from annotation.models import AgreementReport, AnnotatorReliability

log = logging.getLogger(__name__)
TASK = "annotation.tasks.refit_reliability"


def inline(since) -> bool:
    """Whether a recompute refits Dawid-Skene itself: a full one, or any when no worker runs tasks."""
    return since is None or not recomputes.worker_configured()


def _key(project) -> str:
    return f"tuneloop:reliability-refit:{project.pk}"


def _send(project_id: int, delay: float) -> None:
    """Publish annotation.tasks.refit_reliability by name (its module imports the reports, which
    import this one)."""
    current_app.send_task(TASK, args=[project_id], countdown=delay)


def schedule(project) -> bool:
    """Queue the project's refit `TUNELOOP_RELIABILITY_REFIT_SECONDS` from now unless one is pending
    or no worker runs tasks (a caller that skipped the fit without one refits itself); whether one
    was queued. A broker that does not answer leaves nothing pending: the next recompute queues it."""
    if not recomputes.worker_configured():
        return False
    delay = settings.TUNELOOP_RELIABILITY_REFIT_SECONDS
    if not cache.add(_key(project), 1, timeout=delay + 3600):  # pending (the key outlives a slow worker)
        return False
    try:
        _send(project.pk, delay)
    except Exception as exc:  # the broker is down: not pending, so the next recompute tries again
        cache.delete(_key(project))
        log.warning("reliability refit of project %s not queued: %s", project.pk, exc)
        return False
    return True


def started(project) -> None:
    """A refit starts: a later change queues the next one."""
    cache.delete(_key(project))


def stored_fit(project):
    """(f(kind, annotators, labels) -> {annotator: (accuracy, weight)}, the fit's time) from the
    latest fit; None when there is none to keep (no report yet, or one stored before this field)."""
    latest = AgreementReport.objects.filter(project=project).order_by("-id").values_list("data", flat=True)
    as_of = ((latest.first() or {}) or {}).get("reliability_as_of")
    if as_of is None:
        return None
    rows = AnnotatorReliability.objects.filter(project=project).values_list(
        "kind", "annotator_id", "accuracy", "weight"
    )
    fitted = {(kind, a): (accuracy, weight) for kind, a, accuracy, weight in rows}

    def fit(kind, annotators, labels):
        return {a: fitted[(kind, a)] for a in annotators if (kind, a) in fitted}

    return fit, as_of


def write_reliability(project, report, data) -> None:
    """Bring `AnnotatorReliability` to the report's figures, writing only the rows that changed."""
    now = timezone.now()
    rows = {
        (row["user_id"], kind): (row["reliability"], row["weight"], row["judgments"])
        for kind, members in data["annotators"].items()
        for row in members
        if row.get("weight") is not None
    }
    bulk.upsert(
        AnnotatorReliability,
        [
            "project_id",
            "annotator_id",
            "kind",
            "accuracy",
            "weight",
            "n_judgments",
            "report_id",
            "updated_at",
        ],
        ((project.pk, a, kind, *values, report.pk, bulk.when(now)) for (a, kind), values in rows.items()),
        conflict=["project_id", "annotator_id", "kind"],
        update=["accuracy", "weight", "n_judgments", "report_id", "updated_at"],
        compare=["accuracy", "weight", "n_judgments"],
    )
    stale = [
        pk
        for pk, a, kind in AnnotatorReliability.objects.filter(project=project).values_list(
            "id", "annotator_id", "kind"
        )
        if (a, kind) not in rows
    ]
    if stale:
        AnnotatorReliability.objects.filter(pk__in=stale).delete()
