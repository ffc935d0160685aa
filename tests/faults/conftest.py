"""Fault tests (`faults` marker, README "What happens when ..."): real processes — a private Redis
server this fixture starts and stops (never the shared one), Celery worker subprocesses, gunicorn —
on the PostgreSQL test database. Every wait polls for a state with a deadline."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from config.celery import app

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_PORT = int(os.environ.get("FAULTS_REDIS_PORT", "6391"))


def wait_for(predicate, timeout: float, what: str, log: Path | None = None):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what}" + (f"\n{log.read_text()[-6000:]}" if log else "")
            )
        time.sleep(0.1)


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private `redis-server` (no persistence) that a test may stop and start again."""

    def __init__(self, port: int, log: Path):
        self.port, self.log, self.proc = port, log, None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self):
        assert not _port_open(self.port), f"port {self.port} is taken: another redis-server is running there"
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(
                [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for(lambda: _port_open(self.port), 10, "redis-server to listen", self.log)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
        wait_for(lambda: not _port_open(self.port), 10, "redis-server to stop", self.log)


def _reset_celery_connections():
    """Forget the app's broker pool and result backend: the next publish connects to the current URLs."""
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


@pytest.fixture
def redis_server(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server (apt-get install redis-server)")
    server = RedisServer(REDIS_PORT, tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_broker(redis_server, settings, monkeypatch):
    """This process's Celery app publishes to the private Redis (broker db 0, results db 1)."""
    from annotation.core import broker

    # Celery reads the broker URL from the environment before its configuration
    monkeypatch.setenv("CELERY_BROKER_URL", redis_server.url(0))
    monkeypatch.setenv("CELERY_RESULT_BACKEND", redis_server.url(1))
    conf = app.conf
    saved = conf.broker_url, conf.result_backend, conf.task_always_eager
    conf.broker_url, conf.result_backend = redis_server.url(0), redis_server.url(1)
    conf.task_always_eager = False
    settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER = redis_server.url(0), False
    _reset_celery_connections()
    broker._state.update(checked=0.0, up=True)
    try:
        yield redis_server
    finally:
        conf.broker_url, conf.result_backend, conf.task_always_eager = saved
        _reset_celery_connections()
        broker._state.update(checked=0.0, up=True)


class Worker:
    """`celery worker` as a subprocess on the private Redis and the test database."""

    def __init__(self, redis: RedisServer, tmp_path: Path, name: str, **env):
        self.node, self.log = f"{name}@localhost", tmp_path / f"{name}.log"
        env = {
            **os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_BROKER_URL": redis.url(0), "CELERY_RESULT_BACKEND": redis.url(1),
            "TUNELOOP_DATA_DIR": str(tmp_path / "data"), "TUNELOOP_EMBEDDER": "tests.training.factories.word_embedder",
            "CELERY_TASK_ALWAYS_EAGER": "0", **env,
        }  # fmt: skip
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "celery"), "-A", "config", "worker", "-Q", "celery,gpu", "-n", self.node,
                 "--pool", "solo", "--concurrency", "1", "--without-gossip", "--without-mingle",
                 "--without-heartbeat", "--loglevel", "INFO"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def wait_ready(self, timeout: float = 60):
        wait_for(lambda: "ready." in self.log.read_text() or self.proc.poll() is not None, timeout,
                 f"worker {self.node} to start", self.log)  # fmt: skip
        assert self.proc.poll() is None, self.log.read_text()

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def workers(tmp_path):
    """start(name, **env) -> a Worker; every worker started is stopped after the test."""
    started = []

    def start(redis, name, **env):
        worker = Worker(redis, tmp_path, name, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


class Gunicorn:
    """The web server as scripts/serve.sh starts it (`gunicorn -c config/gunicorn.conf.py`: gthread
    workers, each thread with its own persistent database connection) on the test database and a free
    port; fewer threads than the demo's 8, and max_requests off so only the test replaces workers."""

    def __init__(self, tmp_path: Path, *, workers: int = 2, threads: int = 4):
        self.port, self.log = free_port(), tmp_path / "gunicorn.log"
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "config.settings",
            "TUNELOOP_DEMO": "1", "TUNELOOP_DATA_DIR": str(tmp_path / "data"), "DB_CONN_MAX_AGE": "60",
            "WEB_BIND": f"127.0.0.1:{self.port}", "WEB_WORKERS": str(workers), "WEB_THREADS": str(threads),
            "WEB_TIMEOUT": "30", "WEB_GRACEFUL_TIMEOUT": "5", "WEB_MAX_REQUESTS": "0", "WEB_ACCESS_LOG": "0",
            "WEB_LOG_LEVEL": "warning",
        }  # fmt: skip
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.expected = workers

    def workers(self) -> list[int]:
        """The master's live worker processes."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except FileNotFoundError:
            return []
        return [int(pid) for pid in children]

    def wait_ready(self, timeout: float = 60):
        import requests  # deferred: only the gunicorn tests talk HTTP

        def answering():
            assert self.proc.poll() is None, self.log.read_text()
            try:
                return requests.get(f"{self.url}/healthz", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(answering, timeout, "gunicorn to answer", self.log)
        wait_for(lambda: len(self.workers()) == self.expected, timeout, "gunicorn's workers", self.log)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, django_db_blocker, tmp_path_factory):
    """One server for a module's tests (they commit their rows: transaction=True)."""
    with django_db_blocker.unblock():
        server = Gunicorn(tmp_path_factory.mktemp("gunicorn"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
