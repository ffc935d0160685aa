"""The agreement report's full rebuild alone (`tally_store.full`) on a seeded project, with the CPU
seconds of this process and of its PostgreSQL backends (read from /proc: run it on the database's
machine) beside the wall time: under a shared machine's load the wall time follows the share of a
core each process gets, the CPU seconds much less. The backend CPU counts this connection's and
that of each connection a share of the SQL rebuild ran on (annotation.quality.tally_sql._part,
wrapped here); PostgreSQL's own parallel workers' CPU is not counted.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<copy of bench> .venv/bin/python \\
        benchmarks/agreement_full_cpu.py [--name "scale 1000000"] [--label new] [--report]

`--report`: the whole full recompute as the lead's "Recompute" runs it (`reports.recompute_agreement`:
the rebuild, the report from the sums, the Dawid-Skene fit, the stored report) instead of the rebuild.
`--statements N`: also the N statements that cost the backends most CPU (summed over the shares:
count, wall seconds, backend CPU seconds; the CPU read before and after each statement).
"""

# ruff: noqa: E402 - sys.path is fixed before the other imports
import argparse
import contextlib
import os
import resource
import sys
import threading
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

from annotation.models import Project
from annotation.quality import reports, tally_sql, tally_store


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Statements:
    """Per statement (its first 80 characters): count, wall seconds, backend CPU seconds."""

    def __init__(self):
        self.by, self.lock = defaultdict(lambda: [0, 0.0, 0.0]), threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        pid = getattr(connection, "_statements_pid", None)
        if pid is None:
            with connection.connection.cursor() as cur:  # the driver's cursor: not through this wrapper
                cur.execute("SELECT pg_backend_pid()")
                pid = connection._statements_pid = cur.fetchone()[0]
        cpu, started = backend_cpu(pid), time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            wall, used = time.perf_counter() - started, backend_cpu(pid) - cpu
            with self.lock:
                entry = self.by[" ".join(sql.split())[:80]]
                entry[0] += 1
                entry[1] += wall
                entry[2] += used

    def print(self, top):
        print(f"  {'wall s':>8} {'cpu s':>7} {'n':>5}  statement")
        for sql, (n, wall, cpu) in sorted(self.by.items(), key=lambda kv: -kv[1][2])[:top]:
            print(f"  {wall:8.2f} {cpu:7.2f} {n:5d}  {sql}")


def count_shares(spent: list, statements=None):
    """Wrap tally_sql._part so that each share adds its connection's CPU seconds to `spent`."""
    original = getattr(tally_sql, "_part", None)
    if original is None:  # code before the shares: one connection
        return

    def part(*args, **kwargs):
        if not args[2].get("part"):  # share 0 runs on this thread's connection, counted already
            return original(*args, **kwargs)
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        before = backend_cpu(pid)
        try:
            if statements is None:
                return original(*args, **kwargs)
            with connection.execute_wrapper(statements):  # this thread's connection
                return original(*args, **kwargs)
        finally:
            spent.append(backend_cpu(pid) - before)

    tally_sql._part = part


def load() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="scale 1000000")
    parser.add_argument("--label", default="")
    parser.add_argument("--report", action="store_true", help="time reports.recompute_agreement")
    parser.add_argument("--statements", type=int, default=0, help="show the N costliest statements")
    args = parser.parse_args()
    project = Project.objects.get(name=args.name)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    before, shares = load(), []
    statements = Statements() if args.statements else None
    count_shares(shares, statements)
    b0, r0, t0 = backend_cpu(pid), resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    with connection.execute_wrapper(statements) if statements else contextlib.nullcontext():
        if args.report:
            reports.recompute_agreement(project=project)
        else:
            tally_store.full(project)
    wall = time.perf_counter() - t0
    r1, b1 = resource.getrusage(resource.RUSAGE_SELF), backend_cpu(pid) + sum(shares)
    py = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(
        f"{args.label:4} {'recompute' if args.report else 'full rebuild'}: wall {wall:6.1f} s  python cpu {py:6.1f} s  backend cpu {b1 - b0:6.1f} s"
        f"  total cpu {py + b1 - b0:6.1f} s  connections {1 + len(shares)}  load {before} -> {load()}"
    )
    if statements:
        statements.print(args.statements)


if __name__ == "__main__":
    main()
