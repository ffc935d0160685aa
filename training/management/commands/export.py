"""manage.py export (--snapshot N | --project P --from pairs|sft|judgments [--status approved]
[--filters JSON]) --layout trl-preference --format parquet [--provenance] --out DIR [--push OWNER/NAME]

Writes the export folder (files per split plus README.md, the dataset card) into DIR here and now,
through the same code as the pages' export jobs. With --project, snapshots the live view first (an
identical existing snapshot is reused; otherwise it is built in this process). --push sends an `hf`
export to the Hub with TUNELOOP_HF_TOKEN. Acts as the project's first admin unless --user.
"""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.core.errors import ServiceError
from annotation.models import Project
from training import export, exports, runs, snapshots
from training.access import require_train
from training.models import DatasetSnapshot, SnapshotState

from .train import Command as TrainCommand


class Command(BaseCommand):
    help = "Export a snapshot (or a live view, snapshotted first) in a TRL / OpenAI layout."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--snapshot", type=int, help="An existing snapshot id.")
        source.add_argument("--project", type=int, help="Snapshot this project's --from view, then export.")
        parser.add_argument("--from", dest="source", choices=sorted(runs.EXPORT_SOURCES), default="pairs")
        parser.add_argument("--status", choices=["approved", "candidates"], default="approved")
        parser.add_argument("--filters", default="{}", help="JSON snapshot filters (with --project).")
        parser.add_argument("--layout", required=True, choices=sorted(export.LAYOUTS))
        parser.add_argument("--format", dest="fmt", required=True, choices=export.FORMATS)
        parser.add_argument("--provenance", action="store_true", help="Add provenance columns (pseudonyms).")
        parser.add_argument("--out", required=True, help="Output folder (created; must be empty).")
        parser.add_argument("--push", metavar="OWNER/NAME", help="Push an hf export to the Hub.")
        parser.add_argument("--user", help="Act as this username (default: the project's first admin).")

    def handle(self, *args, **opts):
        try:
            snapshot = self._snapshot(opts)
            exports.check_export(snapshot, opts["layout"], opts["fmt"])
            result = exports.write(
                snapshot, opts["out"], layout=opts["layout"], fmt=opts["fmt"], provenance=opts["provenance"]
            )
        except ServiceError as exc:
            lines = [f"  {field}: {' '.join(map(str, msgs))}" for field, msgs in exc.errors.items()]
            raise CommandError("\n".join([exc.message, *lines]))
        except (FileExistsError, ValueError) as exc:
            raise CommandError(str(exc))
        for split, info in result["files"].items():
            self.stdout.write(f"{split}: {info['rows']} rows -> {info['path']}")
        self.stdout.write(f"card: {result['card']}")
        if opts["push"]:
            if opts["fmt"] != "hf":
                raise CommandError("--push needs --format hf.")
            if not settings.TUNELOOP_HF_TOKEN:
                raise CommandError("Set TUNELOOP_HF_TOKEN to push to the Hub.")
            card = open(result["card"], encoding="utf-8").read()
            export.push_to_hub(opts["out"], opts["push"], settings.TUNELOOP_HF_TOKEN, card=card)
            self.stdout.write(f"pushed to {opts['push']}")

    def _snapshot(self, opts):
        if opts["snapshot"]:
            snapshot = DatasetSnapshot.objects.select_related("project").filter(pk=opts["snapshot"]).first()
            if snapshot is None:
                raise CommandError(f"No snapshot {opts['snapshot']}.")
            require_train(TrainCommand()._actor(snapshot.project, opts["user"]), snapshot.project)
            return snapshot
        project = Project.objects.filter(pk=opts["project"]).first()
        if project is None:
            raise CommandError(f"No project {opts['project']}.")
        actor = TrainCommand()._actor(project, opts["user"])
        try:
            filters = {**json.loads(opts["filters"]), "status": opts["status"]}
        except json.JSONDecodeError as exc:
            raise CommandError(f"--filters is not JSON: {exc}")
        snapshot = runs.snapshot_for_export(
            project=project, actor=actor, source=opts["source"], filters=filters
        )
        if snapshot.state == SnapshotState.BUILDING:  # a worker would build it: build it here instead
            snapshots.build(snapshot)
            snapshot.refresh_from_db()
        self.stdout.write(
            f"Snapshot #{snapshot.pk}: {snapshot.total_count} rows ({snapshot.content_hash[:12]})."
        )
        return snapshot
