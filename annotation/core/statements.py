"""SQL of ORM writes, for hot paths that send several writes as one statement (PostgreSQL's
data-modifying CTEs: `WITH a AS (UPDATE ...), b AS (INSERT ...) SELECT ...`).

The SQL comes from Django's own compilers, so field preparation (JSON, time zones, auto_now_add)
and expressions (F, Case) are exactly what `.update()` and `.save()` would send; the caller only
adds the CTE around them. Each returns (sql, params) for `cursor.execute`.
"""

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.utils import CursorWrapper
from django.db.models import sql
from django.db.models.query import get_related_populators


def cursor():
    """A cursor for a hot path's fixed statements (`once`, `rows_once`, `insert_sql`): on PostgreSQL,
    with `TUNELOOP_DB_PREPARE` on (the default), one that binds the parameters on the
    server and prepares each statement the first time a connection runs it, so PostgreSQL parses it
    once per connection and, after five runs, may keep one generic plan for every value instead of
    planning each run (benchmarks/README.md, sessions 8 and 9). A generic plan knows only what the
    text says: a value that is a parameter cannot match a partial index's predicate, so the pick's
    generic plan sorted every open item of the project while its states were parameters (804 ms
    against 0.05 ms at 1M judgments). `once` and `rows_once` therefore write a statement's constants
    into its text (`_inline_constants`). A statement whose plan should depend on a value's size (a
    range over a skewed column) does not belong here: Django's own cursor plans it for its values.
    Elsewhere, and with the setting off (a pooler in transaction mode, which cannot keep prepared
    statements: PgBouncer before 1.21), Django's own cursor. Either way it is Django's cursor wrapper:
    execute wrappers (statement counts, logging) see every statement. Only statements whose text
    does not vary belong here (each text is prepared once per connection; psycopg keeps the 100 most
    recent)."""
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: `connection` is a proxy, each read a lookup
    if db.vendor != "postgresql" or not settings.TUNELOOP_DB_PREPARE:
        return db.cursor()
    from django.db.backends.postgresql import base  # deferred: PostgreSQL only

    # as connection.cursor() does: a persistent connection the database dropped is replaced (health
    # check), then the cursor is made for this thread
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    raw = db.connection
    if raw.prepare_threshold is None:  # Django's default: psycopg prepares nothing by itself
        raw.prepare_threshold = 0  # prepare on first use; Django's client-side cursors never prepare
    if db.queries_logged:  # DEBUG, or a test capturing the statements
        return _logged_wrapper(base)(base.ServerBindingCursor(raw), db)
    return CursorWrapper(base.ServerBindingCursor(raw), db)


@functools.cache
def _logged_wrapper(base):
    class Logged(base.CursorDebugWrapper):
        """Logs the statement with its values in place (Django reads them back from a client-side
        cursor's last query, which a server-binding cursor does not keep)."""

        def debug_sql(self, sql=None, params=None, use_last_executed_query=False, many=False):
            if use_last_executed_query and not many:
                sql, use_last_executed_query = self.db.ops.compose_sql(sql, params), False
            return super().debug_sql(sql, params, use_last_executed_query, many)

    return Logged


def update_sql(queryset, **values) -> tuple[str, tuple]:
    """What `queryset.update(**values)` would run. The queryset may filter on an expression
    (e.g. `RawSQL("SELECT item_id FROM lease", ())`) that names an earlier CTE."""
    query = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    query.annotations = {}
    return query.get_compiler(connection.alias).as_sql()


def insert_sql(obj, *, with_pk: bool = False) -> tuple[str, tuple]:
    """What `obj.save()` of a new row would run (every concrete field but an auto primary key, which
    comes too `with_pk`: an id drawn beforehand from its sequence). The statement's text depends only
    on the model when every value is a plain one (no expression, no database default): it is kept
    per process, and only the values are prepared (as the compiler prepares them) after the first."""
    meta = obj._meta
    fields = [
        f for f in meta.local_concrete_fields if not f.generated and (with_pk or f is not meta.auto_field)
    ]
    query = sql.InsertQuery(meta.model)
    query.insert_values(fields, [obj])
    compiler = query.get_compiler(connection.alias)
    key = (meta.label, with_pk)
    statement = _INSERTS.get(key)
    if statement is not None:
        values = tuple(compiler.prepare_value(f, compiler.pre_save_val(f, obj)) for f in fields)
        if not any(hasattr(v, "as_sql") for v in values):
            return statement, values
    ((statement, params),) = compiler.as_sql()
    plain = not any(hasattr(f, "get_placeholder") for f in fields)
    if plain and statement.count("%s") == len(fields) == len(params):  # each value a plain parameter
        _INSERTS[key] = statement
    return statement, tuple(params)


_INSERTS: dict[tuple[str, bool], str] = {}


# --- compiled once ---------------------------------------------------------------------------------
# Compiling an ORM write costs about a millisecond of CPU (filters resolved, expressions copied and
# compiled), on every request of a hot path whose statement never changes shape. `once` compiles it a
# first time with marks in place of the values that vary, keeps the SQL and where each mark landed in
# the parameters, and from then on only puts the values in.

_MARK_INT = 2_147_000_001  # within every integer column's range: a lookup's overflow check passes it
_MARK_TIME = datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC)
_TEMPLATES: dict[str, tuple[str, tuple, tuple]] = {}
_QUERIES: dict[str, tuple] = {}


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
        entry = _TEMPLATES[key] = _template(key, build, values)
    return _filled(entry, values)


def _filled(entry, values) -> tuple[str, tuple]:
    sql, params, slots = entry[:3]
    # an int keeps the type the backend gave its mark (psycopg's Int4 for an integer Value)
    return sql, tuple(
        p if s is None else type(p)(values[s]) if _kind(p) == "int" else values[s]
        for p, s in zip(params, slots, strict=True)
    )


def _template(key, build, values, *, queryset: bool = False) -> tuple:
    marks = {name: _mark(i, value) for i, (name, value) in enumerate(values.items())}
    by_mark = {(_kind(m), m): name for name, m in marks.items()}
    compiler = None
    if queryset:
        compiler = build(**marks).query.get_compiler(connection.alias)
        sql, params = compiler.as_sql()
    else:
        sql, params = build(**marks)
    slots = tuple(by_mark.get((_kind(p), p)) for p in params)
    if {s for s in slots if s} != set(marks):
        raise ValueError(f"once({key!r}): each value must reach the parameters as it was passed")
    sql, params, slots = _inline_constants(sql, tuple(params), slots)
    return sql, params, slots, compiler


_PLACEHOLDER = re.compile(r"%%|%s")


def _inline_constants(sql: str, params: tuple, slots: tuple) -> tuple[str, tuple, tuple]:
    """The statement with its constant parameters (those that are no value of the call: a state, a
    kind, a flag; the same on every call under the key) written into the text as literals, so that
    only the values stay parameters. A prepared statement's generic plan then knows them: the pick's
    `state = 'open'` matches the partial queue index, which a `state = $3` cannot (statements.cursor).
    Strings (a TextChoices member among them), booleans and integers only, quoted as Django's
    client-side binding quotes them (psycopg); anything else stays a parameter."""
    if connection.vendor != "postgresql":
        return sql, params, slots
    out, kept, kept_slots, at, last = [], [], [], 0, 0
    for match in _PLACEHOLDER.finditer(sql):
        if match.group() == "%%":
            continue
        value, slot = params[at], slots[at]
        at += 1
        if slot is None and _inlinable(value):
            # exactly what Django's client-side binding sends for it (an enum member: its value)
            literal = connection.ops.compose_sql("%s", [value]).strip()
            if literal.startswith("-"):  # `-3::text` would read as -(3::text)
                literal = f"({literal})"
            out.extend((sql[last : match.start()], literal.replace("%", "%%")))
            last = match.end()
        else:
            kept.append(value)
            kept_slots.append(slot)
    if at != len(params):
        raise ValueError(f"{at} placeholders for {len(params)} parameters")
    out.append(sql[last:])
    return "".join(out), tuple(kept), tuple(kept_slots)


def _inlinable(value) -> bool:
    return (isinstance(value, str) and "\x00" not in value) or isinstance(value, int)  # bool is an int


def rows_once(key: str, build: Callable[..., object], **values) -> list:
    """The rows of the queryset `build(**values)` as iterating it would give them (model rows with
    select_related's related rows, annotations and the fields' converters applied; a values_list()'s
    tuples), its SQL compiled only the first time per process under `key`, like `once`. For a hot
    path's reads (the API's next and submit): compiling a queryset with joins and subqueries costs a
    few milliseconds of CPU, more than PostgreSQL takes to run it. PostgreSQL's hot paths only, inside
    the caller's transaction when the queryset locks (select_for_update is not checked again)."""
    entry = _QUERIES.get(key)
    if entry is None:
        entry = _QUERIES[key] = _reader(_template(key, build, values, queryset=True))
    sql, params = _filled(entry, values)
    with cursor() as cur:  # prepared once per connection (`cursor`)
        cur.execute(sql, params)
        rows = cur.fetchall()
    if not rows:
        return []
    compiler, converters, model = entry[3], entry[4], entry[5]
    if converters:
        rows = list(compiler.apply_converters(rows, converters))
    if model is None:  # a values_list()
        return [tuple(row) for row in rows]
    # as Django's ModelIterable builds each row's objects
    first, last, init_list, populators, annotations = entry[6:]
    out = []
    for row in rows:
        obj = model.from_db(connection.alias, init_list, row[first:last])
        for populator in populators:
            populator.populate(row, obj)
        for name, position in annotations:
            setattr(obj, name, row[position])
        out.append(obj)
    return out


def _reader(template: tuple) -> tuple:
    """What ModelIterable derives from a compiled queryset, once: the converters of the selected
    columns, the model's columns, the related rows' populators, the annotations' positions."""
    compiler = template[3]
    converters = compiler.get_converters([s[0] for s in compiler.select[0 : compiler.col_count]])
    klass_info = compiler.klass_info
    if klass_info is None:
        return (*template, converters, None)
    select = compiler.select
    first, last = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    init_list = [f[0].target.attname for f in select[first:last]]
    populators = get_related_populators(klass_info, select, connection.alias)
    annotations = tuple((compiler.annotation_col_map or {}).items())
    return (*template, converters, klass_info["model"], first, last, init_list, populators, annotations)


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    return "int" if isinstance(value, int) else "time" if isinstance(value, datetime) else "other"
