"""Per-project version numbers held in the configured cache (shared by every process), bumped by
writers once their transaction commits; derived figures cached under a version (the leaderboard) are
invalidated by the bump, never by recounting rows.

`current(project_id)` is the version now; `bump(project_id)` moves it on commit. A version that the
cache lost (evicted, cleared) restarts from the clock in nanoseconds, so it never repeats an earlier
value and nothing cached under an old version is served again.
"""

import time

from django.core.cache import cache
from django.db import transaction

JUDGMENTS = "judgments"


def _key(project_id: int, name: str) -> str:
    return f"tuneloop:version:{name}:{project_id}"


def current(project_id: int, name: str = JUDGMENTS) -> int:
    """The project's version of `name` (created from the clock when the cache has none)."""
    key = _key(project_id, name)
    value = cache.get(key)
    if value is None:
        cache.add(key, time.time_ns(), timeout=None)
        value = cache.get(key)
    return int(value) if value is not None else time.time_ns()


def _incr(key: str) -> None:
    try:
        cache.incr(key)
    except ValueError:  # not in the cache (never read, evicted): a fresh start above every old value
        cache.add(key, time.time_ns(), timeout=None)


def bump(project_id: int, name: str = JUDGMENTS) -> None:
    """Move the project's version of `name` once the current transaction commits (now outside one)."""
    key = _key(project_id, name)
    transaction.on_commit(lambda: _incr(key))
