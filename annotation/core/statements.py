"""SQL of ORM writes, for hot paths that send several writes as one statement (PostgreSQL's
data-modifying CTEs: `WITH a AS (UPDATE ...), b AS (INSERT ...) SELECT ...`).

The SQL comes from Django's own compilers, so field preparation (JSON, time zones, auto_now_add)
and expressions (F, Case) are exactly what `.update()` and `.save()` would send; the caller only
adds the CTE around them. Each returns (sql, params) for `cursor.execute`.
"""

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
