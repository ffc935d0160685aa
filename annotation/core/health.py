"""`/healthz`: is this deployment alive? For load balancers and monitors; no login, no secrets.

The body: `database` "ok"/"error" (a `SELECT 1`), `broker` "ok"/"error"/"unconfigured" (a connection
with a short timeout; "unconfigured" with no broker URL or eager tasks) and `worker`: the age in seconds
of the newest worker heartbeat, or "none". Heartbeats: the `worker-heartbeat` beat task (each minute
on the default queue: `beat()` stamps the shared cache) and every job a worker is running (training
runs, exports, eval runs refresh `heartbeat_at`; their apps add them with `register_heartbeats`).
The status is 200 when the database answers, else 503: the broker and worker are reported, not fatal.
"""

from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection as default_connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from kombu import Connection

CACHE_KEY = "tuneloop:worker-heartbeat"
BROKER_TIMEOUT_SECONDS = 2.0
# Callables returning the newest heartbeat of a kind of job (or None); filled by apps' ready().
HEARTBEAT_SOURCES: list[Callable[[], datetime | None]] = []


def register_heartbeats(source: Callable[[], datetime | None]) -> None:
    if source not in HEARTBEAT_SOURCES:
        HEARTBEAT_SOURCES.append(source)


def beat() -> None:
    """A worker is alive now (the beat task's body)."""
    cache.set(CACHE_KEY, timezone.now().timestamp(), timeout=None)


def database_status(conn=None) -> str:
    conn = conn or default_connection
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # any failure to answer is "error": the body names no host, user or message
        return "error"
    return "ok"


def broker_status(url: str | None = None, timeout: float = BROKER_TIMEOUT_SECONDS) -> str:
    url = settings.CELERY_BROKER_URL if url is None else url
    if not url or settings.CELERY_TASK_ALWAYS_EAGER:
        return "unconfigured"
    try:
        with Connection(url, connect_timeout=timeout, transport_options={"max_retries": 0}) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception:
        return "error"
    return "ok"


def newest_heartbeat() -> datetime | None:
    stamps = []
    try:
        stamp = cache.get(CACHE_KEY)
    except Exception:  # the cache's own store is down: the other sources still count
        stamp = None
    if stamp is not None:
        stamps.append(datetime.fromtimestamp(float(stamp), tz=UTC))
    for source in HEARTBEAT_SOURCES:
        try:
            found = source()
        except Exception:
            found = None
        if found is not None:
            stamps.append(found)
    return max(stamps, default=None)


def report(*, conn=None, broker_url: str | None = None) -> tuple[int, dict]:
    """(HTTP status, body) of the health check."""
    database = database_status(conn)
    newest = newest_heartbeat() if database == "ok" else None
    worker = round((timezone.now() - newest).total_seconds(), 1) if newest else "none"
    body = {"database": database, "broker": broker_status(broker_url), "worker": worker}
    return (200 if database == "ok" else 503), body


@never_cache
def healthz(request):
    status, body = report()
    return JsonResponse(body, status=status)
