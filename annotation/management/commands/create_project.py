"""`manage.py create_project NAME --admin USERNAME`: create a project from a script; prints its id.

Goes through `annotation.projects.services.create_project` (the admin becomes a member, an audit event is
written) and `set_membership` for `--lead` / `--annotator`, like the API.
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotation.core.errors import ServiceError
from annotation.models import Role
from annotation.projects import services as project_services


class Command(BaseCommand):
    help = "Create a project (the --admin user becomes its admin) and print its id."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--admin", required=True, help="Username of the project's admin.")
        parser.add_argument("--lead", action="append", default=[], help="Add a lead (repeatable).")
        parser.add_argument("--annotator", action="append", default=[], help="Add an annotator (repeatable).")
        parser.add_argument("--overlap", type=int, default=None, help="Distinct annotators per item.")
        parser.add_argument("--guidelines-file", default=None, help="Markdown file with the guidelines.")
        parser.add_argument("--description", default=None)

    def handle(self, *args, name, admin, lead=(), annotator=(), overlap=None, guidelines_file=None, **opts):
        User = get_user_model()

        def user(username):
            found = User.objects.filter(username=username).first()
            if found is None:
                raise CommandError(f"No user named {username!r}.")
            return found

        fields = {}
        if overlap is not None:
            fields["overlap"] = overlap
        if opts.get("description") is not None:
            fields["description"] = opts["description"]
        if guidelines_file:
            path = Path(guidelines_file)
            if not path.is_file():
                raise CommandError(f"No such file: {guidelines_file}")
            fields["guidelines"] = path.read_text(encoding="utf-8")
        owner = user(admin)
        try:
            with transaction.atomic():
                project = project_services.create_project(name=name, created_by=owner, **fields)
                for role, usernames in ((Role.LEAD, lead), (Role.ANNOTATOR, annotator)):
                    for username in usernames:
                        project_services.set_membership(
                            project=project, actor=owner, user=user(username), role=role
                        )
        except ServiceError as exc:
            raise CommandError(str(exc))
        self.stdout.write(str(project.pk))
