"""The agreement recompute at scale: full rebuild, nothing changed, and incremental after `--new`
judgments, on a project seeded by benchmarks/scale_seed.py (`--name`, default "scale 1000000";
seeded first when missing). The new judgments are resubmits: `--new` current judgments on non-gold
items superseded by a copy with another answer (raw SQL, items stamped as the lifecycle does), and
kept (the project is the benchmark's). Incremental runs keep the latest Dawid-Skene fit, as the
worker does (annotation.quality.refit); the refit is timed on its own, and once more in place.
Prints seconds, statements and the process's peak RSS.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python benchmarks/agreement_incremental.py \
        [--name "scale 1000000"] [--judgments 1000000] [--new 1000] [--skip-full] [--reference]
"""

# ruff: noqa: E402 - sys.path is fixed before the other imports
import argparse
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_DEBUG"] = "0"

import django

django.setup()

from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from benchmarks import scale_seed
from benchmarks.queue_setup import ensure_database, require_postgres


def resubmit(project, n):
    """Supersede `n` current judgments (non-gold items) by copies with another decision / winner."""
    from annotation.models import Judgment

    cols = [f.column for f in Judgment._meta.concrete_fields if f.column not in ("id",)]
    copy = {c: c for c in cols}
    copy.update(supersedes_id="o.id", is_current="true", created_at="now()",
                decision="CASE o.decision WHEN 'accept' THEN 'reject' WHEN 'reject' THEN 'accept' ELSE o.decision END",
                payload="""CASE WHEN o.payload ? 'choice' THEN jsonb_set(o.payload, '{choice}',
                    to_jsonb(CASE o.payload->>'choice' WHEN 'A' THEN 'B' ELSE 'A' END)) ELSE o.payload END""")  # fmt: skip
    select = ", ".join(copy[c] if copy[c] != c else f"o.{c}" for c in cols)
    with connection.cursor() as cur:
        cur.execute(
            f"""WITH picked AS (SELECT j.id FROM annotation_judgment j JOIN annotation_item i ON i.id = j.item_id
                WHERE i.project_id = %s AND NOT i.is_gold AND j.is_current ORDER BY j.id DESC LIMIT %s),
            o AS (UPDATE annotation_judgment SET is_current = false WHERE id IN (SELECT id FROM picked) RETURNING *),
            ins AS (INSERT INTO annotation_judgment ({", ".join(cols)}) SELECT {select} FROM o RETURNING item_id)
            UPDATE annotation_item SET updated_at = now() WHERE id IN (SELECT item_id FROM ins)""",
            [project.pk, n],
        )


def timed(label, fn):
    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  {label:<52} {seconds:8.2f} s  {len(ctx.captured_queries):5d} statements  peak RSS {rss:,.0f} MB",
          flush=True)  # fmt: skip
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", default="scale 1000000")
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument(
        "--skip-full", action="store_true", help="keep the stored sums (a full run made them)"
    )
    parser.add_argument("--reference", action="store_true", help="also time the direct computation")
    args = parser.parse_args()
    ensure_database(require_postgres())
    call_command("migrate", verbosity=0)
    from annotation.quality import reports

    seeded = scale_seed.find(args.name) or scale_seed.seed(args.name, judgments=args.judgments)
    print(seeded, flush=True)
    project = seeded.project
    with open("/proc/loadavg") as f:
        print(f"load average at the start: {f.read().split()[:3]}")
    if not args.skip_full:
        timed("full rebuild (states + sums + report)", lambda: reports.recompute_agreement(project=project))
    since = timezone.now()
    timed("incremental, nothing changed (fit kept)",
          lambda: reports.recompute_agreement(project=project, since=since, refit=False))  # fmt: skip
    since = timezone.now()
    resubmit(project, args.new)
    timed(f"incremental after {args.new:,} resubmitted judgments (fit kept)",
          lambda: reports.recompute_agreement(project=project, since=since, refit=False))  # fmt: skip
    timed("the debounced Dawid-Skene refit (reports.refit)", lambda: reports.refit(project))
    since = timezone.now()
    resubmit(project, args.new)
    timed(f"incremental after {args.new:,} more, refitted in place",
          lambda: reports.recompute_agreement(project=project, since=since, refit=True))  # fmt: skip
    if args.reference:
        timed("reference: every judgment into Python (before)", lambda: reports.reference_report(project))
    with open("/proc/loadavg") as f:
        print(f"load average at the end: {f.read().split()[:3]}")


if __name__ == "__main__":
    main()
