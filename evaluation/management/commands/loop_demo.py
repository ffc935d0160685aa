"""manage.py loop_demo [--quick] [--model ID|PATH] [--samples N] [--pairs N] [--steps N] [--seed N]
[--project NAME] [--out DIR] [--threads N]

The whole loop in one command, in this process (no worker needed): production samples -> active
learning -> simulated reviewers -> consensus -> curated pairs -> DPO -> evaluation -> promotion when
the gates pass (evaluation.loop). Prints a line per stage with its time, then the report against the
issue's targets; writes loop-report.json, eval-report.json and loop.png to --out. `--quick` shrinks
every size for a tiny model (give it with --model; the suite's test does)."""

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.core.errors import ServiceError
from evaluation.loop import report, stages

QUICK = dict(samples=16, pairs=10, steps=2, max_new_tokens=16, eval_max_new_tokens=16, forgetting_limit=4,
             safety_limit=2, batch_size=2)  # fmt: skip


class Command(BaseCommand):
    help = "Run the whole loop (samples -> reviewers -> DPO -> evaluation -> promotion) and report it."

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="Tiny sizes (seconds on a tiny model).")
        parser.add_argument(
            "--model", default=None, help="Base model: HF id or local path (default: bundled)."
        )
        parser.add_argument("--samples", type=int, default=None, help="Production samples in the pool.")
        parser.add_argument("--pairs", type=int, default=None, help="Comparisons selected for review.")
        parser.add_argument("--steps", type=int, default=None, help="DPO steps.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--project", default="", help="Project name (default: a fresh one per run).")
        parser.add_argument(
            "--out", default=None, help="Output folder (default: DATA_DIR/loop/<project id>)."
        )
        parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's).")

    def handle(self, *args, **o):
        options = stages.Options(model=o["model"] or settings.TUNELOOP_DEFAULT_BASE_MODEL, quick=o["quick"],
                                 seed=o["seed"], project=o["project"])  # fmt: skip
        if o["quick"]:
            for key, value in QUICK.items():
                setattr(options, key, value)
        for key in ("samples", "pairs", "steps"):
            if o[key] is not None:
                if o[key] < 1:
                    raise CommandError(f"--{key} must be at least 1.")
                setattr(options, key, o[key])
        if o["threads"]:
            import torch  # deferred: heavy optional dependency (torch)

            torch.set_num_threads(o["threads"])
        started = time.monotonic()
        loop = stages.Loop(options, say=self.stdout.write)
        try:
            state = loop.run()
        except (ServiceError, ValueError, RuntimeError) as exc:
            message = getattr(exc, "message", str(exc))
            errors = getattr(exc, "errors", None) or {}
            detail = "".join(f"\n  {k}: {' '.join(map(str, v))}" for k, v in errors.items())
            raise CommandError(f"The loop stopped at stage {len(loop.s.timings) + 1}: {message}{detail}")
        full = report.build(state, options, wall_seconds=time.monotonic() - started)
        summary = state.eval_run.report["summary"]
        out = Path(o["out"] or Path(settings.DATA_DIR) / "loop" / str(state.project.pk))
        paths = report.write(full, summary, out)
        self.stdout.write(report.text(full, summary))
        self.stdout.write(f"\nWall time {full['figures']['wall_minutes']:.1f} min. Wrote: "
                          + ", ".join(str(p) for p in paths))  # fmt: skip
        if not any(p.suffix == ".png" for p in paths):
            self.stdout.write("No plot: matplotlib is not installed.")
