"""CPU time of a full agreement rebuild, for a machine shared with other work: the wall time, this
process's CPU time (every thread) and each PostgreSQL backend's CPU time (read from /proc: the
database on this machine), per phase and per statement of the SQL shares (annotation.quality.tally_sql).
Wall times move with the load of the machine; CPU times much less, so two versions of the code can be
compared in a busy window.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<bench> .venv/bin/python \
        benchmarks/agreement_cpu.py [--name "scale 1000000"] [--repeat 1] [--statements 12]
"""

# ruff: noqa: E402 - sys.path is fixed before the other imports
import argparse
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

from benchmarks import scale_seed

TICK = os.sysconf("SC_CLK_TCK")
_lock = threading.Lock()


def backend_cpu(pid: int) -> float:
    """utime + stime of a process, seconds (a PostgreSQL backend on this machine)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """Per statement (first 80 characters): count, wall, backend CPU; per connection: backend CPU."""

    def __init__(self):
        self.by = defaultdict(lambda: [0, 0.0, 0.0])
        self.backends = defaultdict(float)

    def __call__(self, execute, sql, params, many, context):
        pid = getattr(connection, "_meter_pid", None)
        if pid is None:
            with connection.connection.cursor() as cur:  # the raw connection: not through this wrapper
                cur.execute("SELECT pg_backend_pid()")
                pid = connection._meter_pid = cur.fetchone()[0]
        cpu, started = backend_cpu(pid), time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            wall, used = time.perf_counter() - started, backend_cpu(pid) - cpu
            with _lock:
                entry = self.by[" ".join(sql.split())[:80]]
                entry[0] += 1
                entry[1] += wall
                entry[2] += used
                self.backends[(threading.current_thread().name, pid)] += used

    def report(self, top):
        rows = sorted(self.by.items(), key=lambda kv: -kv[1][2])[:top]
        for name, cpu in sorted(self.backends.items()):
            print(f"  backend {name}: {cpu:6.2f} s CPU")
        print(f"  {'wall s':>8} {'cpu s':>7} {'n':>5}  statement")
        for sql, (n, wall, cpu) in rows:
            print(f"  {wall:8.2f} {cpu:7.2f} {n:5d}  {sql}")


def run(project, top):
    from annotation.quality import reports, tally_sql, tally_store

    meter = Meter()
    original_part, original_full = tally_sql._part, tally_store.full
    phases = {}

    def part(*args, **kwargs):
        if threading.current_thread() is threading.main_thread():  # the caller's wrapper is on
            return original_part(*args, **kwargs)
        with connection.execute_wrapper(meter):
            return original_part(*args, **kwargs)

    def full(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original_full(*args, **kwargs)
        finally:
            phases["sums (tally_store.full)"] = time.perf_counter() - started

    tally_sql._part, tally_store.full = part, full
    try:
        with connection.execute_wrapper(meter):
            cpu, started = own_cpu(), time.perf_counter()
            reports.recompute_agreement(project=project)
            wall, cpu = time.perf_counter() - started, own_cpu() - cpu
    finally:
        tally_sql._part, tally_store.full = original_part, original_full
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    total_backend = sum(meter.backends.values())
    print(f"\n== full recompute: {wall:.2f} s wall; CPU: python {cpu:.2f} s, PostgreSQL {total_backend:.2f} s "
          f"(load {load})")  # fmt: skip
    for name, seconds in phases.items():
        print(f"  {name}: {seconds:.2f} s wall; report (+ fit, store): {wall - seconds:.2f} s wall")
    meter.report(top)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", default="scale 1000000")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--statements", type=int, default=12)
    args = parser.parse_args()
    project = scale_seed.find(args.name).project
    for _ in range(args.repeat):
        run(project, args.statements)


if __name__ == "__main__":
    main()
