"""The dashboard's time per item, maintained incrementally: stored sums up to a judgment id, plus a delta.

`timing(project)` equals `selectors.judgment_timing_direct(project)` (one pass over the project's
current judgments with `percentile_cont`, the reference) at every moment, exactly, at the cost of the
judgments newer than the stored watermark instead of all of them. The rule is the leaderboard's
(`preferences.tally_state`, whose docstring says why it is exact):

- Judgments are append-only and only a superseding judgment unsets `is_current`, so sums over the
  current judgments equal sums over *events*: each judgment +1, the judgment it supersedes -1.
- Per annotator the sums are judgments, timed judgments (a recorded duration), seconds, rushed
  judgments and submitted ones (not imported: each is the current judgment of one SUBMITTED
  assignment, which never leaves that state, so this is the annotator's submitted assignments)
  (`TimingState.data`); the project's count and mean are their totals.
- The median is not a sum, but the number of judgments that took exactly `s` seconds is: `TimingCount`
  keeps one row per distinct duration with its signed count. The median is then a walk over the
  distinct values in SQL (running count up to the middle), the live delta added in the same
  statement. Its cost is the number of distinct durations, not of judgments: the annotators' pages
  send tenths of a second (the 1M seed has 1,801 values), so it stays flat as the project grows; an
  API client that sends full-precision floats makes it grow like the data, no worse than before.
- A read folds first when FOLD_AFTER judgment ids have piled up above the watermark, up to a settled
  id (`annotation.core.watermark`); the fold locks the state row, so two folds never count twice.

Anything that deletes judgments or rewrites a duration or `rushed` outside the append-only rule must
call `reset(project)` (the next read refolds from zero).
"""

import json

from django.db import connection, transaction

from annotation.core import watermark

from .models import TimingCount, TimingState

FOLD_AFTER = 1000  # judgment ids above the watermark before a read folds
END = 2**62  # above every judgment id

# The judgment events with ids in (after, through] as rows (annotator, seconds, rushed, external, sign).
_EVENTS = """
    SELECT j.annotator_id AS annotator, j.duration_seconds AS seconds, j.rushed AS rushed,
        j.external AS external, 1 AS sign
    FROM annotation_judgment j JOIN annotation_item i ON i.id = j.item_id
    WHERE i.project_id = %(project)s AND j.id > %(after)s AND j.id <= %(through)s
    UNION ALL
    SELECT o.annotator_id, o.duration_seconds, o.rushed, o.external, -1
    FROM annotation_judgment j JOIN annotation_item i ON i.id = j.item_id
    JOIN annotation_judgment o ON o.id = j.supersedes_id
    WHERE i.project_id = %(project)s AND j.id > %(after)s AND j.id <= %(through)s
"""

# Per annotator: judgments, timed judgments, seconds, rushed judgments, submitted (not imported) ones.
_SUMS = """
    SELECT annotator, SUM(sign), SUM(CASE WHEN seconds IS NOT NULL THEN sign ELSE 0 END),
        SUM(sign * seconds), SUM(CASE WHEN rushed THEN sign ELSE 0 END),
        SUM(CASE WHEN external THEN 0 ELSE sign END)
    FROM e GROUP BY annotator
"""

# The fold's counts per duration, added to the stored ones (`WHERE true`: SQLite's upsert needs it).
_UPSERT = f"""
    WITH e AS ({_EVENTS})
    INSERT INTO annotation_timingcount (project_id, seconds, n)
    SELECT %(project)s, seconds, SUM(sign) FROM e WHERE seconds IS NOT NULL GROUP BY seconds
    ON CONFLICT (project_id, seconds) DO UPDATE SET n = annotation_timingcount.n + excluded.n
"""

# A read: the median of the stored counts plus the live events above `after`, and the live per-annotator
# sums. It returns the watermark stored when it ran (`w`: the stored counts' own, from the same
# snapshot); when another process folded since the caller read `after`, the caller reads again.
# `upto` is the running count over the distinct durations; the middle two ranks of `count` values
# (the same one when it is odd) are the first durations where 2 * upto >= count and > count.
_WATERMARK = "(SELECT COALESCE(MAX(through), 0) FROM annotation_timingstate WHERE project_id = %(project)s)"
_READ = f"""
    WITH e AS ({_EVENTS}),
    h AS (
        SELECT seconds, SUM(n) AS n FROM (
            SELECT seconds, n FROM annotation_timingcount WHERE project_id = %(project)s
            UNION ALL
            SELECT seconds, sign FROM e WHERE seconds IS NOT NULL
        ) u GROUP BY seconds HAVING SUM(n) > 0
    ),
    c AS (SELECT seconds, SUM(n) OVER (ORDER BY seconds) AS upto, SUM(n) OVER () AS count FROM h),
    m AS (
        SELECT MIN(CASE WHEN 2 * upto >= count THEN seconds END) AS lo,
            MIN(CASE WHEN 2 * upto > count THEN seconds END) AS hi
        FROM c
    ),
    w AS (SELECT {_WATERMARK} AS through),
    a AS ({_SUMS})
    SELECT m.lo, m.hi, w.through, a.* FROM m CROSS JOIN w LEFT JOIN a ON 1 = 1
"""

# The stored sums (NULLs when none yet) and the newest judgment id, in one statement.
_STATE = """
    SELECT s.through, s.data, (SELECT max(id) FROM annotation_judgment)
    FROM (SELECT 1 AS one) x LEFT JOIN annotation_timingstate s ON s.project_id = %s
"""


def merge(sums: dict, rows) -> dict:
    """`sums` ({annotator id: [judgments, timed, seconds, rushed, submitted]}) plus the `_SUMS` rows."""
    out = {k: list(v) for k, v in sums.items()}
    for annotator, n, timed, seconds, rushed, submitted in rows:
        if annotator is None:
            continue
        mine = out.setdefault(annotator, [0, 0, 0.0, 0, 0])
        mine[0] += int(n or 0)
        mine[1] += int(timed or 0)
        mine[2] += float(seconds or 0.0)
        mine[3] += int(rushed or 0)
        mine[4] += int(submitted or 0)
    return {k: v for k, v in out.items() if v[0]}  # no current judgment: every sum is back to zero


def decode(data: dict) -> dict:
    return {row[0]: list(row[1:]) for row in data.get("annotators", [])}


def encode(sums: dict) -> dict:
    return {"annotators": [[a, *v] for a, v in sorted(sums.items())]}


def _state(project) -> tuple[int, dict, int]:
    """(watermark, stored per-annotator sums, newest judgment id)."""
    with connection.cursor() as cur:
        cur.execute(_STATE, [project.pk])
        through, data, newest = cur.fetchone()
    if isinstance(data, str):
        data = json.loads(data)
    return through or 0, decode(data or {}), newest or 0


def fold(project, *, at_least: int = 1, state=None, upto: int | None = None) -> tuple[int, dict]:
    """Fold the project's settled events above the watermark into the stored sums and counts, when the
    newest judgment id is at least `at_least` above it; the watermark and sums after. `upto`: fold up
    to that id instead of the settled one (benchmarks/scale.py; it must be settled)."""
    through, stored, newest = state or _state(project)
    if newest - through < at_least:
        return through, stored
    settled = watermark.settled_judgment_id() if upto is None else upto
    if settled is None or settled <= through:
        return through, stored
    with transaction.atomic():
        TimingState.objects.get_or_create(project=project)
        row = TimingState.objects.select_for_update().get(project=project)  # one fold at a time
        if row.through >= settled:
            return row.through, decode(row.data)
        params = {"project": project.pk, "after": row.through, "through": settled}
        with connection.cursor() as cur:
            cur.execute(f"WITH e AS ({_EVENTS}) {_SUMS}", params)
            stored = merge(decode(row.data), cur.fetchall())
            cur.execute(_UPSERT, params)
        TimingCount.objects.filter(project=project, n=0).delete()
        row.through, row.data = settled, encode(stored)
        row.save(update_fields=["through", "data", "updated_at"])
    return settled, stored


def timing(project) -> dict:
    """{"annotators": {user id: {"avg", "rushed", "submitted"}}, "overall": {"count", "mean", "median"}}: what
    `selectors.judgment_timing_direct` computes, from the maintained sums (two statements a read,
    more when it folds)."""
    state = _state(project)
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        if state[2] - state[0] >= FOLD_AFTER:  # the share lock would last until the caller commits
            transaction.on_commit(lambda: fold(project, at_least=FOLD_AFTER))
        through, stored = state[0], state[1]
    else:
        through, stored = fold(project, at_least=FOLD_AFTER, state=state)
    for _ in range(3):
        with connection.cursor() as cur:
            cur.execute(_READ, {"project": project.pk, "after": through, "through": END})
            rows = cur.fetchall()
        if rows[0][2] == through:
            break
        through, stored, _newest = _state(project)  # another process folded in between: its sums
    lo, hi = rows[0][0], rows[0][1]
    sums = merge(stored, [row[3:] for row in rows])
    annotators = {
        a: {"avg": seconds / timed if timed else None, "rushed": rushed, "submitted": submitted}
        for a, (n, timed, seconds, rushed, submitted) in sums.items()
    }
    count = sum(v[1] for v in sums.values())
    overall = {"count": 0, "mean": None, "median": None}
    if count and lo is not None:
        total = sum(v[2] for v in sums.values())
        overall = {"count": count, "mean": round(total / count, 1), "median": round((lo + hi) / 2, 1)}
    return {"annotators": annotators, "overall": overall}


def reset(project) -> None:
    """Forget the stored sums and counts (after a change outside the append-only rule)."""
    with transaction.atomic():
        TimingState.objects.filter(project=project).delete()
        TimingCount.objects.filter(project=project).delete()
