"""`manage.py copy_to_postgres`: the embedded SQLite database, copied into an empty PostgreSQL one.

Runs the real commands in subprocesses on the embedded default (a SQLite file in a temporary
TUNELOOP_DATA_DIR), copies into a scratch database on the PostgreSQL server of DATABASE_URL and
compares every table's row count on both sides with plain sqlite3 / psycopg."""

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import dj_database_url
import psycopg
import pytest
from django.conf import settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

SEED = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from annotation.projects import services as ps
from annotation.queue import services as qs
from tests.conftest import CRITERIA, GOOD_SCORES, make_items
from tests.preferences.factories import make_comparisons
U = get_user_model()
admin = U.objects.create_user("admin1", password="pw")
ann = U.objects.create_user("ann", password="pw")
Token.objects.create(user=ann)
p = ps.create_project(name="Copy me", created_by=admin, overlap=1)
ps.set_membership(project=p, actor=admin, user=ann, role="annotator")
ps.create_rubric_version(project=p, actor=admin, criteria=CRITERIA)
make_items(p, admin, 6)
make_comparisons(p, admin, 3)
for _ in range(2):
    a = qs.next_assignment(project=p, user=ann)
    qs.submit_judgment(assignment=a, user=ann, decision="accept", scores=GOOD_SCORES)
a = qs.next_assignment(project=p, user=ann, kind="comparison")
qs.submit_judgment(assignment=a, user=ann, payload={"choice": "B", "strength": 3}, comment="x")
"""


def manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def scratch_pg():
    """An empty database on the test server, dropped afterwards; yields its URL."""
    cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
    admin = dict(
        host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432, user=cfg["USER"], password=cfg["PASSWORD"]
    )
    name = f"tuneloop_copy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    auth = cfg["USER"] + (f":{cfg['PASSWORD']}" if cfg["PASSWORD"] else "")
    yield f"postgres://{auth}@{admin['host']}:{admin['port']}/{name}", dict(dbname=name, **admin)
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_copy_to_postgres_copies_every_row(tmp_path, scratch_pg):
    url, pg = scratch_pg
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(TUNELOOP_DATA_DIR=str(tmp_path), DJANGO_DEBUG="0")
    for args in (["migrate", "--noinput", "-v0"], ["shell", "-c", SEED]):
        done = manage(env, *args)
        assert done.returncode == 0, done.stderr[-3000:]

    done = manage(env, "copy_to_postgres", url)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "every table's count matches" in done.stdout

    source = sqlite3.connect(tmp_path / "tuneloop.sqlite3")
    tables = [
        t
        for (t,) in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        if t != settings.CACHES["default"].get("LOCATION")  # the database cache: derived, not copied
    ]
    with psycopg.connect(**pg) as target:
        counts = {
            t: (
                source.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0],
                target.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0],
            )
            for t in tables
        }
        derived = {"annotation_itemsearchtext": (0, 9), "annotation_itemsearchpending": (0, 0)}  # search rows
        assert {t: c for t, c in counts.items() if c[0] != c[1]} == {"annotation_itemsearchtext": (0, 9)}
        assert {t: counts[t] for t in derived} == derived  # written on the target, every item's
        assert counts["annotation_judgment"][0] == 3 and counts["annotation_item"][0] == 9
        judged = (
            "SELECT decision, scores::text FROM annotation_judgment WHERE decision = 'accept' ORDER BY id"
        )
        assert [(d, s) for d, s in target.execute(judged)] == [
            ("accept", '{"safe": true, "helpfulness": 4}')
        ] * 2
        # sequences follow the copied ids: the next row the app writes does not collide
        target.execute("INSERT INTO auth_group (name) VALUES ('after the copy')")

    done = manage(env, "copy_to_postgres", url)  # a second copy into the same database is refused
    assert done.returncode != 0 and "not empty" in done.stderr
