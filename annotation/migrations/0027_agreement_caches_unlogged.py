"""The agreement recompute's derived tables (AgreementItemState, AgreementVote, AgreementTally) become
rebuildable caches on PostgreSQL: UNLOGGED (no WAL for the ~330k states, ~1M votes and ~90k sums a
full rebuild of 1M judgments writes), without the project_id index each had beside an index that
starts with project_id, and without the foreign key constraint to the project (its check ran once per
inserted row at commit, seconds at 1M; deleting a project still deletes their rows: Django's
cascade). After a crash PostgreSQL empties all three together, so the `["ok"]` row goes
with the states and the next recompute rebuilds in full (annotation.quality.tally_store); pg_dump
still dumps their rows (backups keep them). SQLite: only the index change."""

import django.db.models.deletion
from django.db import migrations, models

TABLES = ("annotation_agreementitemstate", "annotation_agreementvote", "annotation_agreementtally")


def persistence(mode):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in TABLES:
            schema_editor.execute(f"ALTER TABLE {table} SET {mode}")

    return apply


def forget_sums(apps, schema_editor):
    """The votes are gone: every project's sums are incomplete until its next (full) recompute."""
    apps.get_model("annotation", "AgreementTally").objects.all().delete()


def field():
    return models.ForeignKey(
        db_constraint=False,
        db_index=False,
        on_delete=django.db.models.deletion.CASCADE,
        related_name="+",
        to="annotation.project",
    )


class Migration(migrations.Migration):
    dependencies = [("annotation", "0026_item_search_side_table")]

    operations = [
        migrations.DeleteModel(name="AgreementItemState"),  # caches: rebuilt by the next full recompute
        migrations.CreateModel(
            name="AgreementItemState",
            fields=[
                ("pk", models.CompositePrimaryKey("project", "item_id", blank=True, editable=False, primary_key=True,
                                                  serialize=False)),
                ("item_id", models.BigIntegerField()),
                ("kind", models.CharField(max_length=16)),
                ("data", models.JSONField(default=dict)),
                ("project", field()),
            ],
        ),
        migrations.AlterField(model_name="agreementtally", name="project", field=field()),
        migrations.DeleteModel(name="AgreementVote"),
        migrations.CreateModel(
            name="AgreementVote",
            fields=[
                ("pk", models.CompositePrimaryKey("project", "item_id", "annotator_id", blank=True, editable=False,
                                                  primary_key=True, serialize=False)),
                ("kind", models.CharField(max_length=16)),
                ("item_id", models.BigIntegerField()),
                ("annotator_id", models.BigIntegerField()),
                ("label", models.TextField()),
                ("project", field()),
            ],
        ),
        migrations.RunPython(forget_sums, migrations.RunPython.noop),
        migrations.RunPython(persistence("UNLOGGED"), persistence("LOGGED")),
    ]
