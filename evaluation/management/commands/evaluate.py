"""manage.py evaluate PROJECT --model-version N --eval-set N [--against N] [--on-leak refuse|flag]
[--set KEY=VALUE ...] [--user NAME] [--wait [--timeout S]]

Queues an eval run through the same code as the pages (leakage check first), and with --wait
follows its progress until it ends; exits non-zero unless it completed. Acts as the project's
first admin unless --user."""

import time

from django.core.management.base import BaseCommand, CommandError

from annotation.core.errors import ServiceError
from annotation.models import Project
from evaluation import runs
from evaluation.models import EvalRun, EvalSet
from training.management.commands.train import Command as TrainCommand
from training.models import ACTIVE_STATES, ModelVersion, RunState


class Command(BaseCommand):
    help = "Evaluate a model version on an eval set (and optionally wait for the report)."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument(
            "--model-version", dest="model_version", type=int, required=True, help="The version to evaluate."
        )
        parser.add_argument("--eval-set", type=int, required=True)
        parser.add_argument("--against", type=int, default=None, help="Another version (default: its base).")
        parser.add_argument("--on-leak", choices=runs.LEAK_POLICIES, default="refuse")
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help=f"Eval setting ({', '.join(sorted(runs.CONFIG_KEYS))}); repeatable.")  # fmt: skip
        parser.add_argument("--user", help="Act as this username (default: the project's first admin).")
        parser.add_argument("--wait", action="store_true", help="Follow the run until it ends.")
        parser.add_argument("--timeout", type=float, default=0, help="With --wait: give up after N seconds.")
        parser.add_argument("--poll", type=float, default=2.0, help="Seconds between progress checks.")

    def handle(self, *args, **opts):
        project = Project.objects.filter(pk=opts["project_id"]).first()
        if project is None:
            raise CommandError(f"No project {opts['project_id']}.")
        actor = TrainCommand._actor(self, project, opts["user"])
        versions = ModelVersion.objects.filter(project=project)
        version = versions.filter(pk=opts["model_version"]).first()
        eval_set = EvalSet.objects.filter(project=project, pk=opts["eval_set"]).first()
        against = versions.filter(pk=opts["against"]).first() if opts["against"] else None
        if version is None or eval_set is None or (opts["against"] and against is None):
            raise CommandError("No such version, eval set or --against version in this project.")
        config = {}
        for item in opts["set"]:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--set {item!r}: expected KEY=VALUE.")
            config[key] = value
        try:
            run = runs.start_eval_run(project=project, actor=actor, version=version, eval_set=eval_set,
                                      against=against, on_leak=opts["on_leak"], config=config)  # fmt: skip
        except ServiceError as exc:
            lines = [f"  {field}: {' '.join(map(str, msgs))}" for field, msgs in exc.errors.items()]
            raise CommandError("\n".join([exc.message, *lines]))
        flagged = " (leak flagged)" if run.leakage.get("flagged") else ""
        self.stdout.write(f"Eval run #{run.pk} queued for {version.name}{flagged}.")
        if opts["wait"]:
            self._wait(run, opts["timeout"], opts["poll"])

    def _wait(self, run, timeout, poll):
        started, last = time.monotonic(), None
        while True:
            run = EvalRun.objects.get(pk=run.pk)
            if (run.state, run.stage, run.percent) != last:
                last = (run.state, run.stage, run.percent)
                self.stdout.write(f"  {run.state} {run.percent}% {run.stage}".rstrip())
            if run.state not in ACTIVE_STATES:
                break
            if timeout and time.monotonic() - started > timeout:
                raise CommandError(f"Eval run #{run.pk} still {run.state} after {timeout:g} s.")
            time.sleep(poll)
        if run.state != RunState.COMPLETED:
            raise CommandError(f"Eval run #{run.pk} ended {run.state}: {run.error[:500]}")
        model = (run.report.get("summary") or {}).get("model") or {}
        accuracy = (model.get("preference") or {}).get("rate")
        self.stdout.write(
            f"Completed. Held-out preference accuracy: {'–' if accuracy is None else f'{accuracy:.3f}'}; "
            f"report at /models/{run.model_version_id}/report/"
        )
