"""Setup for benchmarks/queue.py and benchmarks/load.py: the PostgreSQL database, the seeded projects,
items and users, the clients (in-process and over HTTP, and the naive picker they are compared with)
and the HTTP server (gunicorn with config/gunicorn.conf.py); what both scripts do alike: percentiles
(`pct`), the forked client processes (`run_children`) and the teardown (`tear_down`). The CPU
accounting is in benchmarks/cpu_marks.py.

Imported by benchmarks/queue.py once it has fixed sys.path (run as a script, "queue.py" would shadow
the standard library's queue module); not a script itself.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CRITERIA = [{"key": "helpfulness", "type": "likert"}, {"key": "safe", "type": "binary"}]
SCORES = {"helpfulness": 4, "safe": True}


def pct(values, q):
    """The q-th percentile (nearest rank) of `values`; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run_children(children, out) -> list:
    """Start the forked `children`, take one result from each off the `out` queue, then join them
    (results first: a child does not exit while what it put on the queue is unread)."""
    for child in children:
        child.start()
    results = [out.get() for _ in children]
    for child in children:
        child.join()
    return results


def settle(timeout: float = 120.0) -> float:
    """Between scenarios, outside any measurement: VACUUM ANALYZE the tables the queue writes (so
    autovacuum does not start on what the last scenario wrote while the next one is measured, and the
    next one plans on current statistics), then wait until no other backend of this database is
    running a statement (an autovacuum worker, a straggler). Every strategy and scenario gets the same;
    the seconds it took."""
    from django.db import connection  # deferred: callers import this module before django.setup()

    from annotation.models import Assignment, AuditEvent, Item, Judgment  # deferred: as above

    started = time.monotonic()
    with connection.cursor() as cursor:
        for model in (Assignment, Item, Judgment, AuditEvent):
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")
        while time.monotonic() - started < timeout:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'"
                " AND backend_type IN ('client backend', 'autovacuum worker')"
            )
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.2)
    return time.monotonic() - started


def tear_down(bench, server, url: str, created_db: bool, *, keep: bool = False):
    """After a run: stop the server (if any); unless `keep`, remove the bench's rows and the database
    the run created."""
    from django.db import connections  # deferred: callers import this module before django.setup()

    if server is not None:
        server.terminate()
        server.wait(60)
    connections.close_all()
    if keep:
        return
    bench.cleanup()
    connections.close_all()
    if created_db:
        drop_database(url)
    print("  cleaned up")


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

    def build(self, n_items, n_users, names=("ours", "naive"), *, comparisons=0, overlap=2, **options):
        """Per name a project (overlap `overlap`, Project fields `options`) with n_items SFT items and
        `comparisons` pairwise comparisons (PostgreSQL only), and n_users annotators with API tokens."""
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
        for name in names:
            project = project_services.create_project(
                name=f"{self.tag} {name}", created_by=admin, overlap=overlap, **options
            )
            project_services.create_rubric_version(project=project, actor=admin, criteria=CRITERIA)
            Membership.objects.bulk_create(
                [Membership(user=u, project=project, role=Role.ANNOTATOR) for u in users]
            )
            started = time.perf_counter()
            if connection.vendor == "postgresql":
                with connection.cursor() as cur:
                    insert_items(cur, project.pk, n_items)
                    if comparisons:
                        insert_items(cur, project.pk, comparisons, kind="comparison")
            else:
                assert not comparisons, "comparisons are seeded on PostgreSQL only"
                insert_items_orm(project, n_items)
            made = f"{n_items:,} items" + (f" + {comparisons:,} comparisons" if comparisons else "")
            print(f"  {name}: {made} in {time.perf_counter() - started:.1f} s")
            self.projects.append(project)
        with connection.cursor() as cur:
            for table in ("annotation_item", "annotation_response", "annotation_assignment"):
                cur.execute(f"ANALYZE {table}")
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


def insert_items(cur, project_id, n, *, kind="sft"):
    """n SFT items with one response each (kind="comparison": pairwise comparisons, two responses
    each), in a few INSERT ... SELECT statements (seconds, not minutes)."""
    prefix = "ext-" if kind == "sft" else f"{kind}-"
    cur.execute(
        """
        INSERT INTO annotation_item (project_id, kind, messages, external_id, content_hash, metadata,
            priority, state, active_count, submitted_count, is_gold, source, created_at, updated_at)
        SELECT %s, %s,
            jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Question ' || g || '?')),
            %s || g, md5('bench' || %s || g), '{}'::jsonb, CASE WHEN g %% 50 = 0 THEN 1 ELSE 0 END,
            'open', 0, 0, false, 'bench', now(), now()
        FROM generate_series(1, %s) AS g
        """,
        [project_id, kind, prefix, prefix, n],
    )
    for position in range(1 if kind == "sft" else 2):
        cur.execute(
            """
            INSERT INTO annotation_response (item_id, position, text, model_name, model_version,
                generation_params, shown, created_at)
            SELECT id, %s, 'Answer ' || %s || ' to ' || external_id || '.', 'bench-model-' || %s, '1',
                '{}'::jsonb, true, now()
            FROM annotation_item WHERE project_id = %s AND kind = %s
            """,
            [position, position, position, project_id, kind],
        )


def insert_items_orm(project, n, batch=5000):
    """insert_items for SQLite (the embedded default): the same rows through bulk_create."""
    from annotation.models import Item, Response
    from annotation.queue import lifecycle

    for start in range(1, n + 1, batch):
        rows = [
            dict(
                kind="sft",
                messages=[{"role": "user", "content": f"Question {g}?"}],
                external_id=f"ext-{g}",
                content_hash=f"bench-{g}",
                priority=1 if g % 50 == 0 else 0,
                source="bench",
            )
            for g in range(start, min(n, start + batch - 1) + 1)
        ]
        items = lifecycle.create_items(project, rows)
        if items and items[0].pk is None:  # backends without RETURNING on bulk inserts
            items = list(
                Item.objects.filter(project=project, content_hash__in=[r["content_hash"] for r in rows])
            )
        Response.objects.bulk_create(
            [
                Response(item=i, position=0, text=f"Answer to {i.external_id}.", model_name="bench-model")
                for i in items
            ]
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
                leased_until=now + queue_services.lease_delta(project),
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
    """Drives the real API with token auth, one keep-alive HTTP session per thread. `combined`: one
    request per item, POST /api/assignments/{id}/submit-and-next/, whose answer carries the next
    task (a GET next only for an annotator's first item)."""

    def __init__(self, base, project, users, tokens, *, combined=False):
        self.base, self.project, self.users, self.tokens = base, project, users, tokens
        self.combined = combined

    def part(self, start, stop):
        return OverHttp(self.base, self.project, self.users[start:stop], self.tokens, combined=self.combined)

    def session(self, i):
        import json

        call = HttpSession(self.base, self.tokens[self.users[i].pk]).call
        next_path = f"/api/projects/{self.project.pk}/next/"
        body = json.dumps({"decision": "accept", "scores": SCORES})

        following = []  # combined: the next task from the last answer, when there was one

        def next_():
            if following:
                task = following.pop()
                return None if task is None else task["assignment"]
            status, data = call("GET", next_path)
            if status == 204:
                return None
            if status != 200:
                raise RuntimeError(f"next -> {status}: {data[:300]!r}")
            return json.loads(data)["assignment"]

        def submit(assignment_id):
            what = "submit-and-next" if self.combined else "submit"
            status, data = call("POST", f"/api/assignments/{assignment_id}/{what}/", body)
            if status != 201:
                raise RuntimeError(f"{what} -> {status}: {data[:300]!r}")
            if self.combined:
                following.append(json.loads(data)["next"])

        return next_, submit

    def close(self):
        pass


class HttpSession:
    """One annotator's keep-alive connection with token auth: `call(method, path, body)` -> (status,
    bytes). http.client, not requests: the load generator shares the cores with the server, and
    requests costs several times more CPU per call."""

    def __init__(self, base, token, timeout=30):
        import http.client  # deferred: the clients' module, not needed to seed
        from urllib.parse import urlsplit  # deferred: as above

        self._http = http.client
        self.netloc, self.timeout = urlsplit(base).netloc, timeout
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.conn = self._http.HTTPConnection(self.netloc, timeout=timeout)

    def call(self, method, path, payload=None):
        for attempt in (1, 2):  # a keep-alive connection the server closed: reconnect once
            try:
                self.conn.request(method, path, body=payload, headers=self.headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (self._http.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = self._http.HTTPConnection(self.netloc, timeout=self.timeout)
                if attempt == 2:
                    raise

    def close(self):
        self.conn.close()


# --- the HTTP server ------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers, threads, server="gunicorn", env=None):
    """The app over HTTP on a free port: gunicorn with config/gunicorn.conf.py (gthread, `workers` x
    `threads`, no access log) or, `server="runserver"`, Django's development server (what `make demo`
    ran before it used gunicorn)."""
    import requests

    port = free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    # a local benchmark server: demo mode allows the generated secret key (config/settings.py)
    env = {**os.environ, "DJANGO_DEBUG": "0", "DB_CONN_MAX_AGE": "60", "TUNELOOP_DEMO": "1", **(env or {})}
    if server == "gunicorn" and gunicorn.exists():
        cmd = [str(gunicorn), "-c", str(ROOT / "config" / "gunicorn.conf.py"), "-b", f"127.0.0.1:{port}"]
        cmd += ["-w", str(workers), "--threads", str(threads), "--log-level", "warning"]
        env.setdefault("WEB_ACCESS_LOG", "0")
        label = f"gunicorn, {workers} gthread workers x {threads} threads"
    else:
        cmd = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
        label = "manage.py runserver" + ("" if server == "runserver" else " (gunicorn not installed)")
    # The server's log goes to a file: a pipe nobody reads fills up (runserver logs every request)
    # and would stall the server mid-run.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read().decode()[-2000:]}")
        try:  # the login page: cheap (the schema takes seconds on a loaded machine)
            requests.get(f"{base}/login/", timeout=30)
            break
        except requests.RequestException:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("server did not start within 60 s")
            time.sleep(0.3)
    return proc, base, label
