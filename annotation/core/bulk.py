"""Bulk upserts for recomputes that write hundreds of thousands of derived rows.

`upsert(model, columns, rows, conflict=..., update=...)` inserts `rows` (tuples in `columns` order,
column names as in the table) and, on a conflict over the `conflict` columns, updates the `update`
columns, but only where one of `compare` (default: `update`) differs, so that a recompute that finds
the same answer rewrites nothing. PostgreSQL: one COPY into a temporary table, then one
`INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE ... IS DISTINCT FROM` of the rows not already
stored with those values (an anti-join first: ON CONFLICT locks, and so writes, every row it meets);
elsewhere (SQLite), `executemany` of `INSERT ... ON CONFLICT DO UPDATE` in batches. Values: dicts and lists are written
as JSON (name them in `json`), datetimes as the backend stores them.
"""

import json as jsonlib
from collections.abc import Iterable, Sequence

from django.db import connection

BATCH = 5000


def _adapt(rows, columns, json_columns):
    idx = [i for i, c in enumerate(columns) if c in json_columns]
    for row in rows:
        if idx:
            row = list(row)
            for i in idx:
                row[i] = jsonlib.dumps(row[i])
        yield row


def upsert(
    model,
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    conflict: Sequence[str],
    update: Sequence[str],
    compare: Sequence[str] | None = None,
    json: Sequence[str] = (),
) -> int:
    """Insert or update `rows` of `model`'s table; the number of rows given."""
    table = connection.ops.quote_name(model._meta.db_table)
    q = connection.ops.quote_name
    cols = ", ".join(q(c) for c in columns)
    compare = list(compare if compare is not None else update)
    sets = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in update)
    rows = _adapt(rows, columns, set(json))
    n = 0
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                f"CREATE TEMP TABLE _upsert ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA"
            )
            with cur.cursor.copy(f"COPY _upsert ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    n += 1
            cur.execute("ANALYZE _upsert")
            changed = " OR ".join(f"{table}.{q(c)} IS DISTINCT FROM EXCLUDED.{q(c)}" for c in compare)
            # Rows already stored with the same values are left out before the INSERT: ON CONFLICT would
            # lock (and so write) each of them even when its WHERE then skips the update.
            same = " AND ".join(
                [f"t.{q(c)} = u.{q(c)}" for c in conflict]
                + [f"t.{q(c)} IS NOT DISTINCT FROM u.{q(c)}" for c in compare]
            )
            cur.execute(
                f"INSERT INTO {table} ({cols}) SELECT {', '.join(f'u.{q(c)}' for c in columns)} FROM _upsert u "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {same}) "
                f"ON CONFLICT ({', '.join(q(c) for c in conflict)}) DO UPDATE SET {sets} WHERE {changed}"
            )
            cur.execute("DROP TABLE _upsert")
            return n
        placeholders = ", ".join(["%s"] * len(columns))
        changed = " OR ".join(f"{table}.{q(c)} IS NOT excluded.{q(c)}" for c in compare)  # SQLite: null-safe
        sql = (
            f"INSERT INTO {table} ({cols}) VALUES ({placeholders}) "
            f"ON CONFLICT ({', '.join(q(c) for c in conflict)}) DO UPDATE SET {sets} WHERE {changed}"
        )
        n = _executemany(cur, sql, rows)
    return n


def _executemany(cur, sql: str, rows: Iterable[Sequence]) -> int:
    """`executemany` of `sql` over `rows` in batches of BATCH (SQLite's path); the number of rows."""
    n, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            cur.executemany(sql, batch)
            n, batch = n + len(batch), []
    if batch:
        cur.executemany(sql, batch)
        n += len(batch)
    return n


def insert(model, columns: Sequence[str], rows: Iterable[Sequence], *, json: Sequence[str] = ()) -> int:
    """Insert `rows` of `model`'s table (none may conflict with a stored row); the number of rows.
    PostgreSQL: one COPY straight into the table; elsewhere `executemany` in batches."""
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    rows = _adapt(rows, columns, set(json))
    n = 0
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            with cur.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    n += 1
            return n
        sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(columns))})"
        return _executemany(cur, sql, rows)


def when(value):
    """A datetime as the backend stores it (raw SQL bypasses the ORM's conversion)."""
    return value if connection.vendor == "postgresql" else connection.ops.adapt_datetimefield_value(value)
