"""SQL of ORM writes, for hot paths that send several writes as one statement (PostgreSQL's
data-modifying CTEs: `WITH a AS (UPDATE ...), b AS (INSERT ...) SELECT ...`).

The SQL comes from Django's own compilers, so field preparation (JSON, time zones, auto_now_add)
and expressions (F, Case) are exactly what `.update()` and `.save()` would send; the caller only
adds the CTE around them. Each returns (sql, params) for `cursor.execute`.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import sql


def update_sql(queryset, **values) -> tuple[str, tuple]:
    """What `queryset.update(**values)` would run. The queryset may filter on an expression
    (e.g. `RawSQL("SELECT item_id FROM lease", ())`) that names an earlier CTE."""
    query = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    query.annotations = {}
    return query.get_compiler(connection.alias).as_sql()


def insert_sql(obj, *, with_pk: bool = False) -> tuple[str, tuple]:
    """What `obj.save()` of a new row would run (every concrete field but an auto primary key, which
    comes too `with_pk`: an id drawn beforehand from its sequence)."""
    meta = obj._meta
    fields = [
        f for f in meta.local_concrete_fields if not f.generated and (with_pk or f is not meta.auto_field)
    ]
    query = sql.InsertQuery(meta.model)
    query.insert_values(fields, [obj])
    ((statement, params),) = query.get_compiler(connection.alias).as_sql()
    return statement, tuple(params)


# --- compiled once ---------------------------------------------------------------------------------
# Compiling an ORM write costs about a millisecond of CPU (filters resolved, expressions copied and
# compiled), on every request of a hot path whose statement never changes shape. `once` compiles it a
# first time with marks in place of the values that vary, keeps the SQL and where each mark landed in
# the parameters, and from then on only puts the values in.

_MARK_INT = 7_346_219_000_000_000_001
_MARK_TIME = datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC)
_TEMPLATES: dict[str, tuple[str, tuple, tuple]] = {}


def _mark(i: int, value):
    if isinstance(value, bool) or not isinstance(value, int | datetime):
        raise TypeError(f"once() marks ints and datetimes, not {type(value).__name__}")
    return _MARK_INT + i if isinstance(value, int) else _MARK_TIME + timedelta(microseconds=i)


def once(key: str, build: Callable[..., tuple[str, tuple]], **values) -> tuple[str, tuple]:
    """`build(**values)` (an (sql, params) of this module's functions), compiled only the first time
    per process under `key`: `key` must name everything but `values` that shapes the statement. Each
    value (an int or a datetime) must reach the parameters unchanged, as it was passed (not `n - 1`).
    PostgreSQL's hot paths only: on SQLite a datetime parameter is text, and no mark would be found."""
    entry = _TEMPLATES.get(key)
    if entry is None:
        marks = {name: _mark(i, value) for i, (name, value) in enumerate(values.items())}
        by_mark = {(_kind(m), m): name for name, m in marks.items()}
        sql, params = build(**marks)
        slots = tuple(by_mark.get((_kind(p), p)) for p in params)
        if {s for s in slots if s} != set(marks):
            raise ValueError(f"once({key!r}): each value must reach the parameters as it was passed")
        entry = _TEMPLATES[key] = (sql, tuple(params), slots)
    sql, params, slots = entry
    # an int keeps the type the backend gave its mark (psycopg's Int4 for an integer Value)
    return sql, tuple(
        p if s is None else type(p)(values[s]) if _kind(p) == "int" else values[s]
        for p, s in zip(params, slots, strict=True)
    )


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    return "int" if isinstance(value, int) else "time" if isinstance(value, datetime) else "other"
