"""`manage.py copy_to_postgres postgres://USER@HOST:PORT/DBNAME`: copy this installation's database
(the embedded SQLite file, or whatever DATABASE_URL names) into an empty PostgreSQL database.

Migrates the target, replaces the content types and permissions its migrate created with this
database's own (same ids), copies every row with Django's dumpdata / loaddata (ids kept, sequences
reset), then counts the rows of every table on both sides and fails unless they are equal. Stop the server and
the worker first so nothing writes meanwhile; afterwards set DATABASE_URL to the target. The Celery
broker's SQLite file is not copied (queued tasks are transient; point CELERY_BROKER_URL at Redis), nor
the database cache's table (derived figures, recomputed on demand), nor the Items page's search rows
(`annotation.quality.search_index`: derived, written on the target after the copy).
"""

import tempfile
from pathlib import Path

import dj_database_url
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from annotation.quality import search_index

TARGET = "copy_target"
DERIVED = ["annotation.ItemSearchText", "annotation.ItemSearchPending"]  # written on the target itself


class Command(BaseCommand):
    help = "Copy this database (default: the embedded SQLite file) into an empty PostgreSQL database."

    def add_arguments(self, parser):
        parser.add_argument("target", help="postgres://USER@HOST:PORT/DBNAME of an empty database")

    def handle(self, *args, target, **opts):
        config = dj_database_url.parse(target)
        if not config["ENGINE"].endswith("postgresql"):
            raise CommandError("The target must be a PostgreSQL URL (postgres://USER@HOST:PORT/DBNAME).")
        # configure_settings fills in Django's defaults (it wants the default alias beside it)
        both = connections.configure_settings(
            {"default": dict(connections["default"].settings_dict), TARGET: config}
        )
        connections.settings[TARGET] = both[TARGET]
        try:
            self._copy()
        finally:
            connections[TARGET].close()
            del connections.settings[TARGET]

    def _copy(self):
        models = [
            m
            for m in apps.get_models(include_auto_created=True)
            if m._meta.managed and not m._meta.proxy and m._meta.label not in DERIVED
        ]
        call_command("migrate", database=TARGET, interactive=False, verbosity=0)
        own = {"contenttypes.ContentType", "auth.Permission"}  # what the target's migrate wrote
        busy = [
            m._meta.label for m in models if m._meta.label not in own and m.objects.using(TARGET).exists()
        ]
        if busy:
            raise CommandError(
                f"The target database is not empty ({', '.join(busy[:5])}): give an empty one."
            )
        ContentType.objects.using(TARGET).all().delete()  # permissions go with them; ours come with our ids
        ContentType.objects.clear_cache()
        with tempfile.TemporaryDirectory() as tmp:
            dump = Path(tmp) / "data.json"
            call_command("dumpdata", output=str(dump), database="default", exclude=DERIVED, verbosity=0)
            call_command("loaddata", str(dump), database=TARGET, verbosity=0)
        search_index.fill(using=TARGET)  # the trigger queued every copied item
        ContentType.objects.clear_cache()
        differ = []
        for model in models:
            here, there = model.objects.using("default").count(), model.objects.using(TARGET).count()
            if here != there:
                differ.append(f"{model._meta.label}: {here} here, {there} there")
        if differ:
            raise CommandError("Row counts differ after the copy: " + "; ".join(differ))
        total = sum(m.objects.using(TARGET).count() for m in models)
        self.stdout.write(f"Copied {total} rows of {len(models)} tables; every table's count matches.")
        self.stdout.write("Now set DATABASE_URL to the target and restart the server and the worker.")
