"""Indexes for the Items page's search and tag filter (annotation.quality.item_list), on PostgreSQL
only (SQLite searches with a plain LIKE): pg_trgm GIN indexes over the expressions the search
compares, UPPER(conversation text) and UPPER(response text), and a GIN index over metadata -> 'tags'.
Django's model state does not know them (they are expression indexes of one database)."""

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS item_prompt_trgm_idx ON annotation_item USING gin "
    "(UPPER((jsonb_path_query_array(messages, '$[*].content'))::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS response_text_trgm_idx ON annotation_response USING gin "
    "(UPPER(text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS item_tags_idx ON annotation_item USING gin "
    "((metadata -> 'tags') jsonb_path_ops)",
]
DROP = [
    "DROP INDEX IF EXISTS item_tags_idx",
    "DROP INDEX IF EXISTS response_text_trgm_idx",
    "DROP INDEX IF EXISTS item_prompt_trgm_idx",
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("annotation", "0019_api_tokens")]

    operations = [migrations.RunPython(run(CREATE), run(DROP), elidable=False)]
