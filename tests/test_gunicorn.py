"""The web processes' gunicorn settings (config/gunicorn.conf.py): gunicorn accepts the file, and a
server started with it answers /healthz and writes its access log as JSON lines carrying the request
id when TUNELOOP_LOG_FORMAT=json."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from annotation.core.logs import AccessJsonFormatter

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
CONF = ROOT / "config" / "gunicorn.conf.py"


def _env(tmp_path, **extra):
    env = {**os.environ, "TUNELOOP_DATA_DIR": str(tmp_path), "TUNELOOP_DEMO": "1", "DJANGO_DEBUG": "0"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        env.pop(name, None)  # the embedded defaults, in tmp_path
    return {**env, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_accepts_the_config_and_reads_the_environment(tmp_path):
    done = subprocess.run(
        [str(GUNICORN), "-c", str(CONF), "--check-config", "--print-config"],
        cwd=ROOT,
        env=_env(tmp_path, WEB_WORKERS="3", WEB_THREADS="5", WEB_BIND="127.0.0.1:9001,127.0.0.1:9002"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition("=") for line in done.stdout.splitlines()) if v
    )
    assert printed["workers"] == "3" and printed["threads"] == "5"
    assert printed["worker_class"] == "gthread"
    assert "127.0.0.1:9001" in printed["bind"] and "127.0.0.1:9002" in printed["bind"]
    assert printed["wsgi_app"] == "config.wsgi:application"
    assert int(printed["max_requests"]) > 0 and int(printed["max_requests_jitter"]) > 0
    assert printed["preload_app"] == "True"  # workers forked from the loaded app, not re-imported
    assert printed["forwarded_allow_ips"] == "['127.0.0.1']"


def test_access_lines_become_json_fields():
    record = logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, '%(h)s "%(r)s" %(s)s',
        ({"h": "10.0.0.1", "r": "GET /x HTTP/1.1", "m": "GET", "U": "/x", "q": "", "s": "404", "B": "-",
          "D": 1500, "a": "curl", "{x-request-id}o": "req-1"},), None,
    )  # fmt: skip
    line = json.loads(AccessJsonFormatter().format(record))
    assert line["status"] == 404 and line["duration_ms"] == 1.5 and line["request_id"] == "req-1"
    assert line["method"] == "GET" and line["path"] == "/x" and "bytes" not in line and "query" not in line
    other = logging.LogRecord("gunicorn.error", logging.INFO, __file__, 1, "Booting %s", ("worker",), None)
    assert json.loads(AccessJsonFormatter().format(other))["message"] == "Booting worker"


@pytest.mark.slow
def test_a_server_started_with_the_config_answers_healthz_and_logs_json(tmp_path):
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(GUNICORN), "-c", str(CONF)],
            cwd=ROOT,
            env=_env(
                tmp_path,
                WEB_BIND=f"127.0.0.1:{port}",
                WEB_WORKERS="1",
                WEB_THREADS="2",
                TUNELOOP_LOG_FORMAT="json",
                DJANGO_SECRET_KEY="",
            ),  # fmt: skip
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                assert server.poll() is None, log.read_text()[-3000:]
                try:
                    request = urllib.request.Request(
                        f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "probe-42"}
                    )
                    with urllib.request.urlopen(request, timeout=30) as response:
                        body = json.loads(response.read())
                        assert response.headers["X-Request-ID"] == "probe-42"
                    break
                except OSError:
                    assert time.monotonic() < deadline, log.read_text()[-3000:]
                    time.sleep(0.3)
            assert body["database"] == "ok"
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [entry for entry in lines if entry["logger"] == "gunicorn.access"]
    assert {"path": "/healthz", "status": 200, "request_id": "probe-42"}.items() <= access[-1].items()


def test_the_preloading_master_hands_no_open_connection_to_its_workers(monkeypatch):
    """when_ready (the master, before the first fork) closes what loading the app may have opened: a
    forked worker sharing the master's database socket or cache client would interleave its protocol
    with another worker's."""
    import runpy  # deferred: this test alone reads the config as gunicorn does
    from types import SimpleNamespace  # deferred: as above

    from django.core.cache import caches
    from django.db import connections

    closed = []
    monkeypatch.setattr(connections, "close_all", lambda: closed.append("database"))
    monkeypatch.setattr(caches, "close_all", lambda: closed.append("cache"))
    conf = runpy.run_path(str(CONF))
    conf["when_ready"](SimpleNamespace(cfg=SimpleNamespace(preload_app=False)))
    assert closed == []  # without preloading the master loads nothing: nothing to close
    conf["when_ready"](SimpleNamespace(cfg=SimpleNamespace(preload_app=True)))
    assert sorted(closed) == ["cache", "database"]
