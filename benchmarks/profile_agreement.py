"""Where the agreement recompute's time goes: cProfile plus per-statement timing of a full rebuild and
of an incremental recompute after `--new` resubmitted judgments (benchmarks/agreement_incremental.py's
resubmit), on a seeded project.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<copy of bench> .venv/bin/python \
        benchmarks/profile_agreement.py [--name "scale 1000000"] [--new 1000] [--skip-full] [--top 25]
"""

# ruff: noqa: E402 - sys.path is fixed before the other imports
import argparse
import cProfile
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_DEBUG"] = "0"

import django

django.setup()

from django.db import connection
from django.utils import timezone

from benchmarks import scale_seed
from benchmarks.agreement_incremental import resubmit


class Statements:
    """Per-statement wall time, grouped by the statement's first 90 characters."""

    def __init__(self):
        self.by = defaultdict(lambda: [0, 0.0])

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = self.by[" ".join(sql.split())[:90]]
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    def report(self, top):
        rows = sorted(self.by.items(), key=lambda kv: -kv[1][1])[:top]
        total = sum(v[1] for v in self.by.values())
        print(f"  statements: {sum(v[0] for v in self.by.values())}, {total:.2f} s in execute()")
        for sql, (n, s) in rows:
            print(f"  {s:8.2f} s {n:6d}x  {sql}")


def profiled(label, fn, top):
    stmts = Statements()
    prof = cProfile.Profile()
    with connection.execute_wrapper(stmts):
        started = time.perf_counter()
        prof.enable()
        fn()
        prof.disable()
        seconds = time.perf_counter() - started
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"\n== {label}: {seconds:.2f} s (load {load})", flush=True)
    stmts.report(top)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(top)
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", default="scale 1000000")
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    from annotation.quality import reports

    project = scale_seed.find(args.name).project
    if not args.skip_full:
        profiled("full rebuild", lambda: reports.recompute_agreement(project=project), args.top)
    since = timezone.now()
    resubmit(project, args.new)
    profiled(f"incremental after {args.new} (fit kept)",
             lambda: reports.recompute_agreement(project=project, since=since, refit=False),
             args.top)  # fmt: skip


if __name__ == "__main__":
    main()
