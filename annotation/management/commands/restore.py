"""`manage.py restore FILE`: replace the database and the artifact folders with a backup's, after
verifying the whole archive (annotation.core.backup; README "Backup and restore"). Stop the web server
and the workers first."""

from django.core.management.base import BaseCommand, CommandError

from annotation.core import backup


class Command(BaseCommand):
    help = "Restore a backup archive: verifies it, then replaces the database and the artifact folders."

    def add_arguments(self, parser):
        parser.add_argument("archive", help="A file written by `manage.py backup`")
        parser.add_argument("--database", default="default", help="Database alias (default: default)")
        parser.add_argument(
            "--noinput", "--no-input", action="store_false", dest="interactive", help="Do not ask to confirm."
        )

    def handle(self, *args, archive, database, interactive, **opts):
        if interactive:
            answer = input(
                f"This replaces the database '{database}' and the artifact folders with {archive}.\n"
                "Type 'yes' to continue: "
            )
            if answer.strip().lower() != "yes":
                raise CommandError("Restore cancelled.")
        try:
            done = backup.restore(archive, using=database)
        except backup.ArchiveError as e:
            raise CommandError(str(e)) from e
        self.stdout.write(f"Restored {done.path}: {backup.summary(done.manifest)}")
        for note in done.notes:
            self.stdout.write(self.style.WARNING(note))
