"""Per-project version numbers, bumped by writers once their transaction commits; derived figures
cached under a version (the leaderboard) are invalidated by the bump, never by recounting rows.

`current(project_id)` is the version now; `bump(project_id)` moves it on commit. The numbers live in
a small table (`Version`, one row per project and name), not in the cache: every process sees the
same number whatever the cache backend (the default database cache turned an increment into four
statements and could cull the entry; Redis could evict it). A bump is one statement, run after the
writer's commit in autocommit: the row is locked only for that statement, never through the
writer's transaction, so concurrent submits in a project do not queue behind each other's work.
A project without a row is at 0 (reading writes nothing: a page's statements do not depend on whether
anything was judged yet); its first bump makes it 1. A row goes only with its project (whose cache
keys carry its creation time) or with a restore, which clears the cache: no number comes back for
other data while something is still cached under it.
"""

from django.db import IntegrityError, connection, transaction

from annotation.core.models import Version

JUDGMENTS = "judgments"


def current(project_id: int, name: str = JUDGMENTS) -> int:
    """The project's version of `name` (0 before its first bump): one statement."""
    rows = Version.objects.filter(project_id=project_id, name=name).values_list("number", flat=True)
    return next(iter(rows), 0)


def _move(project_id: int, name: str) -> None:
    table = connection.ops.quote_name(Version._meta.db_table)
    sql = (
        f"INSERT INTO {table} (project_id, name, number) VALUES (%s, %s, 1)"
        f" ON CONFLICT (project_id, name) DO UPDATE SET number = {table}.number + 1"
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, (project_id, name))
    except IntegrityError:  # the project was deleted meanwhile (autocommit: the check is this statement's)
        pass


def bump(project_id: int, name: str = JUDGMENTS) -> None:
    """Move the project's version of `name` once the current transaction commits (now outside one):
    one statement, in autocommit."""
    transaction.on_commit(lambda: _move(project_id, name))
