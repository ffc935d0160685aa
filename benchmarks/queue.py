"""Benchmark: the assignment queue against a naive next-item query, measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python benchmarks/queue.py \
        [--items 100000] [--duration 30] [--level-seconds 5] [--client-processes 5] [--no-api]

Needs PostgreSQL (creates the database if missing). Builds two fresh projects of --items items
(overlap 2), one per strategy, and runs two scenarios:

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
            DRF and the task payload).
Everything it creates (projects, items, users, tokens) is deleted at the end; a database it created
is dropped.
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
import socket
import subprocess
import threading
import time
import uuid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory; measure production settings

CRITERIA = [{"key": "helpfulness", "type": "likert"}, {"key": "safe", "type": "binary"}]
SCORES = {"helpfulness": 4, "safe": True}
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
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args()


def require_postgres() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "benchmarks/queue.py needs PostgreSQL: set DATABASE_URL=postgres://USER@HOST:PORT/DBNAME "
            "(SKIP LOCKED and the partial index are what it measures)."
        )
    return url


def ensure_database(url: str) -> bool:
    """Create the database named in `url` if it does not exist; True when we created it."""
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    admin = dict(
        host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432, user=cfg["USER"], password=cfg["PASSWORD"]
    )
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
        return True


def drop_database(url: str):
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    admin = dict(
        host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432, user=cfg["USER"], password=cfg["PASSWORD"]
    )
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        try:  # never WITH (FORCE): someone else may have started using it meanwhile
            conn.execute(f'DROP DATABASE IF EXISTS "{cfg["NAME"]}"')
        except psycopg.errors.ObjectInUse:
            print(f"  (left database {cfg['NAME']} in place: another session is using it)")


# --- fixtures -------------------------------------------------------------------------------


class Bench:
    """The rows this run creates, so that cleanup removes exactly them."""

    def __init__(self, tag):
        self.tag = tag
        self.projects = []
        self.user_ids = []

    def build(self, n_items, n_users):
        from django.contrib.auth import get_user_model
        from django.db import connection
        from rest_framework.authtoken.models import Token

        from annotation.models import Membership, Role
        from annotation.projects import services as project_services

        User = get_user_model()
        admin = User.objects.create_user(f"{self.tag}-admin")
        self.user_ids.append(admin.pk)
        users = User.objects.bulk_create([User(username=f"{self.tag}-{i}") for i in range(n_users)])
        self.user_ids += [u.pk for u in users]
        tokens = {u.pk: Token.objects.create(user=u).key for u in users}
        for name in ("ours", "naive"):
            project = project_services.create_project(name=f"{self.tag} {name}", created_by=admin, overlap=2)
            project_services.create_rubric_version(project=project, actor=admin, criteria=CRITERIA)
            Membership.objects.bulk_create(
                [Membership(user=u, project=project, role=Role.ANNOTATOR) for u in users]
            )
            started = time.perf_counter()
            with connection.cursor() as cur:
                insert_items(cur, project.pk, n_items)
            print(f"  {name}: {n_items:,} items in {time.perf_counter() - started:.1f} s")
            self.projects.append(project)
        with connection.cursor() as cur:
            cur.execute("ANALYZE annotation_item; ANALYZE annotation_response; ANALYZE annotation_assignment")
        return users, tokens

    def cleanup(self):
        from django.db import connection

        ids = [p.pk for p in self.projects]
        with connection.cursor() as cur:
            if ids:
                items = "SELECT id FROM annotation_item WHERE project_id = ANY(%s)"
                cur.execute(f"DELETE FROM annotation_judgment WHERE item_id IN ({items})", [ids])
                cur.execute("DELETE FROM annotation_assignment WHERE project_id = ANY(%s)", [ids])
                cur.execute(f"DELETE FROM annotation_response WHERE item_id IN ({items})", [ids])
                cur.execute("DELETE FROM annotation_item WHERE project_id = ANY(%s)", [ids])
                cur.execute("DELETE FROM annotation_auditevent WHERE project_id = ANY(%s)", [ids])
            from annotation.models import Project

            Project.objects.filter(pk__in=ids).delete()
            from django.contrib.auth import get_user_model

            get_user_model().objects.filter(pk__in=self.user_ids).delete()


def insert_items(cur, project_id, n):
    """n SFT items with one response each, in two INSERT ... SELECT statements (seconds, not minutes)."""
    cur.execute(
        """
        INSERT INTO annotation_item (project_id, kind, messages, external_id, content_hash, metadata,
            priority, state, active_count, submitted_count, is_gold, source, created_at, updated_at)
        SELECT %s, 'sft',
            jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Question ' || g || '?')),
            'ext-' || g, md5('bench' || g), '{}'::jsonb, CASE WHEN g %% 50 = 0 THEN 1 ELSE 0 END,
            'open', 0, 0, false, 'bench', now(), now()
        FROM generate_series(1, %s) AS g
        """,
        [project_id, n],
    )
    cur.execute(
        """
        INSERT INTO annotation_response (item_id, position, text, model_name, model_version,
            generation_params, created_at)
        SELECT id, 0, 'Answer to ' || external_id || '.', 'bench-model', '1', '{}'::jsonb, now()
        FROM annotation_item WHERE project_id = %s
        """,
        [project_id],
    )


# --- strategies -----------------------------------------------------------------------------


def naive_next(*, project, user):
    """The baseline: a random open item the user has not had, by ORDER BY random() (a full scan and
    sort per call), then locked with a plain FOR UPDATE; the same writes as next_assignment."""
    from django.db import transaction
    from django.db.models import Case, F, Value, When
    from django.utils import timezone

    from annotation.models import Assignment, Item, ItemState
    from annotation.queue import services as queue_services

    now = timezone.now()
    queue_services.release_expired_leases(project=project, now=now, limit=50)
    for _ in range(20):
        with transaction.atomic():
            pick = (
                queue_services.queue_candidates(project=project, user=user)
                .order_by("?")
                .values_list("pk", flat=True)
            )
            item_id = pick.first()
            if item_id is None:
                return None
            # Lock it and re-check it is still open (another caller may have filled it meanwhile).
            item = Item.objects.select_for_update().filter(pk=item_id, state=ItemState.OPEN).first()
            if item is None:
                continue
            order = list(item.responses.values_list("id", flat=True))
            assignment = Assignment.objects.create(
                item=item,
                annotator=user,
                project=project,
                leased_until=now + queue_services._lease_delta(project),
                display_order=order,
                reason="naive",
            )
            Item.objects.filter(pk=item.pk).update(
                active_count=F("active_count") + 1,
                state=Case(
                    When(active_count__gte=project.overlap - 1, then=Value(ItemState.ASSIGNED)),
                    default=F("state"),
                ),
            )
            return assignment
    return None


class InProcess:
    """Calls the service functions (or the naive picker) directly, one DB connection per thread."""

    def __init__(self, project, users, picker):
        self.project, self.users, self.picker = project, users, picker

    def part(self, start, stop):
        return InProcess(self.project, self.users[start:stop], self.picker)

    def session(self, i):
        from django.contrib.auth import get_user_model

        from annotation.queue import services as queue_services

        user = get_user_model().objects.get(pk=self.users[i].pk)
        project, picker = self.project, self.picker

        def next_():
            return picker(project=project, user=user)

        def submit(assignment):
            queue_services.submit_judgment(assignment=assignment, user=user, decision="accept", scores=SCORES)

        return next_, submit

    def close(self):
        from django.db import connections

        connections.close_all()


class OverHttp:
    """Drives the real API with token auth, one keep-alive HTTP session per thread."""

    def __init__(self, base, project, users, tokens):
        self.base, self.project, self.users, self.tokens = base, project, users, tokens

    def part(self, start, stop):
        return OverHttp(self.base, self.project, self.users[start:stop], self.tokens)

    def session(self, i):
        # http.client, not requests: the load generator shares the 2 cores with the server, and
        # requests costs several times more CPU per call. One keep-alive connection per annotator.
        import http.client
        import json
        from urllib.parse import urlsplit

        netloc = urlsplit(self.base).netloc
        headers = {
            "Authorization": f"Token {self.tokens[self.users[i].pk]}",
            "Content-Type": "application/json",
        }
        conn = [http.client.HTTPConnection(netloc, timeout=30)]
        next_path = f"/api/projects/{self.project.pk}/next/"
        body = json.dumps({"decision": "accept", "scores": SCORES})

        def call(method, path, payload=None):
            for attempt in (1, 2):  # a keep-alive connection the server closed: reconnect once
                try:
                    conn[0].request(method, path, body=payload, headers=headers)
                    r = conn[0].getresponse()
                    return r.status, r.read()
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    conn[0].close()
                    conn[0] = http.client.HTTPConnection(netloc, timeout=30)
                    if attempt == 2:
                        raise

        def next_():
            status, data = call("GET", next_path)
            if status == 204:
                return None
            if status != 200:
                raise RuntimeError(f"next -> {status}: {data[:300]!r}")
            return json.loads(data)["assignment"]

        def submit(assignment_id):
            status, data = call("POST", f"/api/assignments/{assignment_id}/submit/", body)
            if status != 201:
                raise RuntimeError(f"submit -> {status}: {data[:300]!r}")

        return next_, submit

    def close(self):
        pass


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
    for child in children:
        child.start()
    results = [out.get() for _ in children]
    for child in children:
        child.join()
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


def pct(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def saturation(rates):
    """The smallest level that reaches 90% of the best throughput seen."""
    best = max(rates.values())
    return next(level for level, rate in rates.items() if rate >= 0.9 * best)


# --- the HTTP server ------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers, threads):
    import requests

    port = free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {**os.environ, "DJANGO_DEBUG": "0", "DB_CONN_MAX_AGE": "60"}
    if gunicorn.exists():
        cmd = [str(gunicorn), "config.wsgi", "-b", f"127.0.0.1:{port}", "-k", "gthread"]
        cmd += ["-w", str(workers), "--threads", str(threads), "--log-level", "warning"]
        label = f"gunicorn, {workers} gthread workers x {threads} threads"
    else:
        cmd = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
        label = "manage.py runserver (gunicorn not installed)"
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            requests.get(f"{base}/api/schema/", timeout=2)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("server did not start within 60 s")
            time.sleep(0.3)
    return proc, base, label


# --- main -----------------------------------------------------------------------------------


def main():
    args = parse_args()
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
        users, tokens = bench.build(args.items, n_users)
        ours_project, naive_project = bench.projects
        drivers = {
            "ours": InProcess(ours_project, users, queue_services.next_assignment),
            "naive": InProcess(naive_project, users, naive_next),
        }
        if not args.no_api:
            server, base, label = start_server(args.gunicorn_workers, args.gunicorn_threads)
            print(f"  api: {label}")
            drivers["api"] = OverHttp(base, ours_project, users, tokens)

        print("\nSingle calls (load-independent): round trips and the pick query's server-side time")
        figures = single_call(
            {"ours": (ours_project, queue_services.next_assignment), "naive": (naive_project, naive_next)},
            users,
        )
        for name, f in figures.items():
            print(
                f"  {name:<8} next {f['next_queries']:>2} queries, submit {f['submit_queries']:>2} queries,"
                f" pick query {f['pick_ms']:.3f} ms (median), uses item_queue_idx: {f['index']}"
            )

        print(
            f"\nRealistic load: {args.annotators} annotators, ~{args.pause:g} s per item, "
            f"{args.duration:g} s each, overlap 2, {args.items:,} items, "
            f"annotators in {args.client_processes} client process(es)"
        )
        print(
            f"  {'strategy':<8} {'items':>6} {'next p50':>9} {'next p99':>9} {'submit p50':>11} {'submit p99':>11}"
        )
        for name, driver in drivers.items():
            r = realistic_processes(
                driver, args.annotators, args.duration, args.pause, args.seed, args.client_processes
            )
            print(
                f"  {name:<8} {r['items']:>6} {pct(r['next'], 50):>7.1f}ms {pct(r['next'], 99):>7.1f}ms"
                f" {pct(r['submit'], 50):>9.1f}ms {pct(r['submit'], 99):>9.1f}ms"
            )

        print(f"\nCapacity: closed loop, no pauses, {args.level_seconds:g} s per level (items/s)")
        rates = {name: {} for name in drivers}
        print("  " + f"{'strategy':<8}" + "".join(f"{'c=' + str(c):>9}" for c in levels) + "  saturates at")
        for name, driver in drivers.items():
            for c in levels:
                rates[name][c] = closed_loop(driver, c, args.level_seconds)
            sat = saturation(rates[name])
            print(
                f"  {name:<8}"
                + "".join(f"{rates[name][c]:>9.1f}" for c in levels)
                + f"  c={sat} ({rates[name][sat]:.0f}/s)"
            )
        best = {name: max(r.values()) for name, r in rates.items()}
        print(f"\n  peak throughput, ours / naive: {best['ours'] / best['naive']:.1f}x")
        print(f"  load average at end: {os.getloadavg()[0]:.1f}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        from django.db import connections

        connections.close_all()
        bench.cleanup()
        connections.close_all()
        if created_db:
            drop_database(url)
        print("  cleaned up")


if __name__ == "__main__":
    main()
