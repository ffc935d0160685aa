"""Per-project version numbers, bumped by writers once their transaction commits; derived figures
cached under a version (the leaderboard) are invalidated by the bump, never by recounting rows.

`current(project_id)` is the version now; `bump(project_id)` moves it on commit. The numbers live in
a small table (`Version`, one row per project and name), not in the cache: every process sees the
same number whatever the cache backend (the default database cache turned an increment into four
statements and could cull the entry; Redis could evict it). A bump is one statement, run after the
writer's commit in autocommit: the row is locked only for that statement, never through the
writer's transaction, so concurrent submits in a project do not queue behind each other's work.
A version starts from the clock in nanoseconds (its row created on first use, or again after it was
lost with its project), so it never repeats an earlier value and nothing cached under an old
version is served again.
"""

import time

from django.db import IntegrityError, connection, transaction

from annotation.core.models import Version

JUDGMENTS = "judgments"


def _upsert_sql(on_conflict: str) -> str:
    table = connection.ops.quote_name(Version._meta.db_table)
    return (
        f"INSERT INTO {table} (project_id, name, number) VALUES (%s, %s, %s)"
        f" ON CONFLICT (project_id, name) DO {on_conflict}"
    )


def current(project_id: int, name: str = JUDGMENTS) -> int:
    """The project's version of `name` (started from the clock when it has none)."""
    rows = Version.objects.filter(project_id=project_id, name=name).values_list("number", flat=True)
    number = rows.first()
    if number is None:
        with connection.cursor() as cursor:
            cursor.execute(_upsert_sql("NOTHING"), (project_id, name, time.time_ns()))
        number = rows.first()
    return int(number) if number is not None else time.time_ns()


def _move(project_id: int, name: str) -> None:
    table = connection.ops.quote_name(Version._meta.db_table)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                _upsert_sql(f"UPDATE SET number = {table}.number + 1"), (project_id, name, time.time_ns())
            )
    except IntegrityError:  # the project was deleted meanwhile (autocommit: the check is this statement's)
        pass


def bump(project_id: int, name: str = JUDGMENTS) -> None:
    """Move the project's version of `name` once the current transaction commits (now outside one):
    one statement, in autocommit."""
    transaction.on_commit(lambda: _move(project_id, name))
