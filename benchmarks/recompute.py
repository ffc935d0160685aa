"""Recomputes at scale: consensus (full, unchanged, incremental), the leaderboard (cold, warm, and the
old parse-every-payload path) and the agreement report, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python benchmarks/recompute.py \\
        [--judgments 100000] [--new 1000] [--models 8] [--annotators 20] [--per-item 3] [--no-agreement]

Seeds a fresh comparison project with `benchmarks.seed.seed_comparisons` (INSERT ... SELECT, seconds),
times each step once and deletes everything it created. "incremental" is the recompute of the items
changed since the previous run after `--new` more judgments (half on new items, half a further
annotator on existing ones), without the lag window (TUNELOOP_RECOMPUTE_LAG_SECONDS re-does the
changes of the last minutes too). The database must be migrated (`manage.py migrate`).
"""

# ruff: noqa: E402 - sys.path is fixed before the other imports
import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, this folder comes first on sys.path and benchmarks/queue.py would shadow the
# standard library's queue module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory; measure production settings

import django

django.setup()

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from annotation.core import versions
from annotation.quality import reports
from benchmarks.seed import add_judgments, remove_project, seed_comparisons
from preferences import selectors, services


def timed(label, fn):
    start = time.perf_counter()
    out = fn()
    took = time.perf_counter() - start
    print(f"  {label:<58} {took:8.2f} s", flush=True)
    return out, took


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--judgments", type=int, default=100_000)
    ap.add_argument("--new", type=int, default=1000)
    ap.add_argument("--models", type=int, default=8)
    ap.add_argument("--annotators", type=int, default=20)
    ap.add_argument("--per-item", type=int, default=3)
    ap.add_argument("--no-agreement", action="store_true", help="skip the agreement report (the slowest)")
    args = ap.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("benchmarks/recompute.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    tag = f"rc{os.getpid()}"
    print(
        f"{args.judgments:,} judgments, {args.models} models, {args.annotators} annotators, {args.per_item} per item"
    )
    seeded, _ = timed("seed (INSERT ... SELECT)", lambda: seed_comparisons(
        n_judgments=args.judgments, models=args.models, annotators=args.annotators, per_item=args.per_item, tag=tag,
    ))  # fmt: skip
    project = seeded.project
    try:
        print("Consensus (majority)")
        started = timezone.now()
        stats, _ = timed("full recompute", lambda: services.recompute_consensus(project=project))
        print(f"    {stats['comparisons']:,} comparisons, {stats['pairs']:,} pairs")
        again = timezone.now()
        timed("full recompute again (nothing changed: no row rewritten)",
              lambda: services.recompute_consensus(project=project))  # fmt: skip
        half = args.new // 2
        add_judgments(seeded, n=args.new - half)
        add_judgments(seeded, n=half, on_existing=half)
        versions.bump(project.pk)  # the seeder writes SQL: move the version as a judgment would
        stats, _ = timed(f"incremental after {args.new:,} new judgments",
                         lambda: services.recompute_consensus(project=project, since=again))  # fmt: skip
        print(
            f"    {stats['comparisons']:,} comparisons redone (changed since {again - started} after the first run)"
        )

        print("Leaderboard (Bradley-Terry, 500 bootstrap resamples)")
        old, _ = timed("old: parse every payload in Python, fit", lambda: selectors.board_from_outcomes(
            *selectors.comparison_outcomes(project)))  # fmt: skip
        cache.clear()
        board, _ = timed(
            "cold: SQL win counts, fit, store in the cache", lambda: selectors.leaderboard(project)
        )
        timed("warm: from the cache", lambda: selectors.leaderboard(project))
        assert board == old, "the SQL aggregates must give the raw-judgment fit"
        print(f"    same board both ways: {board['n_outcomes']:,} outcomes, {len(board['models'])} models")

        if not args.no_agreement:
            print("Agreement report")
            timed(
                "full recompute (gather + compute + store)",
                lambda: reports.recompute_agreement(project=project),
            )
    finally:
        timed("clean up", lambda: remove_project(seeded))


if __name__ == "__main__":
    main()
