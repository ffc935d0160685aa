"""Faults under the real web server (gunicorn as scripts/serve.sh runs it, on PostgreSQL):

- every PostgreSQL backend of the test database is terminated between requests: the next requests
  succeed (persistent connections are health-checked before a request's first query);
- a gunicorn worker is SIGKILLed while API clients submit: the master starts another, clients retry
  failed requests with the same Idempotency-Key, and afterwards every acknowledged submit is in the
  database, none twice, and no item has more judgments than its overlap.
"""

import os
import signal
import threading
import time
import uuid

import psycopg
import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.authtoken.models import Token

from annotation.models import Assignment, AssignmentState, Item, Judgment
from annotation.projects import services as project_services
from annotation.queue import lifecycle
from tests.conftest import CRITERIA, GOOD_SCORES, make_items
from tests.faults.conftest import database_url, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
User = get_user_model()


def annotators(n: int, overlap: int = 2, items: int = 0):
    admin = User.objects.create_user("f-admin")
    project = project_services.create_project(name="Faults", created_by=admin, overlap=overlap)
    project_services.create_rubric_version(project=project, actor=admin, criteria=CRITERIA)
    tokens = []
    for i in range(n):
        user = User.objects.create_user(f"f-annotator{i}")
        project_services.set_membership(project=project, actor=admin, user=user, role="annotator")
        tokens.append(Token.objects.create(user=user).key)
    if items:
        make_items(project, admin, items)
    return project, tokens


def terminate_other_backends() -> int:
    """pg_terminate_backend every connection to the test database but this one, and wait (up to 10 s
    each) until each backend has exited: its connection is closed before the next request, as after
    a restart or a failover (without the wait, a request could reach a backend that is still exiting:
    a race of the test, not of the server)."""
    with psycopg.connect(database_url().replace("postgres://", "postgresql://"), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s",
            (connection.connection.info.backend_pid,),
        ).fetchall()
    assert all(terminated for (terminated,) in rows), rows
    return len(rows)


def test_requests_recover_after_every_database_connection_is_dropped(gunicorn):
    project, tokens = annotators(2, items=4)
    connection.ensure_connection()
    sessions = []
    for token in tokens:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        sessions.append(session)

    def round_of_requests():
        # more requests than threads: every worker thread's persistent connection is used
        statuses = [s.get(f"{gunicorn.url}/api/projects/{project.pk}/progress/", timeout=10).status_code
                    for _ in range(6) for s in sessions]  # fmt: skip
        return statuses

    assert set(round_of_requests()) == {200}
    assert terminate_other_backends() >= 1  # gunicorn's threads held connections; now they are dead
    assert set(round_of_requests()) == {200}
    task = sessions[0].get(f"{gunicorn.url}/api/projects/{project.pk}/next/", timeout=10).json()
    assert terminate_other_backends() >= 1
    r = sessions[0].post(f"{gunicorn.url}/api/assignments/{task['assignment']}/submit/",
                         json={"decision": "accept", "scores": GOOD_SCORES}, timeout=10)  # fmt: skip
    assert r.status_code == 201, r.text
    assert Judgment.objects.filter(assignment_id=task["assignment"]).count() == 1


class Annotator(threading.Thread):
    """next + submit until the queue is empty; a failed request is sent again, a submit with its key."""

    def __init__(self, url, token, project_id):
        super().__init__(daemon=True)
        self.url, self.project_id = url, project_id
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.acknowledged: dict[int, int] = {}  # assignment -> judgment id, from a 2xx answer
        self.retries = 0
        self.error: BaseException | None = None

    def send(self, method, path, **kwargs):
        deadline = time.monotonic() + 60
        while True:
            try:
                r = self.session.request(method, f"{self.url}{path}", timeout=15, **kwargs)
                if r.status_code < 500:
                    return r
            except requests.RequestException:
                pass
            self.retries += 1  # the worker died under this request: send it again
            assert time.monotonic() < deadline, f"{method} {path} kept failing"
            time.sleep(0.05)

    def run(self):
        try:
            while True:
                r = self.send("GET", f"/api/projects/{self.project_id}/next/")
                if r.status_code == 204:
                    return
                assert r.status_code == 200, r.text
                assignment = r.json()["assignment"]
                r = self.send(
                    "POST", f"/api/assignments/{assignment}/submit/",
                    json={"decision": "accept", "scores": GOOD_SCORES},
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )  # fmt: skip
                assert r.status_code == 201, r.text
                self.acknowledged[assignment] = r.json()["id"]
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def test_a_gunicorn_worker_killed_mid_submit_loses_no_acknowledged_submit(gunicorn):
    project, tokens = annotators(6, overlap=2, items=24)
    clients = [Annotator(gunicorn.url, token, project.pk) for token in tokens]
    for client in clients:
        client.start()
    killed = []
    for _ in range(2):  # twice, each once submits are flowing
        floor = sum(len(c.acknowledged) for c in clients) + 4
        wait_for(lambda floor=floor: sum(len(c.acknowledged) for c in clients) >= floor, 60, "submits")
        victim = gunicorn.workers()[0]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)
        wait_for(lambda victim=victim: len(gunicorn.workers()) == 2 and victim not in gunicorn.workers(), 30,
                 "the master to start another worker", gunicorn.log)  # fmt: skip
    for client in clients:
        client.join(120)
        assert not client.is_alive(), "a client did not finish"
        assert client.error is None, repr(client.error)

    acknowledged = {a: j for c in clients for a, j in c.acknowledged.items()}
    assert len(acknowledged) == 24 * 2  # every slot of every item was judged and acknowledged
    stored = dict(Judgment.objects.filter(item__project=project).values_list("assignment_id", "id"))
    assert stored == acknowledged  # each acknowledged judgment is there, and nothing else
    assert Judgment.objects.filter(item__project=project).count() == len(acknowledged)  # none twice
    for item in Item.objects.filter(project=project):
        assert item.judgments.count() <= project.overlap
        assert lifecycle.check_item(item, project) == []
    assert not Assignment.objects.filter(project=project, state=AssignmentState.LEASED).exists()
    assert sum(c.retries for c in clients) >= 1, "no request was in flight when the workers died"
