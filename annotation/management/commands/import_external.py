"""manage.py import_external PROJECT_ID PATH --format label-studio|trl [--to-judge] [--source S] [--user U]

Imports another tool's data: a Label Studio JSON export, or a dataset in TRL's preference layout (a
.jsonl or .parquet file, or a `save_to_disk` folder on this server). By default the other team's
judgments come too (external, left out of agreement figures unless the project counts them);
--to-judge imports the items only, for our annotators. All or nothing; errors name their line.
Acts as the project's first admin unless --user.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotation.core.errors import ServiceError
from annotation.importing import external
from annotation.importing.parse import ImportFailed
from annotation.models import Membership, Project, Role


class Command(BaseCommand):
    help = "Import a Label Studio export or a TRL preference dataset (file or save_to_disk folder)."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("path")
        parser.add_argument("--format", dest="fmt", choices=sorted(external.FORMATS), required=True)
        parser.add_argument("--to-judge", action="store_true", help="Items only, without their judgments.")
        parser.add_argument("--source", default="", help="Where the judgments come from (default: the file).")
        parser.add_argument("--user", help="Act as this username (default: the project's first admin).")

    def handle(self, *args, **opts):
        project = Project.objects.filter(pk=opts["project_id"]).first()
        if project is None:
            raise CommandError(f"No project {opts['project_id']}.")
        actor = self._actor(project, opts["user"])
        with_judgments = not opts["to_judge"]
        try:
            parsed = external.parse_path(opts["path"], fmt=opts["fmt"], with_judgments=with_judgments,
                                         source=opts["source"])  # fmt: skip
            result = external.import_interchange(
                project=project, actor=actor, parsed=parsed, source=opts["path"][-200:],
                with_judgments=with_judgments,
            )  # fmt: skip
        except ImportFailed as exc:
            raise CommandError("\n".join([str(exc).split(":")[0] + ":", *(f"  {e}" for e in exc.errors)]))
        except (ServiceError, OSError) as exc:
            raise CommandError(str(exc))
        self.stdout.write(
            f"Imported {result.created} items ({result.duplicates} duplicates skipped), "
            f"{result.judgments} external judgments."
        )

    def _actor(self, project, username):
        if username:
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user {username!r}.")
            return user
        membership = Membership.objects.filter(project=project, role=Role.ADMIN).order_by("id").first()
        if membership is None:
            raise CommandError("The project has no admin; pass --user.")
        return membership.user
