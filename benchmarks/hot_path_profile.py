"""Profile: the CPU of one next + submit cycle of the API, in this process (Django's test client: the
whole middleware stack, DRF, the ORM, JSON; no HTTP server), with cProfile's top functions.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python benchmarks/hot_path_profile.py \
        [--items 2000] [--cycles 300] [--top 30] [--sort tottime|cumulative] [--no-profile] [--gunicorn]

Builds one project (`queue_setup.Bench`) on the database (migrated first), warms up, then measures
`--cycles` cycles twice: without the profiler (process CPU time per cycle: the figure to compare,
`time.process_time`, which includes the database client's work but not the server's) and with it
(the table, in CPU time: waiting on the database is not in it). Everything it creates is deleted at the end. The server-side figure through gunicorn is
`queue.py`'s "server CPU/cycle".

`--gunicorn` profiles the same cycles through HTTP instead: gunicorn with config/gunicorn.conf.py but one
sync worker (cProfile sees only the thread it runs in; gthread's requests run in a pool), cProfile in
CPU time over the measured cycles (after 30 warm-up cycles), the worker's CPU per cycle over them
(profiler included) and the table. It also prints the CPU per cycle of the worker's PostgreSQL backend
and of this client process (psutil); with `--no-profile`, those figures without the profiler.
"""

# ruff: noqa: E402 - sys.path is fixed before the other imports
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # no shadowing of stdlib's queue

import argparse
import cProfile
import json
import os
import pstats
import time
import uuid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_DEBUG"] = "0"

from benchmarks.queue_setup import SCORES, Bench, require_postgres


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--cycles", type=int, default=300)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--sort", choices=["tottime", "cumulative"], default="tottime")
    p.add_argument("--no-profile", action="store_true", help="only the CPU per cycle")
    p.add_argument("--gunicorn", action="store_true", help="through gunicorn (one sync worker), over HTTP")
    return p.parse_args()


def main():
    args = parse_args()
    require_postgres()
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    bench = Bench(f"hp-{uuid.uuid4().hex[:6]}")
    try:
        users, tokens = bench.build(args.items, 1, names=("profile",))
        project = bench.projects[0]
        if args.gunicorn:
            return through_gunicorn(args, project, tokens[users[0].pk])
        client = Client(HTTP_AUTHORIZATION=f"Token {tokens[users[0].pk]}")
        body = json.dumps({"decision": "accept", "scores": SCORES})

        def cycle():
            r = client.get(f"/api/projects/{project.pk}/next/")
            assert r.status_code == 200, r.content[:300]
            r = client.post(
                f"/api/assignments/{r.json()['assignment']}/submit/", body, content_type="application/json"
            )
            assert r.status_code == 201, r.content[:300]

        for _ in range(30):
            cycle()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(args.cycles):
            cycle()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"{args.cycles} cycles: {1000 * cpu / args.cycles:.1f} ms CPU per next + submit cycle "
            f"(this process: Django, DRF, ORM, database client), {1000 * wall / args.cycles:.1f} ms wall; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        if not args.no_profile:
            profiler = cProfile.Profile(time.process_time)  # CPU time: waits on the database do not count
            profiler.enable()
            for _ in range(args.cycles):
                cycle()
            profiler.disable()
            pstats.Stats(profiler).strip_dirs().sort_stats(args.sort).print_stats(args.top)
    finally:
        from django.db import connections

        connections.close_all()
        bench.cleanup()


GUNICORN_HOOKS = """
exec(open({conf!r}).read())
worker_class, workers, threads, max_requests = "sync", 1, 1, 0


def post_fork(server, worker):
    import cProfile, time

    worker.profiler, worker.seen = cProfile.Profile(time.process_time), 0


def pre_request(worker, req):
    worker.seen += 1
    if worker.seen == {warm} + 1 and {profile}:  # after the warm-up: the measured cycles only
        worker.profiler.enable()


def worker_exit(server, worker):
    worker.profiler.disable()
    worker.profiler.dump_stats({out!r})
"""


def through_gunicorn(args, project, token):
    import signal
    import subprocess
    import tempfile

    import psutil  # an install dependency of accelerate
    import requests

    from benchmarks.queue_setup import HttpSession, free_port

    folder = Path(tempfile.mkdtemp(prefix="hot-path-profile-"))
    conf, out = folder / "gunicorn.conf.py", folder / "worker.prof"
    hooks = GUNICORN_HOOKS.format(
        conf=str(ROOT / "config" / "gunicorn.conf.py"), out=str(out), warm=2 * 30, profile=not args.no_profile
    )
    conf.write_text(hooks)
    port = free_port()
    env = {**os.environ, "DJANGO_DEBUG": "0", "TUNELOOP_DEMO": "1", "WEB_ACCESS_LOG": "0"}
    cmd = [str(Path(sys.executable).with_name("gunicorn")), "-c", str(conf), "-b", f"127.0.0.1:{port}"]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(f"{base}/login/", timeout=30)
            break
        except requests.RequestException:
            time.sleep(0.3)
    call = HttpSession(base, token).call
    body = json.dumps({"decision": "accept", "scores": SCORES})

    def cycle():
        status, data = call("GET", f"/api/projects/{project.pk}/next/")
        assert status == 200, data[:300]
        assignment = json.loads(data)["assignment"]
        status, data = call("POST", f"/api/assignments/{assignment}/submit/", body)
        assert status == 201, data[:300]

    for _ in range(30):
        cycle()
    (worker,) = psutil.Process(server.pid).children()
    backends = [psutil.Process(pid) for pid in _backend_pids()]  # the worker's PostgreSQL backend

    def cpu_of(processes):
        return sum(sum(p.cpu_times()[:2]) for p in processes)

    me = psutil.Process()
    before = cpu_of([worker]), cpu_of(backends), cpu_of([me])
    for _ in range(args.cycles):
        cycle()
    after = cpu_of([worker]), cpu_of(backends), cpu_of([me])
    server.send_signal(signal.SIGTERM)
    server.wait(60)
    worker_ms, backend_ms, client_ms = (
        1000 * (b - a) / args.cycles for a, b in zip(before, after, strict=True)
    )
    print(
        f"gunicorn, one sync worker{'' if args.no_profile else ', profiled'}, per next + submit cycle:"
        f" worker {worker_ms:.2f} ms CPU, its PostgreSQL backend {backend_ms:.2f} ms, client {client_ms:.2f} ms"
        f" (sum {worker_ms + backend_ms + client_ms:.2f} ms); load average {os.getloadavg()[0]:.1f}"
    )
    if not args.no_profile:
        stats = pstats.Stats(str(out)).strip_dirs().sort_stats(args.sort)
        stats.print_stats(args.top)


def _backend_pids() -> list[int]:
    """The PostgreSQL backends connected to this database but this process's own (the worker's)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


if __name__ == "__main__":
    main()
