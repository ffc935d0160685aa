"""The settled judgment id: the highest judgment id below which every judgment has committed (or never
will). Sums maintained over judgment *events* up to a watermark (`preferences.tally_state`, the
dashboard's `annotation.projects.timing_state`) may only advance it to a settled id.

On PostgreSQL ids come from a sequence and commit out of order (a long import holds low ids while
submits commit higher ones), so the settled id is read under `LOCK TABLE annotation_judgment IN SHARE
MODE`, which waits for every in-flight writer and is held for one `SELECT max(id)`; it gives up after
FOLD_LOCK_TIMEOUT (None: the caller's read stays exact, its fold waits for a later read). A VACUUM of
the table (autovacuum included) holds a conflicting lock, so folds are skipped while one runs. SQLite
runs one writer at a time, so the highest visible id is settled.
"""

from django.db import OperationalError, connection, transaction

from annotation.models import Judgment

FOLD_LOCK_TIMEOUT = "50ms"  # submits queue behind a waiting LOCK: keep their stall short


def settled_judgment_id() -> int | None:
    """The highest judgment id below which every judgment has committed (or never will); None when the
    lock was not granted within FOLD_LOCK_TIMEOUT (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return Judgment.objects.order_by("-id").values_list("id", flat=True).first() or 0
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"SET LOCAL lock_timeout = '{FOLD_LOCK_TIMEOUT}'")
            cur.execute("LOCK TABLE annotation_judgment IN SHARE MODE")
            cur.execute("SELECT COALESCE(max(id), 0) FROM annotation_judgment")
            return cur.fetchone()[0]
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "55P03":  # lock_not_available: writers in flight
            return None
        raise
