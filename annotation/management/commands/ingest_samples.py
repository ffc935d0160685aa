"""Ingest production samples from JSONL or CSV into a project (active learning), all or nothing."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotation.active_learning import ingest, records
from annotation.models import Project


class Command(BaseCommand):
    help = "Ingest production samples (JSONL or CSV; see README 'Active learning') into a project."

    def add_arguments(self, parser):
        parser.add_argument("project", type=int)
        parser.add_argument("path")
        parser.add_argument("--format", choices=["jsonl", "csv"])
        parser.add_argument("--user", help="Act as this user (a lead); default: the first superuser.")

    def handle(self, *args, project, path, format=None, user=None, **options):
        target = Project.objects.filter(pk=project).first()
        if target is None:
            raise CommandError(f"No project {project}.")
        users = get_user_model().objects
        actor = users.filter(username=user).first() if user else users.filter(is_superuser=True).first()
        if actor is None:
            raise CommandError("Give --user (a lead of the project); there is no superuser.")
        raw = Path(path).read_bytes()
        fmt = format or records.detect_format(path, raw[:500].decode("utf-8", "ignore"))
        try:
            parsed = records.parse_text(raw, fmt=fmt)
            result = ingest.ingest(project=target, records=parsed, actor=actor, source=Path(path).name)
        except records.ImportFailed as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"created {result.created}, duplicates {result.duplicates}")
