"""`manage.py import_items PROJECT_ID FILE`: import JSONL or CSV items, all or nothing.

Streams the file through `annotation.importing.bulk.import_file`, exactly as the page and the API
do (COPY into a staging table on PostgreSQL; no size limit, no task: it runs here, memory flat). On
any error it prints every issue with its line number, writes nothing and exits non-zero.
"""

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotation.core.errors import ServiceError
from annotation.importing import bulk
from annotation.importing.parse import FIELDS, ImportFailed, detect_format
from annotation.kinds import registry
from annotation.models import Membership, Project, Role


class Command(BaseCommand):
    help = "Import items from a JSONL or CSV file into a project (all or nothing; duplicates skipped)."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int, help="The project's id.")
        parser.add_argument("file", help="Path to a .jsonl or .csv file ('-' reads stdin as JSONL).")
        parser.add_argument(
            "--format",
            dest="fmt",
            choices=["jsonl", "csv"],
            default=None,
            help="Default: from the file name.",
        )
        parser.add_argument(
            "--map",
            dest="pairs",
            action="append",
            default=[],
            metavar="OURS=THEIRS",
            help=f"Read our field from another column / key, e.g. --map prompt=question. Fields: {', '.join(FIELDS)}.",
        )
        parser.add_argument(
            "--kind", choices=registry.names(), default="sft", help="Item kind (default sft)."
        )
        parser.add_argument(
            "--as",
            dest="username",
            default=None,
            help="Import as this user (audit trail, permissions). Default: the project's first admin.",
        )

    def handle(self, *args, project_id, file, fmt=None, pairs=(), kind="sft", username=None, **opts):
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            raise CommandError(f"No project with id {project_id}.")
        actor = self._actor(project, username)
        mapping = self._mapping(pairs)
        if file == "-":
            stream, name, size = getattr(sys.stdin, "buffer", sys.stdin), "stdin", None
            fmt = fmt or "jsonl"
        else:
            path = Path(file)
            if not path.is_file():
                raise CommandError(f"No such file: {file}")
            stream, name, size = open(path, "rb"), path.name, path.stat().st_size  # noqa: SIM115
            fmt = fmt or detect_format(name, stream.read(1000).decode("utf-8", errors="ignore"))
            stream.seek(0)
        try:
            result = bulk.import_file(
                project=project, actor=actor, stream=stream, fmt=fmt, mapping=mapping, kind=kind,
                source=name, size=size,
            )  # fmt: skip
        except ImportFailed as exc:
            for issue in exc.errors:
                self.stderr.write(f"{name}: {issue}")
            raise CommandError(f"Import failed with {len(exc.errors)} error(s); nothing was imported.")
        except ServiceError as exc:
            raise CommandError(str(exc))
        finally:
            if file != "-":
                stream.close()
        self.stdout.write(
            self.style.SUCCESS(f"Imported {result.created} item(s) into {project.name!r}; ")
            + f"{result.duplicates} duplicate(s) skipped."
        )

    def _actor(self, project, username):
        User = get_user_model()
        if username:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user named {username!r}.")
            return user
        membership = (
            Membership.objects.filter(project=project, role=Role.ADMIN)
            .select_related("user")
            .order_by("id")
            .first()
        )
        if membership is None:
            raise CommandError("The project has no admin; name a user with --as USERNAME.")
        return membership.user

    def _mapping(self, pairs) -> dict:
        mapping = {}
        for pair in pairs:
            ours, sep, theirs = pair.partition("=")
            ours, theirs = ours.strip(), theirs.strip()
            if not sep or not ours or not theirs:
                raise CommandError(f"--map {pair!r}: expected OURS=THEIRS, e.g. prompt=question.")
            if ours not in FIELDS:
                raise CommandError(f"--map {pair!r}: unknown field {ours!r}; use one of {', '.join(FIELDS)}.")
            mapping[ours] = theirs
        return mapping
