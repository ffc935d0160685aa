"""The agreement sums of a full rebuild as set-based SQL (PostgreSQL): the common kinds' items at once.

A kind that gives its label hooks as SQL (`Kind.agreement_sql`: SFT's decision, a pairwise
comparison's winner) has its non-gold items' current judgments labelled by PostgreSQL into a
temporary table of cells (one per judgment, as annotation.quality.tally's state cell); from it, in
the same transaction: each scope's last value per annotator (a later judgment replaces an earlier
one), and `GROUP BY` queries give every sum `tally.contributions` would (per scope and number of
values m: items, value counts, coincidence products by a self-join; per annotator: judgments,
answers, agreement with the leave-one-out strict majority, per week; per annotator pair: contingency
counts), and `INSERT ... SELECT` writes the items' states (built as JSON text, parsed once) and
votes (the "all" scope's values, agr_dec). What the SQL cannot give exactly stays with the Python
path (annotation.quality.tally_store): gold items, kinds without SQL, and any item with a judgment
outside the kind's "ok" expression or a rubric score the SQL does not convert exactly
(`score_value`: integral likert, boolean / number / text binary, text or integral labels).
tests/annotation/test_agreement_sql.py holds the result to the Python sums exactly.

Every sum is a sum over items, so the items can be split: outside a transaction (a worker, the
request of a lead without one) the project's items are split by id into `PARTS` shares, and each
share is deleted (its old states and votes), labelled, written and summed in a transaction on a
connection of its own, all at once (`_in_threads`: share 0 on the caller's thread, the others on
threads that close their connection at the end); the shares' sums add up. This is what uses the
second core: PostgreSQL does not run parallel plans over temporary tables, and one connection
works on one core. Inside a caller's transaction (the tests') another connection would not see its
rows, so everything runs on the caller's connection as one share;
tests/annotation/test_agreement_full_parallel.py holds the shares' result to the Python path's.
"""

import json
import threading
from collections import Counter

from django.db import connection, transaction

from annotation.kinds import registry
from annotation.quality.tally import enc

WORK_MEM = "256MB"  # this transaction's
_TABLES = "agr_ctx, agr_type, agr_cell, agr_dec"
PARTS = 2  # connections at once in a full rebuild outside a transaction (the items split by id)
_KINDS = "SELECT kind FROM unnest(%(kinds)s::text[]) AS kind"
_WEEK = """to_char(j.created_at AT TIME ZONE 'UTC', 'IYYY-"W"IW')"""

# score_value(type, value) as jsonb text, NULL where it might differ from the Python
_SCORE = """CASE t.type
    WHEN 'likert' THEN CASE WHEN jsonb_typeof(s.value) = 'number' AND s.value::text ~ '^-?[0-9]{1,15}(\\.0*)?$'
        AND s.value::text !~ '^-0' THEN (split_part(s.value::text, '.', 1) || '.0')::jsonb END
    WHEN 'binary' THEN CASE jsonb_typeof(s.value)
        WHEN 'boolean' THEN to_jsonb(CASE WHEN s.value = 'true'::jsonb THEN 'yes' ELSE 'no' END)
        WHEN 'number' THEN to_jsonb(CASE WHEN (s.value::text)::numeric <> 0 THEN 'yes' ELSE 'no' END)
        WHEN 'string' THEN to_jsonb(CASE WHEN s.value #>> '{}' <> '' THEN 'yes' ELSE 'no' END) END
    ELSE CASE WHEN jsonb_typeof(s.value) = 'string' THEN s.value
        WHEN jsonb_typeof(s.value) = 'number' AND s.value::text ~ '^-?[0-9]+$' THEN to_jsonb(s.value::text) END
    END"""


def _fill(template: str, **parts) -> str:
    for name, value in parts.items():
        template = template.replace("{" + name + "}", value)
    return template


def _specs() -> dict:
    out = {}
    for name in registry.names():
        spec = registry.get(name).agreement_sql()
        if spec is not None:
            out[name] = spec
    return out


def _by_kind(specs: dict, part: str, default: str, **parts) -> str:
    whens = " ".join(
        f"WHEN %(kind_{n})s THEN {_fill(spec[part], **parts) if spec.get(part) else default}"
        for n, spec in enumerate(specs.values())
    )
    return f"(CASE i.kind {whens} ELSE {default} END)"


def _cells(cur, project, specs: dict, params: dict):
    """The temporary tables agr_ctx (contexts), agr_type (criterion types per rubric version) and
    agr_cell (the labelled judgments, with `ok`)."""
    items = "SELECT id FROM annotation_item WHERE project_id = %(project)s AND NOT is_gold AND id %% %(parts)s = %(part)s"
    contexts = [
        _fill(spec["context"], items=f"{items} AND kind = %(kind_{n})s")
        for n, spec in enumerate(specs.values())
        if spec.get("context")
    ]
    contexts.append("SELECT NULL::bigint, NULL::bigint[] WHERE false")
    cur.execute(
        "CREATE TEMPORARY TABLE agr_ctx (item_id, ctx) ON COMMIT DROP AS " + " UNION ALL ".join(contexts),
        params,
    )
    cur.execute("CREATE INDEX ON agr_ctx (item_id)")
    cur.execute(
        """CREATE TEMPORARY TABLE agr_type ON COMMIT DROP AS
        SELECT DISTINCT ON (v.id, e.value->>'key') v.id AS vid, e.value->>'key' AS key, e.value->>'type' AS type
        FROM annotation_rubricversion v JOIN annotation_rubric r ON r.id = v.rubric_id
        CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(v.criteria) = 'array'
            THEN v.criteria ELSE '[]'::jsonb END) WITH ORDINALITY AS e(value, n)
        WHERE r.project_id = %(project)s ORDER BY v.id, e.value->>'key', e.n DESC""",
        params,
    )
    parts = {"p": "j.payload", "d": "j.decision", "c": "coalesce(c.ctx, '{}'::bigint[])"}
    label = _by_kind(specs, "label", "NULL::text", **parts)
    strength = _by_kind(specs, "strength", "NULL::integer", **parts, l="x.label")
    ok = _by_kind(specs, "ok", "false", **parts)
    criterion = _by_kind(specs, "criterion", "NULL::text", **{**parts, "p": "e.value"})
    cur.execute(
        f"""CREATE TEMPORARY TABLE agr_cell ON COMMIT DROP AS
        SELECT j.id, j.item_id, i.kind, j.annotator_id AS a, coalesce(v.number, 0) AS v, x.label,
            {strength} AS strength, {_WEEK} AS week, sc.cells AS sc, sc.text AS sct,
            CASE WHEN jsonb_typeof(j.payload->'criteria') = 'object' AND j.payload->'criteria' <> '{{}}'::jsonb
                THEN (SELECT coalesce(jsonb_object_agg(e.key, {criterion}) FILTER (WHERE {criterion} IS NOT NULL),
                                      '{{}}'::jsonb) FROM jsonb_each(j.payload->'criteria') AS e)
                ELSE '{{}}'::jsonb END AS pc,
            coalesce({ok} AND sc.ok AND coalesce(jsonb_typeof(j.scores), 'null') IN ('object', 'null'), false)
                AS ok
        FROM annotation_judgment j JOIN annotation_item i ON i.id = j.item_id
        LEFT JOIN annotation_rubricversion v ON v.id = j.rubric_version_id
            AND v.rubric_id IN (SELECT id FROM annotation_rubric WHERE project_id = %(project)s)
        LEFT JOIN agr_ctx c ON c.item_id = j.item_id
        CROSS JOIN LATERAL (SELECT {label} AS label) AS x
        CROSS JOIN LATERAL (
            SELECT coalesce(jsonb_agg(jsonb_build_array(s.key, t.type, {_SCORE}) ORDER BY s.n), '[]'::jsonb)
                AS cells, coalesce(jsonb_agg(jsonb_build_array(s.key, t.type, {_SCORE}) ORDER BY s.n)::text, '[]')
                AS text, coalesce(bool_and(({_SCORE}) IS NOT NULL), true) AS ok
            FROM jsonb_each(CASE WHEN jsonb_typeof(j.scores) = 'object' THEN j.scores ELSE '{{}}'::jsonb END)
                WITH ORDINALITY AS s(key, value, n)
            JOIN agr_type t ON t.vid = v.id AND t.key = s.key
            WHERE jsonb_typeof(s.value) <> 'null') AS sc
        WHERE i.project_id = %(project)s AND NOT i.is_gold AND i.kind IN ({_KINDS})
            AND j.is_current AND (%(external)s OR NOT j.external) AND j.item_id %% %(parts)s = %(part)s""",
        params,
    )


# the items' states (tally's layout: {"k": kind, "g": false, "j": [cell, ...] in judgment order}), built
# as JSON text and parsed once: a third of the time of jsonb_build_array + jsonb_agg + jsonb_build_object
_STATES = """INSERT INTO annotation_agreementitemstate (project_id, item_id, kind, data)
    SELECT %(project)s, item_id, min(kind), ('{"k": ' || to_json(min(kind))::text || ', "g": false, "j": ['
        || string_agg('[' || a || ', ' || v || ', ' || coalesce(to_json(label)::text, 'null') || ', '
            || coalesce(strength::text, 'null') || ', null, ' || pc::text || ', ' || sct || ', '
            || to_json(week)::text || ', {}]', ', ' ORDER BY id) || ']}')::jsonb
    FROM agr_cell GROUP BY item_id"""

# each annotator's last label and the week of their last judgment, per item (the "all" scope's values,
# and the votes), with the latest week of any of the item's judgments (superseded ones included)
_DEC = """CREATE TEMPORARY TABLE agr_dec ON COMMIT DROP AS
    SELECT d.item_id, d.kind, d.a, d.label, w.week, w.last FROM
        (SELECT DISTINCT ON (item_id, a) item_id, kind, a, label FROM agr_cell WHERE label IS NOT NULL
         ORDER BY item_id, a, id DESC) AS d
    JOIN (SELECT DISTINCT ON (item_id, a) item_id, a, week, max(week COLLATE "C") OVER (PARTITION BY item_id) AS last
          FROM agr_cell ORDER BY item_id, a, id DESC) AS w USING (item_id, a)"""

# Each scope's values per item (an annotator's last value in it), grouped by the multiset of values:
# (scope parts, sorted values as JSON texts, items). A scope's sums over items are a function of
# that multiset, so the many items with the same answers are counted once (in Python, `_scope`).
# The "all" decisions also give the week scope ("wk", kind, the item's latest week).
# Judgments without criteria (the comparisons' scores) or preference criteria (most) are left out
# before their JSON is unnested (a function call per judgment, ~0.8 s per million for nothing).
_SIGNATURES = (
    (
        "dec",
        """SELECT kind, v, vals, count(*) FROM (SELECT item_id, kind, v, array_agg(val ORDER BY val) AS vals
        FROM (SELECT DISTINCT ON (item_id, a, v) item_id, kind, v, to_jsonb(label)::text AS val FROM agr_cell
              WHERE label IS NOT NULL ORDER BY item_id, a, v, id DESC) AS last GROUP BY item_id, kind, v) AS items
        GROUP BY kind, v, vals""",
    ),
    (
        "all",
        """SELECT kind, last, vals, count(*) FROM (SELECT item_id, kind, last,
        array_agg(to_jsonb(label)::text ORDER BY to_jsonb(label)::text) AS vals FROM agr_dec
        GROUP BY item_id, kind, last) AS items GROUP BY kind, last, vals""",
    ),
    (
        "str",
        """SELECT v, vals, count(*) FROM (SELECT item_id, v, array_agg(val ORDER BY val) AS vals
        FROM (SELECT DISTINCT ON (item_id, a, v) item_id, v, strength::text AS val FROM agr_cell
              WHERE strength IS NOT NULL ORDER BY item_id, a, v, id DESC) AS last GROUP BY item_id, v) AS items
        GROUP BY v, vals""",
    ),
    (
        "crit",
        """SELECT kind, v, key, type, vals, count(*) FROM (SELECT item_id, kind, v, key, type,
        array_agg(val ORDER BY val) AS vals FROM (SELECT DISTINCT ON (c.item_id, c.a, c.v, s.value->>0, s.value->>1)
            c.item_id, c.kind, c.v, s.value->>0 AS key, s.value->>1 AS type, (s.value->2)::text AS val
            FROM agr_cell c CROSS JOIN LATERAL jsonb_array_elements(c.sc) AS s(value) WHERE c.sc <> '[]'::jsonb
            ORDER BY c.item_id, c.a, c.v, s.value->>0, s.value->>1, c.id DESC) AS last
        GROUP BY item_id, kind, v, key, type) AS items GROUP BY kind, v, key, type, vals""",
    ),
    (
        "pref",
        """SELECT kind, v, key, vals, count(*) FROM (SELECT item_id, kind, v, key,
        array_agg(val ORDER BY val) AS vals FROM (SELECT DISTINCT ON (c.item_id, c.a, c.v, p.key)
            c.item_id, c.kind, c.v, p.key, p.value::text AS val
            FROM agr_cell c CROSS JOIN LATERAL jsonb_each(c.pc) AS p(key, value) WHERE c.pc <> '{}'::jsonb
            ORDER BY c.item_id, c.a, c.v, p.key, c.id DESC) AS last
        GROUP BY item_id, kind, v, key) AS items GROUP BY kind, v, key, vals""",
    ),
)


def _scope(out: Counter, scope: tuple, values: list, items: int):
    """`items` items' part of a scope's sums, each with these values (tally._scope, times `items`)."""
    m = len(values)
    out[(scope, "N", m)] += items
    if m < 2:
        return
    counts = Counter(enc(v) for v in values)
    for c, nc in counts.items():
        out[(scope, "D", m, c)] += nc * items
        for k, nk in counts.items():
            out[(scope, "O", m, c, k)] += nc * nk * items


# per annotator: their label and week beside the item's multiset of labels (theirs included), the
# leave-one-out strict majority computed once per distinct (label, multiset) in Python
_ANNOTATORS = """
SELECT d.kind, d.a, d.label, d.week, s.vals, count(*) FROM agr_dec d
JOIN (SELECT item_id, array_agg(label ORDER BY label) AS vals FROM agr_dec GROUP BY item_id) AS s USING (item_id)
GROUP BY d.kind, d.a, d.label, d.week, s.vals
"""


def _consensus_of_others(mine: str, labels: tuple, memo: dict):
    """The strict majority of `labels` less one `mine` (tally._consensus_of_others); None: none."""
    key = (mine, labels)
    if key not in memo:
        counts = Counter(labels)
        counts[mine] -= 1
        ranked = sorted((n for n in counts.values() if n > 0), reverse=True)
        best = [label for label, n in counts.items() if ranked and n == ranked[0]]
        memo[key] = best[0] if ranked and (len(ranked) == 1 or ranked[0] > ranked[1]) else None
    return memo[key]


def _loads(text, memo):
    value = memo.get(text)
    if value is None and text is not None:
        value = memo[text] = json.loads(text)
    return value


def _sums_of_cells(cur, out: Counter, memo: dict):
    """The sums read from agr_cell alone: counts, and the scopes per rubric version."""
    cur.execute("SELECT count(*), count(DISTINCT item_id) FROM agr_cell")
    judgments, items = cur.fetchone()
    if items:
        out[("J",)], out[("I",)] = judgments, items
    cur.execute("SELECT v, count(*) FROM agr_cell WHERE v <> 0 GROUP BY v")
    for v, n in cur.fetchall():
        out[("V", v)] += n
    for name, sql in _SIGNATURES:
        if name != "all":
            _signature(cur, out, memo, name, sql)


def _signature(cur, out: Counter, memo: dict, name: str, sql: str):
    cur.execute(sql)
    for *parts, vals, items in cur.fetchall():
        values = [_loads(v, memo) for v in vals]
        if name == "all":
            kind, week = parts
            _scope(out, ("dec", kind, "all"), values, items)
            _scope(out, ("wk", kind, week), values, items)
        else:
            _scope(out, (name, *parts), values, items)


def _sums_of_decisions(cur, out: Counter, memo: dict):
    """The sums read from agr_dec: the "all" and week scopes, per annotator, per annotator pair."""
    _signature(cur, out, memo, "all", dict(_SIGNATURES)["all"])
    cur.execute(_ANNOTATORS)
    consensus_memo = {}
    for kind, a, mine, week, labels, n in cur.fetchall():
        out[("AJ", kind, a)] += n
        out[("AL", kind, mine)] += n
        consensus = _consensus_of_others(mine, tuple(labels), consensus_memo)
        if consensus is not None:
            out[("AC", kind, a, mine, consensus)] += n
            out[("AW", kind, a, week, "n")] += n
            if mine == consensus:
                out[("AW", kind, a, week, "a")] += n
    cur.execute(
        """SELECT x.kind, x.a, y.a, x.label, y.label, count(*) FROM agr_dec x
        JOIN agr_dec y ON y.item_id = x.item_id AND y.a > x.a GROUP BY x.kind, x.a, y.a, x.label, y.label"""
    )
    for kind, a, b, la, lb, n in cur.fetchall():
        out[("AP", kind, a, b, la, lb)] += n


# the votes are the "all" scope's values: each annotator's last label
_VOTES = """INSERT INTO annotation_agreementvote (project_id, kind, item_id, annotator_id, label)
    SELECT %(project)s, kind, item_id, a, label FROM agr_dec"""


def _part(project, specs: dict, params: dict) -> tuple[Counter, list]:
    """One share of the project's items (id % parts = part), in one transaction on this thread's
    connection: the stored states and votes of all of them deleted, those of the SQL kinds' non-gold
    items written; their sums, and the ids of the items with a judgment the SQL does not label
    exactly (left to the Python path)."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {_TABLES}")  # a savepoint (tests) does not drop them
        cur.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")  # the sorts and groupings of ~1M rows in memory
        cur.execute("SET LOCAL jit = off")  # compiling these expressions costs seconds per statement
        for table in ("annotation_agreementitemstate", "annotation_agreementvote"):  # all the share's items'
            cur.execute(
                f"DELETE FROM {table} WHERE project_id = %(project)s AND item_id %% %(parts)s = %(part)s",
                params,
            )
        _cells(cur, project, specs, params)
        cur.execute("SELECT DISTINCT item_id FROM agr_cell WHERE NOT ok")
        inexact = [pk for (pk,) in cur.fetchall()]
        cur.execute("DELETE FROM agr_cell WHERE item_id IN (SELECT item_id FROM agr_cell WHERE NOT ok)")
        cur.execute(_STATES, params)
        cur.execute(_DEC)
        cur.execute(_VOTES, params)
        sums, memo = Counter(), {}
        _sums_of_cells(cur, sums, memo)
        _sums_of_decisions(cur, sums, memo)
        cur.execute(f"DROP TABLE {_TABLES}")
    return sums, inexact


def _in_threads(project, specs: dict, params: dict, parts: int) -> list:
    """`_part` for each share of the items, share 0 on this thread, the others each on a thread of its
    own (its own connection, closed at its end); their results in share order."""
    results, failed = [None] * parts, []

    def run(part):
        try:
            results[part] = _part(project, specs, {**params, "part": part, "parts": parts})
        except BaseException as exc:  # re-raised on the caller's thread
            failed.append(exc)
        finally:
            if part:
                connection.close()

    threads = [
        threading.Thread(target=run, args=(part,), name=f"agreement-{part}") for part in range(1, parts)
    ]
    for thread in threads:
        thread.start()
    try:
        run(0)
    finally:
        for thread in threads:
            thread.join()
    if failed:
        raise failed[0]
    return results


def full(project) -> tuple[Counter, list] | None:
    """For a full rebuild on PostgreSQL (the project's sums already emptied): the project's stored
    states and votes deleted, the SQL kinds' items' states and votes written; their part of the sums
    and the ids of the project's items left to the Python path (id order). None, with nothing
    deleted, when no kind gives SQL (or not PostgreSQL). Outside a transaction the items are split
    in `PARTS` shares by id, each deleted, labelled, written and summed on a connection of its own at
    once (`_in_threads`: every sum is a sum over items, so the shares' sums add up); inside one (a
    caller's, the tests'), all on this connection.
    """
    specs = _specs() if connection.vendor == "postgresql" else {}
    if not specs:
        return None
    params = {"project": project.pk, "external": bool(project.count_external_judgments), "kinds": list(specs)}
    params.update({f"kind_{n}": name for n, name in enumerate(specs)})
    # in a caller's transaction (the tests') another connection would not see its rows: one share
    parts = 1 if connection.in_atomic_block else PARTS
    results = _in_threads(project, specs, params, parts)
    sums = Counter()
    for part, _inexact in results:
        sums.update(part)
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT id FROM annotation_item WHERE project_id = %(project)s AND (is_gold OR kind NOT IN ({_KINDS}))",
            params,
        )
        rest = sorted({pk for (pk,) in cur.fetchall()}.union(*(inexact for _part, inexact in results)))
    return sums, rest
