"""`Idempotency-Key` on the API's submit (annotation.core.idempotency): a retry with the same key and
request returns the first response and stores nothing new; the key with another request is a 422;
keys expire; two concurrent requests with one key make one judgment (PostgreSQL, two threads)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation import tasks
from annotation.core import idempotency
from annotation.models import IdempotencyKey, Judgment
from tests.annotation.factories import client_for
from tests.conftest import GOOD_SCORES

ACCEPT = {"decision": "accept", "scores": GOOD_SCORES}
EDIT = {"decision": "edit", "edited_text": "Better.", "scores": GOOD_SCORES}


def _leased(client, project):
    r = client.get(f"/api/projects/{project.pk}/next/")
    assert r.status_code == 200, r.content
    return r.json()["assignment"]


def _submit(client, assignment, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(f"/api/assignments/{assignment}/submit/", body, format="json", **headers)


@pytest.mark.django_db
def test_a_retry_with_the_same_key_returns_the_first_response_and_stores_nothing(project, items, users):
    client = client_for(users["annotator"])
    assignment = _leased(client, project)
    first = _submit(client, assignment, ACCEPT, key="k-1")
    assert first.status_code == 201 and idempotency.REPLAYED_HEADER not in first
    again = _submit(client, assignment, ACCEPT, key="k-1")
    assert again.status_code == 201 and again[idempotency.REPLAYED_HEADER] == "true"
    assert again.json() == first.json()
    assert Judgment.objects.filter(assignment_id=assignment).count() == 1
    assert IdempotencyKey.objects.get(user=users["annotator"], key="k-1").status == 201


@pytest.mark.django_db
def test_a_retry_after_a_superseding_submit_changes_nothing(project, items, users):
    """The key's request is replayed, not re-run: a later edit under another key stays current."""
    client = client_for(users["annotator"])
    assignment = _leased(client, project)
    first = _submit(client, assignment, ACCEPT, key="first")
    edited = _submit(client, assignment, EDIT, key="second")
    assert edited.status_code == 201
    late_retry = _submit(client, assignment, ACCEPT, key="first")
    assert late_retry.json()["id"] == first.json()["id"]
    current = Judgment.objects.get(assignment_id=assignment, is_current=True)
    assert current.pk == edited.json()["id"] and current.decision == "edit"
    assert Judgment.objects.filter(assignment_id=assignment).count() == 2


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_refused(project, items, users):
    client = client_for(users["annotator"])
    assignment = _leased(client, project)
    assert _submit(client, assignment, ACCEPT, key="k").status_code == 201
    r = _submit(client, assignment, EDIT, key="k")
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    assert "different request" in r.json()["detail"]
    assert Judgment.objects.filter(assignment_id=assignment).get().decision == "accept"


@pytest.mark.django_db
def test_keys_belong_to_their_user(project, items, users):
    one, two = client_for(users["annotator"]), client_for(users["annotator2"])
    a1, a2 = _leased(one, project), _leased(two, project)
    assert _submit(one, a1, ACCEPT, key="shared").status_code == 201
    r = _submit(two, a2, ACCEPT, key="shared")
    assert r.status_code == 201 and idempotency.REPLAYED_HEADER not in r
    assert Judgment.objects.filter(assignment_id__in=[a1, a2]).count() == 2


@pytest.mark.django_db
def test_a_failed_request_stores_no_key_and_its_retry_runs(project, items, users):
    client = client_for(users["annotator"])
    assignment = _leased(client, project)
    bad = _submit(client, assignment, {"decision": "edit", "scores": GOOD_SCORES}, key="k")
    assert bad.status_code == 400
    assert not IdempotencyKey.objects.exists()
    assert _submit(client, assignment, {**EDIT}, key="k").status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "é"])
def test_a_malformed_key_is_a_400(project, items, users, key):
    client = client_for(users["annotator"])
    assignment = _leased(client, project)
    r = _submit(client, assignment, ACCEPT, key=key)
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["errors"]
    assert not Judgment.objects.exists()


@pytest.mark.django_db
def test_keys_expire_and_beat_purges_them(settings, project, items, users):
    settings.TUNELOOP_IDEMPOTENCY_HOURS = 24
    client = client_for(users["annotator"])
    assignment = _leased(client, project)
    assert _submit(client, assignment, ACCEPT, key="old").status_code == 201
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    # An expired key is free again: another request under it runs (and supersedes).
    r = _submit(client, assignment, EDIT, key="old")
    assert r.status_code == 201 and idempotency.REPLAYED_HEADER not in r
    assert Judgment.objects.get(assignment_id=assignment, is_current=True).decision == "edit"
    assert IdempotencyKey.objects.get().created_at > timezone.now() - timedelta(minutes=1)
    IdempotencyKey.objects.create(
        user=users["annotator"], key="stale", fingerprint="x", status=201, body={},
        created_at=timezone.now() - timedelta(hours=30),
    )  # fmt: skip
    assert tasks.purge_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["old"]


@pytest.mark.django_db
def test_a_key_within_its_hours_is_replayed_not_replaced(settings, project, items, users):
    """The expiry is compared as the database stores times (SQLite: text), also within one day."""
    settings.TUNELOOP_IDEMPOTENCY_HOURS = 1
    client = client_for(users["annotator"])
    assignment = _leased(client, project)
    assert _submit(client, assignment, ACCEPT, key="recent").status_code == 201
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(minutes=30))
    r = _submit(client, assignment, EDIT, key="recent")
    assert r.status_code == 422
    assert Judgment.objects.get(assignment_id=assignment).decision == "accept"


def test_the_schema_documents_the_header():
    from drf_spectacular.generators import SchemaGenerator  # deferred: builds every view's schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    submit = schema["paths"]["/api/assignments/{assignment_id}/submit/"]["post"]
    names = {(p["name"], p["in"]) for p in submit["parameters"]}
    assert ("Idempotency-Key", "header") in names
    assert "422" in submit["responses"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_make_one_judgment(project, items, users):
    client = client_for(users["annotator"])
    assignment = _leased(client, project)
    barrier, answers = threading.Barrier(2), []

    def send():
        try:
            mine = client_for(users["annotator"])
            barrier.wait(10)
            answers.append(_submit(mine, assignment, ACCEPT, key="same"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.status_code for r in answers) == [201, 201]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert Judgment.objects.filter(assignment_id=assignment).count() == 1
    assert IdempotencyKey.objects.filter(key="same").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_different_requests_with_one_key_make_one_effect(project, items, users):
    """Without the key the second would supersede the first: under one key one wins, the other is a 422."""
    client = client_for(users["annotator"])
    assignment = _leased(client, project)
    barrier, answers = threading.Barrier(2), []

    def send(body):
        try:
            mine = client_for(users["annotator"])
            barrier.wait(10)
            answers.append(_submit(mine, assignment, body, key="contested"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(body,)) for body in (ACCEPT, EDIT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.status_code for r in answers) == [201, 422]
    winner = next(r for r in answers if r.status_code == 201).json()
    assert list(Judgment.objects.filter(assignment_id=assignment).values_list("id", flat=True)) == [
        winner["id"]
    ]
