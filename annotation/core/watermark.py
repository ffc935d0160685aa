"""The settled judgment id: the highest judgment id below which every judgment has committed (or never
will). Sums maintained over judgment *events* up to a watermark (`preferences.tally_state`, the
dashboard's `annotation.projects.timing_state`) may only advance it to a settled id.

On PostgreSQL ids come from a sequence and commit out of order (a long import holds low ids while
submits commit higher ones), so the settled id is read under `LOCK TABLE annotation_judgment IN SHARE
MODE`, which waits for every in-flight writer and is held for one `SELECT max(id)`; it gives up after
FOLD_LOCK_TIMEOUT (None: the caller's read stays exact, its fold waits for a later read). A VACUUM of
the table (autovacuum included) holds a conflicting lock, so folds are skipped while one runs. SQLite
runs one writer at a time, so the highest visible id is settled.

An id drawn from the sequence before its row is inserted (the submit hot path draws the new judgment's
id in the statement that locks the assignment, `annotation.queue.hot_sql.with_new_judgment_id`) is held
by no table lock yet: the drawing statement also takes `pg_advisory_xact_lock_shared(ID_DRAW_LOCK)`
(`drawn_id_sql`), and the settled id is read only once the exclusive form of that advisory lock is
granted too, so a drawn but uncommitted id is never below a settled one.
"""

from django.db import OperationalError, connection, transaction

from annotation.models import Judgment

FOLD_LOCK_TIMEOUT = "50ms"  # submits queue behind a waiting LOCK: keep their stall short
ID_DRAW_LOCK = 0x74756E656C6F6F70  # "tuneloop": held shared by every transaction holding a drawn judgment id


def drawn_id_sql() -> tuple[str, tuple]:
    """SQL (and params) of an expression that draws the next judgment id under the shared advisory lock
    that keeps the settled id below it until the drawing transaction ends (PostgreSQL)."""
    return (
        "(SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM pg_advisory_xact_lock_shared(%s) AS drawn)",
        (Judgment._meta.db_table, Judgment._meta.pk.column, ID_DRAW_LOCK),
    )


def settled_judgment_id() -> int | None:
    """The highest judgment id below which every judgment has committed (or never will); None when the
    lock was not granted within FOLD_LOCK_TIMEOUT (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return Judgment.objects.order_by("-id").values_list("id", flat=True).first() or 0
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"SET LOCAL lock_timeout = '{FOLD_LOCK_TIMEOUT}'")
            cur.execute("LOCK TABLE annotation_judgment IN SHARE MODE")
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [ID_DRAW_LOCK])  # drawn ids: drawn_id_sql
            cur.execute("SELECT COALESCE(max(id), 0) FROM annotation_judgment")
            return cur.fetchone()[0]
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "55P03":  # lock_not_available: writers in flight
            return None
        raise
