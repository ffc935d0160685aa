"""Label Studio's import of the same file, for benchmarks/import_items.py's `--label-studio`: the
baseline the issue names ("≥ 3× Label Studio in the same run"). Label Studio is not a dependency of
Tuneloop; install it in a virtual environment of its own (its pins differ from ours):

    python3 -m venv /tmp/lsenv && /tmp/lsenv/bin/pip install label-studio
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_import .venv/bin/python benchmarks/import_items.py \
        --sizes 100000 --label-studio /tmp/lsenv/bin/label-studio

`import_file` starts Label Studio (`label-studio start`, its own development server, as its README's
quick start does) on a database of its own on the same PostgreSQL server, with a fresh data
directory and a known user token; turns on legacy token authentication for its organisation (off by
default since 1.20); creates a project with a text labelling config; then times one
`POST /api/projects/{id}/import` of the file (a JSON list of tasks: each row of our JSONL file as a
task's `data`) until it answers, and until the project holds every task (an import handed to a
background job returns first). Its server process's CPU time over the import is reported too. Label
Studio stores every row: it does not dedupe. Everything is torn down at the end.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from benchmarks.cpu_marks import server_cpu_seconds

TOKEN = "0123456789abcdef0123456789abcdef01234567"
CONFIG = """<View><Text name="prompt" value="$prompt"/><Text name="response" value="$response"/>
<Choices name="decision" toName="response"><Choice value="accept"/><Choice value="reject"/></Choices></View>"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _psql(url, sql: str, db: str = "postgres"):
    parts = urlsplit(url)
    args = ["psql", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
            "-U", parts.username or "postgres", "-d", db, "-qAtc", sql]  # fmt: skip
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def import_file(executable: str, jsonl: Path, url: str) -> dict:
    """{"seconds", "answered", "cpu", "tasks"} of Label Studio importing `jsonl` (one JSON object a line)."""
    db = f"ls_bench_{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="ls-bench-"))
    tasks_file = work / "tasks.json"
    tasks = 0
    with open(jsonl) as src, open(tasks_file, "w") as out:
        out.write("[")
        for line in filter(str.strip, src):
            out.write(("," if tasks else "") + '{"data": ' + line.strip() + "}")
            tasks += 1
        out.write("]")
    parts = urlsplit(url)
    _psql(url, f"CREATE DATABASE {db}")
    port = _free_port()
    env = {**os.environ, "DJANGO_DB": "default", "POSTGRE_NAME": db, "POSTGRE_USER": parts.username or "postgres",
           "POSTGRE_PASSWORD": parts.password or "", "POSTGRE_HOST": parts.hostname or "127.0.0.1",
           "POSTGRE_PORT": str(parts.port or 5432), "LABEL_STUDIO_BASE_DATA_DIR": str(work / "data")}  # fmt: skip
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    cmd = [executable, "start", "--no-browser", "--port", str(port), "--data-dir", str(work / "data"),
           "--username", "bench@example.com", "--password", "bench-password-1", "--user-token", TOKEN]  # fmt: skip
    server = subprocess.Popen(cmd, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Token {TOKEN}"}
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"label-studio exited with {server.returncode}")
            try:
                if requests.get(f"{base}/health", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("label-studio did not start within 300 s")
            time.sleep(1)
        _psql(url, "UPDATE jwt_auth_jwtsettings SET legacy_api_tokens_enabled = true", db=db)
        r = requests.post(f"{base}/api/projects/", json={"title": "bench", "label_config": CONFIG}, headers=auth,
                          timeout=60)  # fmt: skip
        r.raise_for_status()
        project = r.json()["id"]
        cpu0, t0 = server_cpu_seconds(server), time.perf_counter()
        with open(tasks_file, "rb") as f:
            r = requests.post(f"{base}/api/projects/{project}/import", headers=auth, timeout=3600,
                              files={"file": ("tasks.json", f, "application/json")})  # fmt: skip
        answered = time.perf_counter() - t0
        r.raise_for_status()
        while True:
            count = int(_psql(url, f"SELECT count(*) FROM task WHERE project_id = {project}", db=db).strip())
            if count >= tasks or time.perf_counter() - t0 > 3600:
                break
            time.sleep(0.5)
        seconds = time.perf_counter() - t0
        return {
            "seconds": seconds,
            "answered": answered,
            "cpu": server_cpu_seconds(server) - cpu0,
            "tasks": count,
        }
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        _psql(url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)
