"""`manage.py backup --out FILE`: the database and the artifact store in one verified archive
(annotation.core.backup; README "Backup and restore")."""

from django.core.management.base import BaseCommand, CommandError

from annotation.core import backup


class Command(BaseCommand):
    help = "Back up the database and the artifact folders under TUNELOOP_DATA_DIR into one tar.gz."

    def add_arguments(self, parser):
        parser.add_argument(
            "--out", required=True, help="The archive to write, e.g. tuneloop-2026-01-31.tar.gz"
        )
        parser.add_argument("--database", default="default", help="Database alias (default: default)")

    def handle(self, *args, out, database, **opts):
        try:
            done = backup.backup(out, using=database)
        except backup.ArchiveError as e:
            raise CommandError(str(e)) from e
        self.stdout.write(f"Wrote {done.path}: {backup.summary(done.manifest)}")
