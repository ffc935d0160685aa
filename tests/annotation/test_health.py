"""/healthz: the database, the broker and the newest worker heartbeat; 200 while the database answers,
503 when it does not; no login, no secrets in the body."""

import json
from datetime import timedelta

import pytest
from django.db.utils import ConnectionHandler
from django.utils import timezone

from annotation import tasks
from annotation.core import health
from config.celery import app
from tests.annotation.test_worker import worker  # noqa: F401  (the fixture: a worker on a queue of its own)
from tests.training.factories import sft_project_data, word_embedder
from training import snapshots
from training.models import RunState, TrainingRun

pytestmark = pytest.mark.django_db


def broken_database(tmp_path):
    """A real connection that cannot open its database (a file in a folder that does not exist)."""
    name = str(tmp_path / "gone" / "db.sqlite3")
    return ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": name}})["default"]


def test_healthz_needs_no_login_and_reports_each_part(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # no broker in use: "unconfigured"
    for url in ("/healthz", "/healthz/"):
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "application/json"
        assert response.json() == {"database": "ok", "broker": "unconfigured", "worker": "none"}
        assert "no-cache" in response["Cache-Control"]


def test_a_database_that_does_not_answer_is_a_503(tmp_path, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    status, body = health.report(conn=broken_database(tmp_path))
    assert (status, body) == (503, {"database": "error", "broker": "unconfigured", "worker": "none"})


def test_an_unreachable_broker_is_an_error_without_its_address(client, settings):
    settings.CELERY_BROKER_URL = "redis://:s3cret-password@127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 200  # the web side still serves: the broker is reported, not fatal
    assert response.json()["broker"] == "error"
    assert b"s3cret" not in response.content and b"127.0.0.1" not in response.content


def test_the_newest_heartbeat_counts_a_running_jobs(client, settings, project, users):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert client.get("/healthz").json()["worker"] == "none"
    sft_project_data(project, users, n=3)
    snapshot = snapshots.build_snapshot(
        project=project, actor=users["lead"], kind="sft", filters={}, embedder=word_embedder
    )
    TrainingRun.objects.create(
        project=project, snapshot=snapshot, method="sft", state=RunState.RUNNING, created_by=users["lead"],
        heartbeat_at=timezone.now() - timedelta(seconds=90),
    )  # fmt: skip
    age = client.get("/healthz").json()["worker"]
    assert 90 <= age < 600
    health.beat()  # the beat task's stamp is newer
    assert client.get("/healthz").json()["worker"] < 90


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_running_the_beat_task_shows_as_alive(client, worker):  # noqa: F811
    body = client.get("/healthz").json()
    assert body == {"database": "ok", "broker": "ok", "worker": "none"}
    assert "annotation.tasks.worker_heartbeat" in app.conf.beat_schedule["worker-heartbeat"]["task"]
    tasks.worker_heartbeat.apply_async(queue=worker["queue"]).get(timeout=60)
    age = client.get("/healthz").json()["worker"]
    assert isinstance(age, float) and 0 <= age < 60, json.dumps(body)
