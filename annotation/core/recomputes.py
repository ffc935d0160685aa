"""Background recomputes of derived figures (agreement reports, consensus), with progress and
incremental runs. Used by annotation.quality (agreement) and preferences (consensus).

A lead's "Recompute" calls `request(...)`: it records a `Recompute` (queued) and queues the app's
Celery task with its id, so the request returns at once; the page polls the row for its progress
bar (`templates/annotation/_recompute_progress.html`). Without a configured worker
(`worker_configured`) the task body runs in the request instead. The task calls `run(id, body)`,
which marks the row running, picks the mode and calls `body(since=..., progress=...)`:

  * incremental (`since` = the previous finished run's start minus the lag, annotation.core.changes)
    when a previous run of the same `what` with the same `params` finished and no full run was asked;
  * full (`since=None`) otherwise.

`progress(done, total)` writes the row with its own short UPDATE (outside any transaction of the
body, so pages see it). The body's return value (JSON) is stored as the run's `result`.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from annotation.core import broker, changes
from annotation.models import Recompute

log = logging.getLogger(__name__)
ACTIVE = ("queued", "running")


def worker_configured() -> bool:
    """A Celery worker runs recomputes unless none is configured: TUNELOOP_ASYNC_AGREEMENT on
    (scripts/serve.sh, which starts one, sets it) and tasks not run eagerly (CELERY_TASK_ALWAYS_EAGER)."""
    return bool(settings.TUNELOOP_ASYNC_AGREEMENT) and not settings.CELERY_TASK_ALWAYS_EAGER


def latest(project, what: str) -> Recompute | None:
    return Recompute.objects.filter(project=project, what=what).order_by("-id").first()


def request(*, project, what: str, params: dict, actor, task, full: bool = False) -> Recompute:
    """Record a recompute and queue `task(recompute_id)` once this transaction commits (or run it now
    when no worker is configured). A recompute of the same `what` queued or running, begun less than
    TUNELOOP_RUN_STALE_SECONDS ago, is returned instead of a second one."""
    recent = timezone.now() - timedelta(seconds=settings.TUNELOOP_RUN_STALE_SECONDS)  # older: its worker died
    active = (
        Recompute.objects.filter(project=project, what=what, state__in=ACTIVE, created_at__gte=recent)
        .order_by("-id")
        .first()
    )
    if active is not None:
        return active
    rec = Recompute.objects.create(
        project=project, what=what, params=params, requested_by=actor, result={"full": bool(full)}
    )
    if worker_configured():
        broker.send_on_commit(task, [rec.pk])
    else:
        task(rec.pk)
        rec.refresh_from_db()
    return rec


def _previous(rec: Recompute) -> Recompute | None:
    prev = (
        Recompute.objects.filter(project_id=rec.project_id, what=rec.what, state="done", id__lt=rec.pk)
        .order_by("-id")
        .first()
    )
    return prev if prev is not None and prev.params == rec.params and prev.started_at else None


def run(recompute_id: int, body: Callable) -> Recompute | None:
    """Run a recorded recompute: `body(rec, since=..., progress=...)` -> a JSON-able result."""
    rec = Recompute.objects.filter(pk=recompute_id).select_related("project", "requested_by").first()
    if rec is None or rec.state != "queued":
        return rec  # gone, or another worker took it
    claimed = Recompute.objects.filter(pk=rec.pk, state="queued").update(
        state="running", started_at=timezone.now()
    )
    if not claimed:
        return rec
    rec.refresh_from_db()
    prev = None if (rec.result or {}).get("full") else _previous(rec)
    since = changes.since(prev.started_at) if prev is not None else None
    mode = "full" if since is None else "incremental"
    Recompute.objects.filter(pk=rec.pk).update(mode=mode)

    def progress(done: int, total: int) -> None:
        Recompute.objects.filter(pk=rec.pk).update(done=max(0, done), total=max(0, total))

    try:
        result = body(rec, since=since, progress=progress)
    except Exception as exc:  # recorded for the page; the worker's log has the traceback
        log.exception("Recompute %s of %s failed", rec.pk, rec.what)
        Recompute.objects.filter(pk=rec.pk).update(
            state="failed", error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    Recompute.objects.filter(pk=rec.pk).update(state="done", result=result or {}, finished_at=timezone.now())
    rec.refresh_from_db()
    return rec


def percent(rec: Recompute) -> int:
    if rec.state == "done":
        return 100
    return int(100 * rec.done / rec.total) if rec.total else 0
