"""The leaderboard's win counts maintained incrementally: stored sums up to a judgment id, plus a delta.

`tallies(project)` equals `preferences.tallies.tallies(project)` (the SQL aggregate over the current
judgments, the reference) at every moment, at the cost of the judgments newer than the stored
watermark instead of all of them:

- Judgments are append-only and only a superseding judgment unsets `is_current`, so the sums over the
  current judgments equal the sums over *events*: each judgment counts +1 and the judgment it
  supersedes -1 (`tallies._EVENTS`). The sums of the events with ids up to some id never change once
  every judgment up to that id has committed; `TallyState` keeps them (`through`, `data`).
- A read is the stored sums plus the events with ids above `through`, counted live (an index range on
  the judgment id): exact whatever was committed meanwhile.
- A read that finds the newest judgment id FOLD_AFTER or more above the watermark (ids are global,
  so other projects' judgments count too: a fold is at worst more frequent) folds first, up to a *settled* id: the highest judgment id at
  a moment when no transaction could still commit a lower one. On PostgreSQL ids come from a sequence
  and commit out of order (a long import holds low ids while submits commit higher ones), so the
  settled id is read under `LOCK TABLE annotation_judgment IN SHARE MODE`, which waits for every
  in-flight writer and is held for one `SELECT max(id)` (`annotation.core.watermark`); it gives up after 50 ms (the
  read is still exact, the fold waits for the next read). A VACUUM of the table (autovacuum
  included) holds a conflicting lock, so folds are skipped while one runs. SQLite runs one writer at a time, so the
  highest visible id is settled. The write-back is conditional on the watermark read (two processes
  folding at once: the second write is dropped), so the stored sums are never counted twice.

Anything that deletes judgments or rewrites a payload or a response's model name outside this
append-only rule must call `reset(project)` (the next read refolds from zero).
"""

import json

from django.db import connection, transaction

from annotation.core import watermark

from . import tallies as sql
from .models import TallyState

FOLD_AFTER = 1000  # judgment ids above the watermark before a read folds (counting 1,000 live costs ms)
END = 2**62  # above every judgment id


def decode(data: dict) -> dict:
    """A stored `data` as `tallies.count` sums (JSON has no tuple keys)."""
    return {
        "pairs": {(a, b, int(t)): n for a, b, t, n in data.get("pairs", [])},
        "models": dict(data.get("models", {})),
        "slots": {(a, s, int(k)): n for a, s, k, n in data.get("slots", [])},
    }


def encode(c: dict) -> dict:
    """`tallies.count` sums as JSON for `TallyState.data`."""
    return {
        "pairs": [[a, b, t, n] for (a, b, t), n in sorted(c["pairs"].items())],
        "models": dict(sorted(c["models"].items())),
        "slots": [[a, s, k, n] for (a, s, k), n in sorted(c["slots"].items(), key=lambda kv: str(kv[0]))],
    }


def settled_id() -> int | None:
    """The highest judgment id below which every judgment has committed (`annotation.core.watermark`);
    None when writers were still in flight."""
    return watermark.settled_judgment_id()


# The stored sums (NULLs when none yet) and the newest judgment id, in one statement.
_STATE = """
    SELECT s.through, s.data, (SELECT max(id) FROM annotation_judgment)
    FROM (SELECT 1 AS one) x LEFT JOIN preferences_tallystate s ON s.project_id = %s
"""


def _state(project) -> tuple[bool, int, dict, int]:
    """(stored row exists, watermark, stored sums, newest judgment id)."""
    with connection.cursor() as cur:
        cur.execute(_STATE, [project.pk])
        through, data, newest = cur.fetchone()
    if isinstance(data, str):
        data = json.loads(data)
    return through is not None, through or 0, decode(data or {}), newest or 0


def fold(project, *, at_least: int = 1, state=None) -> tuple[int, dict]:
    """Fold the project's settled events above the stored watermark into the stored sums, when the
    newest judgment id is at least `at_least` above it; the watermark and sums after. Inside a
    caller's transaction on PostgreSQL the share lock would last until that transaction ends: `counts`
    defers the fold to its commit there."""
    exists, through, stored, newest = state or _state(project)
    if newest - through < at_least:
        return through, stored
    settled = newest if connection.vendor != "postgresql" else settled_id()
    if settled is not None and settled > through:
        stored = sql.merge(stored, sql.events(project, through, settled))
        if exists:  # conditional on the watermark read: a concurrent fold's write wins, nothing counts twice
            TallyState.objects.filter(project=project, through=through).update(
                through=settled, data=encode(stored)
            )
        else:
            TallyState.objects.bulk_create(
                [TallyState(project=project, through=settled, data=encode(stored))], ignore_conflicts=True
            )
        through = settled
    return through, stored


def counts(project) -> dict:
    """The signed sums over every judgment event of the project: the stored ones (folded first when
    FOLD_AFTER ids have piled up) plus the events above the watermark, counted live."""
    state = _state(project)
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        if state[3] - state[1] >= FOLD_AFTER:
            transaction.on_commit(lambda: fold(project, at_least=FOLD_AFTER))
        through, stored = state[1], state[2]
    else:
        through, stored = fold(project, at_least=FOLD_AFTER, state=state)
    return sql.merge(stored, sql.events(project, through, END))


def tallies(project) -> sql.Tallies:
    """`preferences.tallies.tallies(project)`, from the maintained sums."""
    return sql.from_counts(counts(project))


def reset(project) -> None:
    """Forget the stored sums (after a change outside the append-only rule): the next read refolds."""
    TallyState.objects.filter(project=project).delete()
