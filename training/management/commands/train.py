"""manage.py train PROJECT_ID --method dpo (--snapshot ID | --build) [--max-steps N] [--set key=value] [--wait]

Queues a run through training.runs (validated before queueing); --build queues a snapshot and
waits for it to be built first; --wait follows it until it
ends, and exits non-zero unless it completed. Acts as the project's first admin unless --user.
"""

import json
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotation.core.errors import ServiceError
from annotation.models import Membership, Project, Role
from training import runs
from training.models import DatasetSnapshot, RunState, SnapshotState, TrainingRun


class Command(BaseCommand):
    help = "Queue an SFT or DPO training run for a project (and optionally wait for it)."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("--method", choices=["sft", "dpo"], default=None)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--snapshot", type=int, help="An existing snapshot id.")
        source.add_argument("--build", action="store_true", help="Build a snapshot with default filters.")
        parser.add_argument("--filters", default="{}", help="JSON snapshot filters for --build.")
        parser.add_argument("--max-steps", type=int, default=None)
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help="A TrainConfig field (JSON value or plain text); repeatable.")  # fmt: skip
        parser.add_argument("--user", help="Act as this username (default: the project's first admin).")
        parser.add_argument("--wait", action="store_true", help="Follow the run until it ends.")
        parser.add_argument("--timeout", type=float, default=0, help="With --wait: give up after N seconds.")

    def handle(self, *args, **opts):
        project = Project.objects.filter(pk=opts["project_id"]).first()
        if project is None:
            raise CommandError(f"No project {opts['project_id']}.")
        actor = self._actor(project, opts["user"])
        config = {}
        for item in opts["set"]:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--set {item!r}: expected KEY=VALUE.")
            try:
                config[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                config[key.strip()] = value
        if opts["max_steps"] is not None:
            config["max_steps"] = opts["max_steps"]
        try:
            if opts["build"]:
                snapshot = runs.request_snapshot(
                    project=project,
                    actor=actor,
                    kind=opts["method"] or "sft",
                    filters=json.loads(opts["filters"]),
                )
                snapshot = self._wait_for_snapshot(snapshot, opts["timeout"])
                self.stdout.write(
                    f"Snapshot #{snapshot.pk}: {snapshot.train_count} train, {snapshot.val_count} validation rows."
                )
            else:
                snapshot = DatasetSnapshot.objects.filter(project=project, pk=opts["snapshot"]).first()
                if snapshot is None:
                    raise CommandError(f"No snapshot {opts['snapshot']} in project {project.pk}.")
            run = runs.start_run(
                project=project, actor=actor, snapshot=snapshot, method=opts["method"], config=config
            )
        except ServiceError as exc:
            lines = [f"  {field}: {' '.join(map(str, msgs))}" for field, msgs in exc.errors.items()]
            raise CommandError("\n".join([exc.message, *lines]))
        except json.JSONDecodeError as exc:
            raise CommandError(f"--filters is not JSON: {exc}")
        self.stdout.write(f"Run #{run.pk} queued ({run.method}, output {run.output_dir}).")
        if opts["wait"]:
            self._wait(run, opts["timeout"])

    def _actor(self, project, username):
        User = get_user_model()
        if username:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user {username!r}.")
            return user
        membership = Membership.objects.filter(project=project, role=Role.ADMIN).order_by("id").first()
        if membership is None:
            raise CommandError("The project has no admin; pass --user.")
        return membership.user

    def _wait_for_snapshot(self, snapshot, timeout):
        """The snapshot once built (a worker builds it; at once when none is configured)."""
        started, last = time.monotonic(), None
        while snapshot.state == SnapshotState.BUILDING:
            if (snapshot.stage, snapshot.percent) != last:
                last = (snapshot.stage, snapshot.percent)
                self.stdout.write(
                    f"  snapshot #{snapshot.pk} building: {snapshot.stage or 'queued'} {snapshot.percent}%"
                )
            if timeout and time.monotonic() - started > timeout:
                raise CommandError(f"Snapshot #{snapshot.pk} still building after {timeout:g} s.")
            time.sleep(1)
            snapshot = DatasetSnapshot.objects.get(pk=snapshot.pk)
        if snapshot.state == SnapshotState.FAILED:
            raise CommandError(f"Snapshot #{snapshot.pk} failed to build: {snapshot.error}")
        return snapshot

    def _wait(self, run, timeout):
        started, last = time.monotonic(), None
        while True:
            run = TrainingRun.objects.get(pk=run.pk)
            status = (run.state, run.step)
            if status != last:
                loss = f" loss {run.loss:.4f}" if run.loss is not None else ""
                self.stdout.write(f"  {run.state} step {run.step}/{run.max_steps}{loss}")
                last = status
            if run.state not in (RunState.QUEUED, RunState.RUNNING):
                break
            if timeout and time.monotonic() - started > timeout:
                raise CommandError(f"Run #{run.pk} still {run.state} after {timeout:g} s.")
            time.sleep(2)
        if run.state != RunState.COMPLETED:
            raise CommandError(f"Run #{run.pk} ended {run.state}: {run.error.strip()[-500:]}")
        self.stdout.write(self.style.SUCCESS(f"Run #{run.pk} completed."))
