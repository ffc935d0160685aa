"""What the leaderboard's Bradley-Terry fit and position-bias test need, aggregated in SQL.

The fit needs only win and tie counts per model pair, and the bias test only wins per display slot
per annotator, so the database counts them (two GROUP BY queries over the project's current
comparison judgments) instead of Python parsing every payload. `preferences.selectors.
comparison_outcomes` is the same thing from the raw judgments, kept as the reference the tests check
this against: the same pairs as `consensus.ranking_to_pairs` (every pair a ranking implies, ties
within a group, "both bad" and same-model pairs left out) and the same winner slots as
`selectors._winner_slot`. PostgreSQL (jsonb) and SQLite (JSON1) each have their statement.
"""

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from annotation.models import ItemKind

# The judgments counted, as rows (jid, annotator, payload, sign): `_CURRENT`, the project's current
# comparison judgments (each +1: the reference), or `_EVENTS`, the judgment events with ids in
# (after, through]: each judgment +1 and the judgment it supersedes -1, so that the sums over every event
# equal the sums over the current judgments (judgments are append-only; only supersedes unsets is_current).
_CURRENT = """
    SELECT j.id AS jid, j.annotator_id AS annotator, j.payload AS payload, 1 AS sign
    FROM annotation_judgment j JOIN annotation_item i ON i.id = j.item_id
    WHERE i.project_id = %(project)s AND i.kind = %(kind)s AND j.is_current
"""
_EVENTS = """
    SELECT j.id AS jid, j.annotator_id AS annotator, j.payload AS payload, 1 AS sign
    FROM annotation_judgment j JOIN annotation_item i ON i.id = j.item_id
    WHERE i.project_id = %(project)s AND i.kind = %(kind)s AND j.id > %(after)s AND j.id <= %(through)s
    UNION ALL
    SELECT o.id, o.annotator_id, o.payload, -1
    FROM annotation_judgment j JOIN annotation_item i ON i.id = j.item_id
    JOIN annotation_judgment o ON o.id = j.supersedes_id
    WHERE i.project_id = %(project)s AND i.kind = %(kind)s AND j.id > %(after)s AND j.id <= %(through)s
"""


def _model(r: str) -> str:
    """The leaderboard's model key of response alias `r`: "name@version", or "name" ("unknown" if blank)."""
    name = f"COALESCE(NULLIF({r}.model_name, ''), 'unknown')"
    return f"CASE WHEN {r}.model_version <> '' THEN {name} || '@' || {r}.model_version ELSE {name} END"


# Judgments split in two: pairwise answers (two responses in the ranking: [[a], [b]] or a tie [[a, b]]),
# read straight from the payload, and the other rankings, expanded into one row per ranked response.
_SPLIT = {
    "postgresql": """
        WITH j AS (SELECT * FROM (__SOURCE__) src WHERE src.payload ? 'ranking'),
        jj AS (
            SELECT j.jid, j.sign, j.payload, COALESCE(j.payload->>'outcome', '') = 'both_bad' AS both_bad,
                COALESCE(jsonb_typeof(j.payload->'ranking') = 'array' AND (
                    (jsonb_array_length(j.payload->'ranking') = 1
                     AND jsonb_array_length(j.payload->'ranking'->0) = 2)
                    OR (jsonb_array_length(j.payload->'ranking') = 2
                        AND jsonb_array_length(j.payload->'ranking'->0) = 1
                        AND jsonb_array_length(j.payload->'ranking'->1) = 1)), false) AS pairwise
            FROM j
        ),
        pw AS (
            SELECT jid, sign, both_bad, jsonb_array_length(payload->'ranking') = 1 AS tie,
                (payload->'ranking'->0->>0)::bigint AS r1,
                COALESCE(payload->'ranking'->1->>0, payload->'ranking'->0->>1)::bigint AS r2
            FROM jj WHERE pairwise
        ),
        placed AS (
            SELECT jj.jid, jj.sign, g.ord, (x.value)::bigint AS rid, jj.both_bad
            FROM jj
            CROSS JOIN LATERAL jsonb_array_elements(jj.payload->'ranking') WITH ORDINALITY AS g(value, ord)
            CROSS JOIN LATERAL jsonb_array_elements_text(g.value) AS x(value)
            WHERE NOT jj.pairwise
        ),
    """,
    "sqlite": """
        WITH j AS (SELECT * FROM (__SOURCE__) src WHERE json_type(src.payload, '$.ranking') IS NOT NULL),
        jj AS (
            SELECT j.jid, j.sign, j.payload, COALESCE(json_extract(j.payload, '$.outcome'), '') = 'both_bad' AS both_bad,
                COALESCE(json_type(j.payload, '$.ranking') = 'array' AND (
                    (json_array_length(j.payload, '$.ranking') = 1
                     AND json_array_length(j.payload, '$.ranking[0]') = 2)
                    OR (json_array_length(j.payload, '$.ranking') = 2
                        AND json_array_length(j.payload, '$.ranking[0]') = 1
                        AND json_array_length(j.payload, '$.ranking[1]') = 1)), 0) AS pairwise
            FROM j
        ),
        pw AS (
            SELECT jid, sign, both_bad, json_array_length(payload, '$.ranking') = 1 AS tie,
                CAST(json_extract(payload, '$.ranking[0][0]') AS INTEGER) AS r1,
                CAST(COALESCE(json_extract(payload, '$.ranking[1][0]'), json_extract(payload, '$.ranking[0][1]'))
                     AS INTEGER) AS r2
            FROM jj WHERE pairwise
        ),
        placed AS (
            SELECT jj.jid, jj.sign, g.key AS ord, CAST(x.value AS INTEGER) AS rid, jj.both_bad
            FROM jj, json_each(jj.payload, '$.ranking') AS g, json_each(g.value) AS x
            WHERE NOT jj.pairwise
        ),
    """,
}

_PAIRS = f"""
    pwm AS (
        SELECT pw.*, {_model("r")} AS m1, {_model("q")} AS m2
        FROM pw JOIN annotation_response r ON r.id = pw.r1 JOIN annotation_response q ON q.id = pw.r2
    ),
    m AS (SELECT p.*, {_model("r")} AS model FROM placed p JOIN annotation_response r ON r.id = p.rid)
    SELECT 'pair', m1, m2, CASE WHEN tie THEN 1 ELSE 0 END, sum(sign)
    FROM pwm WHERE NOT both_bad AND m1 <> m2
    GROUP BY m1, m2, CASE WHEN tie THEN 1 ELSE 0 END
    UNION ALL
    SELECT 'pair', a.model, b.model, CASE WHEN a.ord = b.ord THEN 1 ELSE 0 END, sum(a.sign)
    FROM m a JOIN m b ON a.jid = b.jid AND a.sign = b.sign
        AND (a.ord < b.ord OR (a.ord = b.ord AND a.rid < b.rid))
    WHERE NOT a.both_bad AND a.model <> b.model
    GROUP BY a.model, b.model, CASE WHEN a.ord = b.ord THEN 1 ELSE 0 END
    UNION ALL
    SELECT 'model', model, NULL, CAST(NULL AS integer), sum(sign) FROM (
        SELECT m1 AS model, sign FROM pwm UNION ALL SELECT m2, sign FROM pwm UNION ALL SELECT model, sign FROM m
    ) names GROUP BY model
"""

# (annotator, winner slot, slots shown, judgments) per group.
_SLOTS = {
    "postgresql": """
        WITH j AS (SELECT * FROM (__SOURCE__) src WHERE src.payload ? 'ranking'),
        s AS (
            SELECT j.jid, j.sign, j.annotator,
                COALESCE((j.payload->>'winner_slot')::int, CASE
                    WHEN j.payload->>'outcome' = 'ranked' AND jsonb_array_length(j.payload->'ranking'->0) = 1
                    THEN (SELECT (o.ord - 1)::int FROM jsonb_array_elements(j.payload->'display_order')
                          WITH ORDINALITY AS o(value, ord)
                          WHERE o.value = j.payload->'ranking'->0->0 ORDER BY o.ord LIMIT 1)
                END) AS slot,
                COALESCE(NULLIF(jsonb_array_length(j.payload->'display_order'), 0), 2) AS n_slots
            FROM j
        )
        SELECT annotator, slot, n_slots, sum(sign) FROM s GROUP BY annotator, slot, n_slots
    """,
    "sqlite": """
        WITH j AS (SELECT * FROM (__SOURCE__) src WHERE json_type(src.payload, '$.ranking') IS NOT NULL),
        s AS (
            SELECT j.jid, j.sign, j.annotator,
                COALESCE(json_extract(j.payload, '$.winner_slot'), CASE
                    WHEN json_extract(j.payload, '$.outcome') = 'ranked'
                         AND json_array_length(j.payload, '$.ranking[0]') = 1
                    THEN (SELECT o.key FROM json_each(j.payload, '$.display_order') AS o
                          WHERE o.value = json_extract(j.payload, '$.ranking[0][0]') ORDER BY o.key LIMIT 1)
                END) AS slot,
                COALESCE(NULLIF(json_array_length(j.payload, '$.display_order'), 0), 2) AS n_slots
            FROM j
        )
        SELECT annotator, slot, n_slots, sum(sign) FROM s GROUP BY annotator, slot, n_slots
    """,
}


@dataclass
class Tallies:
    """Model names (sorted), wins[i, j] = times model i beat j, ties[i, j] (i < j), and position
    records {"annotator": username, "winner_slot", "n_slots", "count"} (in `position_order`)."""

    names: list[str]
    wins: np.ndarray
    ties: np.ndarray
    positions: list[dict]

    @property
    def n_outcomes(self) -> int:
        return int(self.wins.sum() + self.ties.sum())


def count(project, source: str = _CURRENT, **bounds) -> dict:
    """The signed sums over `source`'s rows in SQL: {"pairs": {(model, model, tie): n}, "models":
    {model: n}, "slots": {(annotator id, winner slot, slots shown): n}} (zero sums left out)."""
    vendor = connection.vendor if connection.vendor in _SPLIT else "sqlite"
    params = {"project": project.pk, "kind": ItemKind.COMPARISON, **bounds}
    # PostgreSQL: a transaction, for SET LOCAL (SQLite needs neither: two statements fewer)
    with transaction.atomic() if vendor == "postgresql" else nullcontext(), connection.cursor() as cur:
        if vendor == "postgresql":
            # The planner guesses 100 rows per jsonb_array_elements call, so the estimated cost is huge
            # and JIT compilation (seconds) would cost more than the query (milliseconds per 1k rows).
            cur.execute("SET LOCAL jit = off")
        cur.execute((_SPLIT[vendor] + _PAIRS).replace("__SOURCE__", source), params)
        rows = cur.fetchall()
        cur.execute(_SLOTS[vendor].replace("__SOURCE__", source), params)
        slots = cur.fetchall()
    out = {"pairs": {}, "models": {}, "slots": {}}
    for what, a, b, tie, n in rows:  # the two pair branches may both name a (model, model, tie)
        sums, key = (out["pairs"], (a, b, int(tie))) if what == "pair" else (out["models"], a)
        sums[key] = sums.get(key, 0) + int(n)
    for a, slot, n_slots, n in slots:
        out["slots"][(a, slot, int(n_slots))] = int(n)
    return merge(out)


def events(project, after: int, through: int) -> dict:
    """`count` over the judgment events with ids in (after, through] (`_EVENTS`)."""
    return count(project, _EVENTS, after=after, through=through)


def merge(*parts: dict) -> dict:
    """The sums of several `count` results (zero sums left out)."""
    out = {"pairs": {}, "models": {}, "slots": {}}
    for part in parts:
        for field, sums in out.items():
            for key, n in part[field].items():
                sums[key] = sums.get(key, 0) + n
    return {field: {k: n for k, n in sums.items() if n} for field, sums in out.items()}


def from_counts(c: dict) -> Tallies:
    """The Tallies of `count`/`merge` sums; position records in a fixed order (annotator, slots, slot)."""
    names = sorted(m for m, n in c["models"].items() if n > 0)
    index = {n: i for i, n in enumerate(names)}
    wins = np.zeros((len(names), len(names)), dtype=np.int64)
    ties = np.zeros_like(wins)
    for (a, b, tie), n in c["pairs"].items():
        i, k = index[a], index[b]
        if tie:
            ties[min(i, k), max(i, k)] += n
        else:
            wins[i, k] += n
    slots = c["slots"]
    users = dict(
        get_user_model().objects.filter(pk__in={a for a, _, _ in slots}).values_list("pk", "username")
    )
    positions = [
        {"annotator": users[a], "winner_slot": slot, "n_slots": n_slots, "count": n}
        for (a, slot, n_slots), n in slots.items()
        if n > 0
    ]
    return Tallies(names, wins, ties, sorted(positions, key=position_order))


def position_order(record: dict):
    slot = record.get("winner_slot")
    return (str(record["annotator"]), record.get("n_slots", 2), slot is not None, slot or 0)


def tallies(project) -> Tallies:
    """Count the project's comparison outcomes per model pair and winner slots per annotator in SQL,
    over the current judgments (the reference; `preferences.tally_state.tallies` maintains the same)."""
    return from_counts(count(project))
