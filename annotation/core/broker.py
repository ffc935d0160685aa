"""Task messages that survive a broker outage, and whether the broker is up.

Annotation and review never need the broker: only work that a worker does (training, evaluation,
snapshot builds, exports, imports, background recomputes) is published. When Redis is down:

- `send(task, args, kwargs, task_id=...)` publishes the message; when the broker does not answer
  (settings make a publish fail within about two seconds) the message goes to the outbox, a
  `PendingTask` row, and False is returned: the request that asked for the work goes on, its row
  (a run, a snapshot, a job) stays queued. `send_on_commit` does it once the transaction commits.
- `flush()` publishes the outbox, oldest first, each message once (rows locked, SKIP LOCKED where the
  database has it). Every worker flushes as it starts (`worker_ready`: a worker that starts can reach
  the broker) and beat each minute (`annotation.tasks.flush_outbox`). A queued job's task claims it
  by state and attempt, so a message published twice still runs the job once.
- `available()`: did the broker answer a probe in the last PROBE_SECONDS? (per process; a failed
  publish marks it down at once.) Pages that offer such work say it is unavailable.
"""

import logging
import time

from celery import current_app
from celery.signals import worker_ready
from django.contrib import messages
from django.db import connection, transaction

from annotation.core import health
from annotation.core.models import PendingTask

log = logging.getLogger(__name__)
PROBE_SECONDS = 15.0
PROBE_TIMEOUT_SECONDS = 1.0
_state = {"checked": 0.0, "up": True}
UNAVAILABLE = "Training is unavailable right now: the task queue (Redis) does not answer."


def queued_notice(what: str) -> str:
    """The message after asking for work: `what` is kept and starts when the broker is back."""
    return f"{UNAVAILABLE} {what} is kept queued and starts when it is back."


def queued(request, notice: str | None, what: str, waiting: bool = True) -> None:
    """The page message after asking for work a worker does: `notice` (None: no message, the object's
    own page shows its live state), or, when the broker does not answer (and the work is `waiting` for
    a worker), that `what` is kept queued until it is back."""
    if waiting and not available():
        messages.warning(request, queued_notice(what))
    elif notice:
        messages.success(request, notice)


def _mark(up: bool) -> None:
    _state.update(checked=time.monotonic(), up=up)


def available() -> bool:
    """Whether the broker answered within the last PROBE_SECONDS (probed again when older)."""
    if current_app.conf.task_always_eager:
        return True
    if time.monotonic() - _state["checked"] > PROBE_SECONDS:
        _mark(health.broker_status(timeout=PROBE_TIMEOUT_SECONDS) != "error")
    return _state["up"]


def _publish(task, args, kwargs, task_id: str) -> None:
    if task_id:
        task.apply_async(args=args, kwargs=kwargs, task_id=task_id)
    else:
        task.delay(*args, **kwargs)


def send(task, args=(), kwargs=None, *, task_id: str = "") -> bool:
    """Publish `task(*args, **kwargs)`; True when the broker took it, False when it went to the outbox."""
    args, kwargs = list(args), dict(kwargs or {})
    if current_app.conf.task_always_eager:  # runs here and now: its errors are the task's, not the broker's
        _publish(task, args, kwargs, task_id)
        return True
    try:
        _publish(task, args, kwargs, task_id)
    except Exception as exc:  # the broker or the result store is unreachable: any error, keep the message
        _mark(False)
        log.warning("broker unavailable, %s kept in the outbox: %s", task.name, exc)
        PendingTask.objects.create(
            name=task.name, args=args, kwargs=kwargs, task_id=task_id or "", error=str(exc)[:2000]
        )
        return False
    _mark(True)
    return True


def send_on_commit(task, args=(), kwargs=None, *, task_id: str = "") -> None:
    transaction.on_commit(lambda: send(task, args, kwargs, task_id=task_id))


def flush(limit: int = 500) -> int:
    """Publish outbox messages, oldest first; the number published. Stops at the first failure."""
    skip_locked = connection.features.has_select_for_update_skip_locked
    published = 0
    for _ in range(limit):
        with transaction.atomic():
            row = PendingTask.objects.select_for_update(skip_locked=skip_locked).order_by("id").first()
            if row is None:
                break
            try:
                _publish(current_app.tasks[row.name], row.args, row.kwargs, row.task_id)
            except Exception as exc:  # still down: keep it for the next sweep
                _mark(False)
                PendingTask.objects.filter(pk=row.pk).update(attempts=row.attempts + 1, error=str(exc)[:2000])
                break
            row.delete()
            published += 1
    if published:
        _mark(True)
        log.info("published %s task messages from the outbox", published)
    return published


def pending() -> int:
    return PendingTask.objects.count()


@worker_ready.connect
def _flush_when_a_worker_starts(sender=None, **kwargs):
    try:
        flush()
    except Exception:  # never keep a worker from starting
        log.exception("could not publish the outbox")
