"""The Items page's search moves its trigram indexes to a side table (annotation.quality.search_index):
`ItemSearchText`, filled here for the existing items (one INSERT ... SELECT, then the GIN indexes are
built over the filled table, which is faster than inserting into them), and the trigram indexes of
0020_item_search_trigram_indexes on annotation_item and annotation_response are dropped (an import
maintained them in its transaction: three quarters of its time). The tags index stays. A statement
trigger on annotation_item adds every item inserted from now on to `ItemSearchPending` (the search
matches those directly until `search_index.fill` writes their rows). PostgreSQL
only for everything but the table; SQLite searches with a plain LIKE."""

from django.db import migrations, models

SEPARATOR = "\x1f"  # annotation.quality.search_index.SEPARATOR, frozen here

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # Every inserted item, by any code, waits in annotation_itemsearchpending until its row is written.
    "CREATE OR REPLACE FUNCTION annotation_item_search_pending() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN INSERT INTO annotation_itemsearchpending (item_id) SELECT id FROM new_items "
    "ON CONFLICT DO NOTHING; RETURN NULL; END $$",
    "CREATE TRIGGER item_search_pending AFTER INSERT ON annotation_item "
    "REFERENCING NEW TABLE AS new_items FOR EACH STATEMENT EXECUTE FUNCTION annotation_item_search_pending()",
    "INSERT INTO annotation_itemsearchtext (item_id, prompt, responses) "
    "SELECT i.id, (jsonb_path_query_array(i.messages, '$[*].content'))::text, "
    "COALESCE((SELECT string_agg(r.text, %s) FROM annotation_response r WHERE r.item_id = i.id), '') "
    "FROM annotation_item i ON CONFLICT (item_id) DO NOTHING",
    "CREATE INDEX IF NOT EXISTS item_search_prompt_trgm_idx ON annotation_itemsearchtext "
    "USING gin (UPPER(prompt) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS item_search_responses_trgm_idx ON annotation_itemsearchtext "
    "USING gin (UPPER(responses) gin_trgm_ops)",
    "ANALYZE annotation_itemsearchtext",  # the search's plans need its statistics at once
    "DROP INDEX IF EXISTS item_prompt_trgm_idx",
    "DROP INDEX IF EXISTS response_text_trgm_idx",
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS item_search_pending ON annotation_item",
    "DROP FUNCTION IF EXISTS annotation_item_search_pending()",
    "CREATE INDEX IF NOT EXISTS item_prompt_trgm_idx ON annotation_item USING gin "
    "(UPPER((jsonb_path_query_array(messages, '$[*].content'))::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS response_text_trgm_idx ON annotation_response USING gin "
    "(UPPER(text) gin_trgm_ops)",
    "DROP INDEX IF EXISTS item_search_responses_trgm_idx",
    "DROP INDEX IF EXISTS item_search_prompt_trgm_idx",
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, [SEPARATOR] if "%s" in sql else None)

    return apply


class Migration(migrations.Migration):
    dependencies = [("annotation", "0025_dashboard_timing_state")]

    operations = [
        migrations.CreateModel(
            name="ItemSearchText",
            fields=[
                ("item_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("prompt", models.TextField()),
                ("responses", models.TextField()),
            ],
        ),
        migrations.CreateModel(
            name="ItemSearchPending",
            fields=[("item_id", models.BigIntegerField(primary_key=True, serialize=False))],
        ),
        migrations.RunPython(run(FORWARD), run(BACKWARD), elidable=False),
    ]
