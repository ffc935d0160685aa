"""The Items page's search index on PostgreSQL: a side table (`ItemSearchText`, one row per item: its
prompt text and its responses' texts) carrying the trigram GIN indexes, filled in bulk after the
rows exist instead of in the transaction that creates them (benchmarks/README.md, "Where the time
goes": the indexes were three quarters of a 100k-item import when they sat on the items and responses).

- Every inserted item is added to `ItemSearchPending` by a statement trigger on annotation_item (in
  the inserting transaction, whatever code inserts it: cheap, a btree row per item).
- `fill(project_id=None)`: one statement that takes the pending items (of one project) and writes
  their rows with an INSERT ... SELECT. An import queues it after commit (`annotation.quality.tasks.queue_index`, from
  annotation.importing.bulk); beat runs it for every
  project (`annotation.tasks.index_item_search`, TUNELOOP_SEARCH_INDEX_SECONDS) for items made any
  other way (API, interchange, active learning, demo) and removes the rows of deleted items.
- Correctness never waits for it: `annotation.quality.item_list` matches an item with a row through
  the row, and a pending item directly with the same expressions as before, so an item is found the
  moment it is committed.

SQLite has no side table rows (`fill` does nothing there) and searches with a plain LIKE.
"""

from django.db import connection, connections

# Joins an item's response texts. A search text without it cannot match across two responses; one
# that contains it is searched directly (item_list).
SEPARATOR = "\x1f"

TABLE = "annotation_itemsearchtext"
PENDING = "annotation_itemsearchpending"
PROMPT_SQL = "(jsonb_path_query_array(i.messages, '$[*].content'))::text"  # item_list.PromptText's
# One statement: the pending rows are taken (deleted, locked against a concurrent fill) and their
# items' search rows written; a deleted item's pending row just goes.
FILL = (
    f"WITH todo AS (DELETE FROM {PENDING} p{{scope}} RETURNING p.item_id) "
    f"INSERT INTO {TABLE} (item_id, prompt, responses) "
    f"SELECT i.id, {PROMPT_SQL}, COALESCE((SELECT string_agg(r.text, %s) FROM annotation_response r "
    f"WHERE r.item_id = i.id), '') FROM todo JOIN annotation_item i ON i.id = todo.item_id "
    f"ON CONFLICT (item_id) DO NOTHING"
)
ANALYZE_ROWS = 10_000  # a fill that wrote this many rows updates the tables' statistics
PROJECT_SCOPE = " USING annotation_item pi WHERE pi.id = p.item_id AND pi.project_id = %s"
PURGE = f"DELETE FROM {TABLE} s WHERE NOT EXISTS (SELECT 1 FROM annotation_item i WHERE i.id = s.item_id)"


def enabled(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


def fill(project_id: int | None = None, using: str = "default") -> int:
    """Write the search rows of the pending items (of `project_id`, or all); how many. One statement
    in its own transaction (autocommit); run it outside an import's transaction."""
    if not enabled(using):
        return 0
    scope, params = (PROJECT_SCOPE, [project_id, SEPARATOR]) if project_id else ("", [SEPARATOR])
    with connections[using].cursor() as cursor:
        cursor.execute(FILL.format(scope=scope), params)
        written = cursor.rowcount
        if written >= ANALYZE_ROWS:  # the search's plans (index or walk) follow the tables' statistics
            cursor.execute(f"ANALYZE {TABLE}, {PENDING}")
    return written


def purge() -> int:
    """Remove the rows of deleted items; how many."""
    if not enabled():
        return 0
    with connection.cursor() as cursor:
        cursor.execute(PURGE)
        return cursor.rowcount
