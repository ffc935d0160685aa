"""Page figures that are costly over a large project, kept in Django's cache (Redis in production).

`figures(key, stamp, compute)`: a figure set is computed afresh when it is cheap (under `CHEAP`
seconds the last time) or when `stamp` (a value that changes with the data, such as the project's
newest audit event id) moved and the copy is older than `MAX_AGE` seconds; otherwise the cached copy
is served. Small projects therefore always see fresh figures; a large one sees figures at most a
minute old under constant writes, and pays the full computation once a minute, not on every view.
"""

import time

from django.core.cache import cache

from annotation.models import AuditEvent

CHEAP = 0.1  # seconds: figures faster than this are never served from the cache
MAX_AGE = 60  # seconds a costly copy may lag behind the data
TIMEOUT = 24 * 3600


def data_stamp(project):
    """A value that moves whenever the project's judgments, items, pairs or decisions do: its newest
    audit event id (every write path records one; one probe of audit_project_idx)."""
    return AuditEvent.objects.filter(project=project).order_by("-id").values_list("id", flat=True).first()


def project_key(project, name: str) -> str:
    """A cache key of one project's figures (with its creation time: ids alone may be reused)."""
    created = project.created_at.timestamp() if project.created_at else 0
    return f"tuneloop:{name}:{project.pk}:{created}"


def figures(key: str, stamp, compute) -> tuple[object, float]:
    """(the figures, the time.time() they were computed at)."""
    hit = cache.get(key)
    now = time.time()
    if hit is not None and hit["cost"] >= CHEAP and (hit["stamp"] == stamp or now - hit["at"] < MAX_AGE):
        return hit["value"], hit["at"]
    started = time.perf_counter()
    value = compute()
    cost = time.perf_counter() - started
    cache.set(key, {"stamp": stamp, "at": now, "cost": cost, "value": value}, timeout=TIMEOUT)
    return value, now


def rendered(key: str, render) -> str:
    """Markup that depends only on immutable input (a stored report): rendered once, then cached."""
    html = cache.get(key)
    if html is None:
        html = render()
        cache.set(key, html, timeout=TIMEOUT)
    return html
