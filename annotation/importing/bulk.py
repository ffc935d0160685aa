"""The file import's write path: stream and validate, stage, then insert in one statement.

`import_file(project=, actor=, stream=, fmt=, mapping=, kind=, source=)` imports a JSONL or CSV item
file (a binary file object, read once, front to back), all or nothing, duplicates skipped:

1. **Stream and stage.** `parse.iter_items` validates row by row, holding one row at a time. Good rows
   go into a temporary staging table (`tl_import_rows`, private to this database connection): with
   `COPY ... FROM STDIN` on PostgreSQL (psycopg 3's `cursor.copy`), with batched `executemany` on
   SQLite, in chunks of `CHUNK_ROWS`, so `progress(stage, lines, fraction)` can be reported (and
   committed, outside any transaction) between chunks. After the first bad row nothing more is
   staged; the rest of the file is still read so every issue (up to MAX_ERRORS) is reported with its
   line and field.
2. **Any issue: `ImportFailed`**, and nothing was written (the staging table is dropped).
3. **Insert, in one transaction:** the items in one `INSERT ... SELECT` from the staging table (per
   content hash, the file's first row; hashes the project already holds are skipped), in file order,
   then their responses, then the audit entry. On PostgreSQL items and responses are one statement
   (data-modifying CTEs over `picked`: the rows to insert with their ids drawn from the sequence in
   file order), under a per-project advisory lock so two imports into one project take turns; on
   SQLite two statements, the responses joined to the items inserted after the largest id seen at the
   start of the (IMMEDIATE, so single-writer) transaction.

**The Items page's search index** is not maintained here. The pg_trgm GIN indexes over the prompt and
response texts were about three quarters of the INSERT on PostgreSQL (benchmarks/README.md,
"import_items.py"); dropping them for an import would lock the tables for every annotator, and a larger
`gin_pending_list_limit` saved little. They now sit on a side table (annotation.quality.search_index)
whose rows for the imported items a task writes in bulk after the import commits (`quality_tasks.queue_index`,
on commit: a failed import queues nothing); until then the search matches those items directly.

The content hash is `parse.content_hash`, computed while streaming, the same as the in-memory path
(`services.import_items`, kept for records built in memory: the demo, interchange imports). The stored
rows are the same as that path's (tests/annotation/test_bulk_import.py). Memory stays flat in the
file's size: one row, one chunk's psycopg buffer or one executemany batch.
"""

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from annotation.core import audit
from annotation.core.permissions import require
from annotation.importing.parse import ImportFailed, ImportIssue, ItemRecord, iter_items, no_items
from annotation.importing.rows import text_lines
from annotation.importing.services import ImportResult
from annotation.models import Item, Project, Response
from annotation.quality import tasks as quality_tasks
from annotation.queue.lifecycle import NEW_ITEM

CHUNK_ROWS = 25_000  # rows per COPY / executemany chunk; progress is reported between chunks
STAGING = "tl_import_rows"
LOCK_NAMESPACE = 7_112_001  # pg_advisory_xact_lock(LOCK_NAMESPACE, project id): one import per project
COLUMNS = ("line", "content_hash", "kind", "messages", "external_id", "metadata", "priority", "responses")

Progress = Callable[[str, int, float], None]  # (stage, lines read, fraction of the file read)


@dataclass
class _Read:
    """Where the stream stands: the last line seen, and the fraction of the file read."""

    stream: object
    size: int | None
    line: int = 0

    def fraction(self) -> float:
        if not self.size:
            return 0.0
        try:
            return min(1.0, self.stream.tell() / self.size)
        except (OSError, ValueError, AttributeError):  # not seekable, or closed
            return 0.0


def import_file(
    *,
    project: Project,
    actor,
    stream,
    fmt: str = "jsonl",
    mapping: dict | None = None,
    kind: str = "sft",
    source: str = "",
    size: int | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import the item file `stream` into `project`; raises ImportFailed (nothing written) with every
    issue found, each naming the line and the field. `stream`: a binary file (an upload, an open
    file) or text (`io.StringIO`); `size` its length, for the progress fraction."""
    require(actor, "import_items", project)
    report = progress or (lambda stage, lines, fraction: None)
    while not isinstance(stream, io.IOBase) and hasattr(stream, "file"):
        stream = stream.file  # a Django UploadedFile, a NamedTemporaryFile: the file object inside
    read = _Read(stream, size)
    lines = stream if isinstance(stream, io.TextIOBase) else text_lines(stream)
    staging = _Staging.for_connection()
    staging.create()
    try:
        found = iter_items(lines, fmt=fmt, mapping=mapping, kind=kind)
        staged, issues = _stage(staging, found, read, report)
        if not issues and not staged:
            issues = [no_items()]
        if issues:
            raise ImportFailed(issues)
        report("inserting", read.line, 1.0)
        with transaction.atomic():
            created = staging.insert(project, (source or "")[:200], timezone.now())
            result = ImportResult(created=created, duplicates=staged - created)
            audit.record(
                actor=actor,
                project=project,
                verb="items.imported",
                object_type="project",
                source=(source or "")[:200],
                **result.as_dict(),
            )
            quality_tasks.queue_index(project.pk)  # the Items page's search rows, after commit
        return result
    finally:
        if lines is not stream:
            lines.detach()  # give the caller's stream back open
        staging.drop()


def _stage(staging, found: Iterator, read: _Read, report: Progress) -> tuple[int, list[ImportIssue]]:
    """Stage the good rows chunk by chunk until the first issue; then only collect issues."""
    issues: list[ImportIssue] = []
    staged = 0
    exhausted = False
    while not exhausted and not issues:
        exhausted = True
        with staging.writer() as write:
            count = 0
            for x in found:
                read.line = max(read.line, x.line)
                if isinstance(x, ImportIssue):
                    issues.append(x)
                    break
                write(_row(x))
                count += 1
                if count >= CHUNK_ROWS:
                    exhausted = False
                    break
        staged += count
        report("reading", read.line, read.fraction())
    if issues:
        for x in found:  # after an issue: validate the rest, store nothing
            read.line = max(read.line, x.line)
            if isinstance(x, ImportIssue):
                issues.append(x)
        report("reading", read.line, read.fraction())
    return staged, issues


def _row(record: ItemRecord) -> tuple:
    responses = [
        {
            "text": r["text"],
            "model": r.get("model", ""),
            "model_version": r.get("model_version", ""),
            "generation_params": r.get("generation_params") or {},
        }
        for r in record.responses
    ]
    return (
        record.line,
        record.content_hash,
        record.kind,
        json.dumps(record.messages),
        record.external_id,
        json.dumps(record.metadata),
        record.priority,
        json.dumps(responses),
    )


def _item_columns(project: Project, source: str, now) -> tuple[list[str], list]:
    """The item columns that come from parameters, not the staging table, and their values."""
    values = {
        "project_id": project.pk,
        **{k: getattr(v, "value", v) for k, v in NEW_ITEM.items()},
        "gold_answer": None,
        "resolution": None,
        "source": source,
        "created_at": connection.ops.adapt_datetimefield_value(now),
        "updated_at": connection.ops.adapt_datetimefield_value(now),
    }
    return list(values), list(values.values())


class _Staging:
    """The staging table on this connection: create, write rows in chunks, insert from it, drop."""

    @staticmethod
    def for_connection():
        return _PostgresStaging() if connection.vendor == "postgresql" else _SQLiteStaging()

    def drop(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
        except DatabaseError:  # the caller's transaction failed: its rollback removes the table
            pass


class _PostgresStaging(_Staging):
    def create(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {STAGING} (line integer NOT NULL, content_hash varchar(64) NOT NULL, "
                "kind varchar(16) NOT NULL, messages jsonb NOT NULL, external_id varchar(200) NOT NULL, "
                "metadata jsonb NOT NULL, priority integer NOT NULL, responses jsonb NOT NULL)"
            )

    def writer(self):
        return _CopyChunk()

    def insert(self, project: Project, source: str, now) -> int:
        names, values = _item_columns(project, source, now)
        item, response = Item._meta.db_table, Response._meta.db_table
        # `picked`: per content hash the file's first line, less the hashes the project holds, with
        # the item's id drawn in file order; items and responses are then inserted from it without
        # joining on the hash. Narrow rows in the sort and the hash aggregate.
        sql = f"""
            WITH picked AS MATERIALIZED (
                SELECT nextval(pg_get_serial_sequence('{item}', 'id')) AS id, line FROM (
                    SELECT s.line FROM {STAGING} s
                    WHERE s.line IN (SELECT min(line) FROM {STAGING} GROUP BY content_hash)
                      AND NOT EXISTS (
                        SELECT 1 FROM {item} i WHERE i.project_id = %s AND i.content_hash = s.content_hash
                      )
                    ORDER BY s.line
                ) ordered
            ), items AS (
                INSERT INTO {item} (id, kind, messages, external_id, content_hash, metadata, priority,
                                    {", ".join(names)})
                SELECT picked.id, kind, messages, external_id, content_hash, metadata, priority,
                       {", ".join(["%s"] * len(names))}
                FROM picked JOIN {STAGING} s USING (line)
            ), answers AS (
                INSERT INTO {response} (item_id, position, text, model_name, model_version,
                                        generation_params, author_id, shown, created_at)
                SELECT picked.id, r.n - 1, r.value->>'text', r.value->>'model', r.value->>'model_version',
                       r.value->'generation_params', NULL, true, %s
                FROM picked JOIN {STAGING} s USING (line)
                CROSS JOIN LATERAL jsonb_array_elements(s.responses) WITH ORDINALITY AS r(value, n)
            )
            SELECT count(*) FROM picked
        """
        with connection.cursor() as cursor:
            # Imports into one project take turns (another writer of the same content makes this
            # import fail whole on the unique constraint, as before); the others run side by side.
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, project.pk])
            cursor.execute("SET LOCAL jit = off")  # compiling this plan costs more than it saves
            cursor.execute("SET LOCAL work_mem = '64MB'")  # the sort and hash of `picked` in memory
            cursor.execute(f"ANALYZE {STAGING}")  # temporary tables get no autovacuum statistics
            cursor.execute(sql, [project.pk, *values, values[names.index("created_at")]])
            (created,) = cursor.fetchone()
        return created


class _CopyChunk:
    """One COPY statement into the staging table; `write(row)` sends a row."""

    def __enter__(self):
        connection.ensure_connection()
        self.cursor = connection.connection.cursor()
        self.copy = self.cursor.copy(f"COPY {STAGING} ({', '.join(COLUMNS)}) FROM STDIN")
        return self.copy.__enter__().write_row

    def __exit__(self, *exc):
        try:
            return self.copy.__exit__(*exc)
        finally:
            self.cursor.close()


class _SQLiteStaging(_Staging):
    BATCH = 5_000

    def create(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {STAGING} (line integer NOT NULL, content_hash text NOT NULL, "
                "kind text NOT NULL, messages text NOT NULL, external_id text NOT NULL, "
                "metadata text NOT NULL, priority integer NOT NULL, responses text NOT NULL)"
            )

    def writer(self):
        return _Batches(self.BATCH)

    def insert(self, project: Project, source: str, now) -> int:
        names, values = _item_columns(project, source, now)
        item, response = Item._meta.db_table, Response._meta.db_table
        firsts = f"SELECT min(line) FROM {STAGING} GROUP BY content_hash"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT coalesce(max(id), 0) FROM {item}")
            (before,) = cursor.fetchone()
            cursor.execute(
                f"""INSERT INTO {item} (kind, messages, external_id, content_hash, metadata, priority,
                                         {", ".join(names)})
                    SELECT kind, messages, external_id, content_hash, metadata, priority,
                           {", ".join(["%s"] * len(names))}
                    FROM {STAGING} s
                    WHERE s.line IN ({firsts}) AND NOT EXISTS (
                        SELECT 1 FROM {item} i WHERE i.project_id = %s AND i.content_hash = s.content_hash
                    )
                    ORDER BY s.line""",
                [*values, project.pk],
            )
            created = cursor.rowcount
            cursor.execute(
                f"""INSERT INTO {response} (item_id, position, text, model_name, model_version,
                                             generation_params, author_id, shown, created_at)
                    SELECT i.id, CAST(r.key AS integer), json_extract(r.value, '$.text'),
                           json_extract(r.value, '$.model'), json_extract(r.value, '$.model_version'),
                           json_extract(r.value, '$.generation_params'), NULL, 1, %s
                    FROM {item} i JOIN {STAGING} s ON s.content_hash = i.content_hash, json_each(s.responses) r
                    WHERE i.project_id = %s AND i.id > %s AND s.line IN ({firsts})
                    ORDER BY i.id, r.key""",
                [values[names.index("created_at")], project.pk, before],
            )
        return created


class _Batches:
    """Rows gathered into executemany batches of `size` into the staging table, each its own short
    transaction (SQLite's write lock is held per batch only)."""

    def __init__(self, size: int):
        self.size = size
        self.rows: list[tuple] = []

    def __enter__(self):
        return self.write

    def write(self, row: tuple):
        self.rows.append(row)
        if len(self.rows) >= self.size:
            self.flush()

    def flush(self):
        if self.rows:
            with transaction.atomic(), connection.cursor() as cursor:
                marks = ", ".join(["%s"] * len(COLUMNS))
                cursor.executemany(
                    f"INSERT INTO {STAGING} ({', '.join(COLUMNS)}) VALUES ({marks})", self.rows
                )
            self.rows = []

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.flush()
        return False
