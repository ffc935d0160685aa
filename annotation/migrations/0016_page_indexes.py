from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0015_recompute_and_changed_items"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="item",
            index=models.Index(fields=["project", "-id"], name="item_list_idx"),
        ),
        migrations.AddIndex(
            model_name="item",
            index=models.Index(
                condition=models.Q(("is_gold", False), ("state", "disputed")),
                fields=["project", "-priority", "id"],
                name="item_disputed_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["project", "verb"], name="audit_verb_idx"),
        ),
        migrations.AddIndex(
            model_name="response",
            index=models.Index(fields=["model_name"], name="response_model_idx"),
        ),
    ]
