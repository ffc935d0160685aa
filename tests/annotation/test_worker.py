"""A real Celery worker (a subprocess on Redis and the PostgreSQL test database) expires leases.

The worker is a separate process, so it must see committed rows in the same database: hence
PostgreSQL (transaction=True) and not the in-memory SQLite test database.
"""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from annotation import tasks
from annotation.models import Assignment, AssignmentState, ItemState
from annotation.projects import services as project_services
from annotation.queue import services as queue_services
from config.celery import app
from tests.conftest import make_items

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
User = get_user_model()


def _test_database_url():
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def worker(tmp_path):
    """Start `celery worker` on a queue of its own (no stray worker can take our task); stop it after."""
    queue = f"test-{uuid.uuid4().hex[:10]}"
    node = f"{queue}@localhost"
    log = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "DJANGO_SETTINGS_MODULE": "config.settings"}
    celery = Path(sys.executable).with_name("celery")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(celery), "-A", "config", "worker", "-Q", queue, "-n", node, "--pool", "solo",
             "--concurrency", "1", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[node], timeout=1.0):
            assert proc.poll() is None, f"worker exited early:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"worker did not answer a ping:\n{log.read_text()}"
        yield {"queue": queue, "node": node, "log": log}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_worker_returns_an_expired_lease_to_the_queue(worker):
    admin = User.objects.create_user("w-admin")
    project = project_services.create_project(name="Worker", created_by=admin, overlap=1)
    late, keen = User.objects.create_user("w-late"), User.objects.create_user("w-keen")
    for user in (late, keen):
        project_services.set_membership(project=project, actor=admin, user=user, role="annotator")
    make_items(project, admin, 1)
    # A lease taken 31 minutes ago has run out; nothing has released it yet.
    planted = queue_services.next_assignment(
        project=project, user=late, now=timezone.now() - timedelta(minutes=31)
    )
    planted.item.refresh_from_db()
    assert planted.item.state == ItemState.ASSIGNED and planted.leased_until < timezone.now()

    result = tasks.release_expired_leases.apply_async(queue=worker["queue"])
    assert result.get(timeout=30) == 1, worker["log"].read_text()

    planted.refresh_from_db()
    planted.item.refresh_from_db()
    assert planted.state == AssignmentState.EXPIRED
    assert (planted.item.state, planted.item.active_count) == (ItemState.OPEN, 0)
    # Back in the queue: another annotator is offered it.
    assert queue_services.next_assignment(project=project, user=keen).item_id == planted.item_id
    # Nothing left to release: the task is idempotent.
    assert tasks.release_expired_leases.apply_async(queue=worker["queue"]).get(timeout=30) == 0
    assert Assignment.objects.filter(state=AssignmentState.LEASED).count() == 1


def test_beat_schedule_names_a_task_the_worker_knows(worker, settings):
    registered = app.control.inspect(destination=[worker["node"]], timeout=5).registered()[worker["node"]]
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in registered
