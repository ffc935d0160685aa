"""Benchmark: the assignment queue against a naive next-item query, measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python benchmarks/queue.py \
        [--items 100000] [--duration 30] [--level-seconds 5] [--client-processes 5] [--no-api | --api-only] \
        [--gunicorn-workers 2] [--gunicorn-threads 8]

Needs PostgreSQL (creates the database if missing). Builds a fresh project of --items items (overlap 2)
per strategy (ours, naive, api, api1: none works on items another strategy has leased or judged), and
runs two scenarios:

  realistic  50 annotators (threads spread over --client-processes processes), each "reading" ~1 s
             (0.5-1.5 s) between next and submit, for --duration seconds; p50 / p99 latency of
             next and of submit.
  capacity   closed loop without pauses at concurrency 1, 2, 4, 8, 16, 32 for --level-seconds each;
             items/s per level and the level where it saturates.

Strategies, all on the same database in the same run:
  ours      annotation.services.next_assignment + submit_judgment, called in-process;
  naive     the same bookkeeping and the same submit_judgment, but the next item is picked by
            ORDER BY random() over the open items the annotator has not had (a full scan per call)
            and locked with a plain FOR UPDATE (no SKIP LOCKED);
  api       ours again, through HTTP: gunicorn (gthread) serving GET /api/projects/{id}/next/ and
            POST /api/assignments/{id}/submit/ with token auth (additional figures: adds HTTP,
            DRF and the task payload): two requests per item;
  api1      the same server, one request per item: POST /api/assignments/{id}/submit-and-next/,
            whose answer carries the next task (an annotator's first item only comes from GET next).
            Its "submit" latency is the combined call's; its "next" latency is ~0 after the first
            item (the task is already in hand), so compare its submit column with api's next + submit.
Before each strategy's realistic and capacity runs (`queue_setup.settle`, outside the measurement) the
tables the queue writes are vacuumed and analyzed and the run waits until no other statement runs in
the database: a strategy measured right after another does not pay for the autovacuum of what the
other wrote. Everything it creates (projects, items, users, tokens) is deleted at the end; a database it created
is dropped. For the API it also prints the SQL statements of next and submit (transaction control not
counted) and the server's CPU time per next + submit cycle (gunicorn's processes, user + system),
figures that do not depend on what else the machine runs, beside the database's, the clients' and
the whole machine's (/proc/stat); under the capacity table, how many cores the machine kept busy at
each level (a closed loop at ~2.0 of 2 is bound by CPU, not by waiting).

    .venv/bin/python benchmarks/queue.py --embedded [--server gunicorn|runserver] --annotators 16 ...

measures the embedded default instead: a fresh SQLite file in a temporary TUNELOOP_DATA_DIR
(DATABASE_URL ignored), one project, the API only (realistic load and capacity), served by gunicorn
(as `make demo` does) or by Django's runserver (as it did before).
"""

# ruff: noqa: E402 - sys.path is fixed before the other imports
import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and "queue.py" would shadow the
# standard library's queue module (psycopg, requests and threading users import it). Drop it.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse
import os
import random
import threading
import time
import uuid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory; measure production settings

# The database, the seeded rows, the clients and the HTTP server (imported once sys.path is fixed).
from benchmarks.cpu_marks import CPU_HEADER, cpu_marks, cpu_per_cycle, machine_cpu_seconds
from benchmarks.queue_setup import (
    SCORES,
    Bench,
    InProcess,
    OverHttp,
    ensure_database,
    naive_next,
    pct,
    require_postgres,
    run_children,
    settle,
    start_server,
    tear_down,
)

LEVELS = (1, 2, 4, 8, 16, 32)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--duration", type=float, default=30.0, help="seconds of the realistic scenario")
    p.add_argument("--annotators", type=int, default=50)
    p.add_argument("--pause", type=float, default=1.0, help="mean seconds an annotator reads an item")
    p.add_argument("--level-seconds", type=float, default=5.0, help="seconds per capacity level")
    p.add_argument("--levels", default=",".join(map(str, LEVELS)))
    p.add_argument("--gunicorn-workers", type=int, default=2)
    p.add_argument("--gunicorn-threads", type=int, default=8)
    p.add_argument(
        "--client-processes",
        type=int,
        default=5,
        help="processes the realistic scenario's annotators are spread over (1 = all threads in this one)",
    )
    p.add_argument("--no-api", action="store_true", help="skip the HTTP figures")
    p.add_argument(
        "--api-only",
        action="store_true",
        help="the HTTP figures only (no in-process ours / naive scenarios): compare server settings",
    )
    p.add_argument(
        "--embedded",
        action="store_true",
        help="the embedded default instead: a fresh SQLite file (DATABASE_URL ignored), the API only",
    )
    p.add_argument("--server", choices=["gunicorn", "runserver"], default="gunicorn")
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args()


# --- scenarios ------------------------------------------------------------------------------


def run_threads(n, body):
    errors = []

    def wrap(i):
        try:
            body(i)
        except Exception as exc:  # noqa: BLE001 - reported below, the run goes on
            errors.append(repr(exc))

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print(f"    ! {len(errors)} thread error(s), first: {errors[0]}")


def realistic(driver, n_users, duration, pause, seed):
    """n_users annotators, each: next, read for ~pause s, submit, repeat; until `duration` is over."""
    next_ms, submit_ms, done = [], [], [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration

    def annotator(i):
        rng = random.Random(seed * 1000 + i)
        time.sleep(rng.uniform(0, pause))  # do not all start in the same millisecond
        next_, submit = driver.session(i)
        try:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                a = next_()
                t1 = time.perf_counter()
                if a is None:
                    break
                time.sleep(pause * rng.uniform(0.5, 1.5))
                t2 = time.perf_counter()
                submit(a)
                t3 = time.perf_counter()
                with lock:
                    next_ms.append((t1 - t0) * 1000)
                    submit_ms.append((t3 - t2) * 1000)
                    done[0] += 1
        finally:
            driver.close()

    run_threads(n_users, annotator)
    return {"next": next_ms, "submit": submit_ms, "items": done[0]}


def _realistic_child(driver, n_users, duration, pause, seed, out):
    out.put(realistic(driver, n_users, duration, pause, seed))


def realistic_processes(driver, n_users, duration, pause, seed, processes):
    """realistic(), with the annotators spread over `processes` forked processes.

    Fifty threads in one Python process queue for one GIL: a thread whose response has arrived
    waits for the interpreter, and that wait lands in the measured latency (the in-process p99s
    were 5x the p50s). Annotators are separate browsers; separate client processes model them
    better, and the server (or, in-process, the service code) is what gets measured.
    """
    import multiprocessing

    from django.db import connections

    if processes <= 1:
        return realistic(driver, n_users, duration, pause, seed)
    connections.close_all()  # children open their own; an inherited socket must not be shared
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    bounds = [round(k * n_users / processes) for k in range(processes + 1)]
    children = [
        ctx.Process(
            target=_realistic_child,
            args=(driver.part(a, b), b - a, duration, pause, seed * 100 + k, out),
        )
        for k, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))
        if b > a
    ]
    results = run_children(children, out)
    return {
        "next": [x for r in results for x in r["next"]],
        "submit": [x for r in results for x in r["submit"]],
        "items": sum(r["items"] for r in results),
    }


def closed_loop(driver, concurrency, seconds):
    """`concurrency` annotators with no pauses; items/s (next + submit cycles) over `seconds`."""
    done = [0]
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    window = {}

    def annotator(i):
        next_, submit = driver.session(i)
        try:
            start.wait()
            while time.perf_counter() < window["end"]:
                a = next_()
                if a is None:
                    break
                submit(a)
                with lock:
                    done[0] += 1
        finally:
            driver.close()

    threads = [threading.Thread(target=annotator, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    window["end"] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    return done[0] / (time.perf_counter() - began)


def single_call(drivers_projects, users, repeats=15):
    """Load-independent figures: database round trips per next + submit cycle, and the server-side
    execution time of each strategy's pick query (EXPLAIN ANALYZE, median of `repeats`)."""
    import re

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from annotation.queue import services as queue_services

    out = {}
    for name, (project, picker) in drivers_projects.items():
        user = get_user_model().objects.get(pk=users[-1].pk)
        with CaptureQueriesContext(connection) as nq:
            a = picker(project=project, user=user)
        with CaptureQueriesContext(connection) as sq:
            queue_services.submit_judgment(assignment=a, user=user, decision="accept", scores=SCORES)
        candidates = queue_services.queue_candidates(project=project, user=user)
        if name == "naive":
            candidates = candidates.order_by("?")
        times = []
        for _ in range(repeats):
            with transaction.atomic():
                qs = candidates.select_for_update(**({"skip_locked": True} if name == "ours" else {}))
                plan = qs.values_list("pk", flat=True)[:1].explain(analyze=True)
            times.append(float(re.search(r"Execution Time: ([0-9.]+) ms", plan).group(1)))
        out[name] = {
            "next_queries": len(nq.captured_queries),
            "submit_queries": len(sq.captured_queries),
            "pick_ms": sorted(times)[len(times) // 2],
            "index": "item_queue_idx" in plan,
        }
    return out


def api_statements(project, users, tokens):
    """SQL statements of next and submit through the API (in this process, Django's test client:
    the same request path as gunicorn's), transaction control (BEGIN, COMMIT) not counted: two
    annotators take the same item (overlap 2); the first submit leaves it open, the second
    completes it (and routing runs)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    def count(ctx):
        return sum(
            not q["sql"].lstrip().upper().startswith(("BEGIN", "COMMIT")) for q in ctx.captured_queries
        )

    out = []
    for user in users:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[user.pk]}")
        with CaptureQueriesContext(connection) as nq:
            task = client.get(f"/api/projects/{project.pk}/next/").json()
        with CaptureQueriesContext(connection) as sq:
            client.post(
                f"/api/assignments/{task['assignment']}/submit/",
                {"decision": "accept", "scores": SCORES},
                format="json",
            )
        out.append((count(nq), count(sq)))
    return out


def saturation(rates):
    """The smallest level that reaches 90% of the best throughput seen."""
    best = max(rates.values())
    return next(level for level, rate in rates.items() if rate >= 0.9 * best)


def summary(rates) -> str:
    """Where the levels saturate, and the peak (the best level: what a comparison of capacities takes;
    with 5 s levels one level may stand out by a fifth, benchmarks/README.md, session 10)."""
    sat = saturation(rates)
    peak = max(rates, key=rates.get)
    return f"c={sat} ({rates[sat]:.0f}/s), peak {rates[peak]:.0f}/s at c={peak}"


# --- main -----------------------------------------------------------------------------------


def embedded(args):
    """The embedded default (SQLite) through the API: one project, `--annotators` annotators."""
    import tempfile

    data_dir = tempfile.mkdtemp(prefix="tuneloop-bench-")
    os.environ.pop("DATABASE_URL", None)
    os.environ["TUNELOOP_DATA_DIR"] = data_dir
    import shutil

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    levels = [int(x) for x in args.levels.split(",") if x]
    server = None
    print(f"Queue benchmark, embedded default: SQLite {connection.Database.sqlite_version} in {data_dir}")
    print(f"  machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    try:
        bench = Bench(f"bench-{uuid.uuid4().hex[:6]}")
        users, tokens = bench.build(args.items, max(args.annotators, max(levels)), names=("ours",))
        (project,) = bench.projects
        connection.close()
        server, base, label = start_server(args.gunicorn_workers, args.gunicorn_threads, args.server)
        print(f"  api: {label}")
        driver = OverHttp(base, project, users, tokens)
        print(
            f"\nRealistic load: {args.annotators} annotators, ~{args.pause:g} s per item, "
            f"{args.duration:g} s, overlap 2, {args.items:,} items, annotators in {args.client_processes} "
            "client process(es)"
        )
        print(
            f"  {'items':>6} {'next p50':>9} {'next p99':>9} {'submit p50':>11} {'submit p99':>11}"
            f"{CPU_HEADER}"
        )
        marks = cpu_marks(server)
        r = realistic_processes(
            driver, args.annotators, args.duration, args.pause, args.seed, args.client_processes
        )
        print(
            f"  {r['items']:>6} {pct(r['next'], 50):>7.1f}ms {pct(r['next'], 99):>7.1f}ms"
            f" {pct(r['submit'], 50):>9.1f}ms {pct(r['submit'], 99):>9.1f}ms {cpu_per_cycle(marks, server, r['items'])}"
        )
        print(f"\nCapacity: closed loop, no pauses, {args.level_seconds:g} s per level (items/s)")
        print("  " + "".join(f"{'c=' + str(c):>9}" for c in levels) + "  saturates at")
        rates = {c: closed_loop(driver, c, args.level_seconds) for c in levels}
        print("  " + "".join(f"{rates[c]:>9.1f}" for c in levels) + f"  {summary(rates)}")
        print(f"  load average at end: {os.getloadavg()[0]:.1f}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
        print("  cleaned up")


def main():
    args = parse_args()
    if args.embedded:
        return embedded(args)
    url = require_postgres()
    created_db = ensure_database(url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from annotation.queue import services as queue_services

    call_command("migrate", verbosity=0)
    levels = [int(x) for x in args.levels.split(",") if x]
    n_users = max(args.annotators, max(levels))
    bench = Bench(f"bench-{uuid.uuid4().hex[:6]}")
    server = None
    print(
        f"Queue benchmark on {connection.settings_dict['NAME']} (PostgreSQL {connection.pg_version // 10000})"
    )
    print(f"  machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    try:
        # a project per strategy: none works on items another has leased and judged (like with like)
        names = ("ours", "naive") + (() if args.no_api else ("api", "api1"))
        users, tokens = bench.build(args.items, n_users, names=names)
        ours_project, naive_project = bench.projects[:2]
        drivers = {
            "ours": InProcess(ours_project, users, queue_services.next_assignment),
            "naive": InProcess(naive_project, users, naive_next),
        }
        if not args.no_api:
            server, base, label = start_server(args.gunicorn_workers, args.gunicorn_threads, args.server)
            print(f"  api: {label}")
            api_project, api1_project = bench.projects[2:]
            drivers["api"] = OverHttp(base, api_project, users, tokens)
            drivers["api1"] = OverHttp(base, api1_project, users, tokens, combined=True)
            if args.api_only:
                drivers = {"api": drivers["api"], "api1": drivers["api1"]}

        print("\nSingle calls (load-independent): round trips and the pick query's server-side time")
        # first: two annotators on the queue's first item (the calls below take the next one)
        api_counts = api_statements(bench.projects[2], users[-3:-1], tokens) if not args.no_api else None
        figures = single_call(
            {"ours": (ours_project, queue_services.next_assignment), "naive": (naive_project, naive_next)},
            users,
        )
        for name, f in figures.items():
            print(
                f"  {name:<8} next {f['next_queries']:>2} queries, submit {f['submit_queries']:>2} queries,"
                f" pick query {f['pick_ms']:.3f} ms (median), uses item_queue_idx: {f['index']}"
            )
        if api_counts:
            (n1, s1), (n2, s2) = api_counts
            print(
                f"  api      next {n1:>2} / {n2:>2} statements, submit {s1:>2} (item stays open) / {s2:>2}"
                " (completes it: routing) statements, BEGIN/COMMIT not counted"
            )

        print(
            f"\nRealistic load: {args.annotators} annotators, ~{args.pause:g} s per item, "
            f"{args.duration:g} s each, overlap 2, {args.items:,} items, "
            f"annotators in {args.client_processes} client process(es)"
        )
        print(
            f"  {'strategy':<8} {'items':>6} {'next p50':>9} {'next p99':>9} {'submit p50':>11} {'submit p99':>11}"
            f"{CPU_HEADER}"
        )
        for name, driver in drivers.items():
            settle()  # the same start for each: vacuumed, analyzed, no other statement running
            marks = cpu_marks(server) if name.startswith("api") else None
            r = realistic_processes(
                driver, args.annotators, args.duration, args.pause, args.seed, args.client_processes
            )
            cpu = cpu_per_cycle(marks, server, r["items"]) if marks else ""
            print(
                f"  {name:<8} {r['items']:>6} {pct(r['next'], 50):>7.1f}ms {pct(r['next'], 99):>7.1f}ms"
                f" {pct(r['submit'], 50):>9.1f}ms {pct(r['submit'], 99):>9.1f}ms {cpu}"
            )

        print(f"\nCapacity: closed loop, no pauses, {args.level_seconds:g} s per level (items/s)")
        rates = {name: {} for name in drivers}
        print("  " + f"{'strategy':<8}" + "".join(f"{'c=' + str(c):>9}" for c in levels) + "  saturates at")
        for name, driver in drivers.items():
            settle()
            busy = {}
            for c in levels:
                machine, wall = machine_cpu_seconds(), time.perf_counter()
                rates[name][c] = closed_loop(driver, c, args.level_seconds)
                busy[c] = (machine_cpu_seconds() - machine) / (time.perf_counter() - wall)
            print(
                f"  {name:<8}"
                + "".join(f"{rates[name][c]:>9.1f}" for c in levels)
                + f"  {summary(rates[name])}"
            )
            # how many of the machine's cores were busy (everything: server, database, clients, kernel)
            print(
                f"  {'  cores':<8}" + "".join(f"{busy[c]:>9.2f}" for c in levels) + f"  of {os.cpu_count()}"
            )
        best = {name: max(r.values()) for name, r in rates.items()}
        if "naive" in best:
            print(f"\n  peak throughput, ours / naive: {best['ours'] / best['naive']:.1f}x")
        print(f"  load average at end: {os.getloadavg()[0]:.1f}")
    finally:
        tear_down(bench, server, url, created_db)


if __name__ == "__main__":
    main()
