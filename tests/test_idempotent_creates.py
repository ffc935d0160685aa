"""`Idempotency-Key` on the API's creating endpoints (annotation.core.idempotency.idempotent): a client
that retries a POST (after a timeout or a 502) with the same key gets the first response back and
nothing is created twice; the key with another body is a 422; without a key every POST creates."""

import pytest

from annotation.core import idempotency
from annotation.models import AuditEvent, IdempotencyKey, Project
from evaluation.models import EvalSet
from tests.annotation.factories import client_for
from tests.training.factories import make_pairs, sft_project_data, word_embedder
from training import snapshots
from training.models import DatasetSnapshot, ExportJob, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(project, users):
    sft_project_data(project, users, n=4)


def _snapshot(project):
    """One snapshot per test (kept on the project object), so that a retried body names the same one."""
    if not hasattr(project, "_test_snapshot"):
        project._test_snapshot = snapshots.build_snapshot(
            project=project,
            actor=project.created_by,
            kind="sft",
            filters={"val_fraction": 0},
            embedder=word_embedder,
        )
    return project._test_snapshot


CASES = {
    "project": (lambda p: "/api/projects/", lambda p, n: {"name": f"Retried {n}"}, Project.objects),
    "snapshot": (
        lambda p: f"/api/projects/{p.pk}/snapshots/",
        lambda p, n: {
            "kind": "sft",
            "name": f"s{n}",
            "filters": {"val_fraction": 0, "near_dup_threshold": 1},
        },
        DatasetSnapshot.objects,
    ),
    "run": (
        lambda p: f"/api/projects/{p.pk}/runs/",
        lambda p, n: {"snapshot": _snapshot(p).pk, "config": {"max_steps": 2 + n}},
        TrainingRun.objects,
    ),
    "snapshot export": (
        lambda p: f"/api/snapshots/{_snapshot(p).pk}/exports/",
        lambda p, n: {"layout": "trl-messages", "provenance": bool(n)},
        ExportJob.objects,
    ),
    "eval set import": (
        lambda p: f"/api/projects/{p.pk}/eval-sets/import/",
        lambda p, n: {"name": f"held out {n}", "data": '{"prompt": "Say hi."}\n'},
        EvalSet.objects,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_retried_create_returns_the_first_response_and_creates_nothing(case, project, users, data):
    url_for, body_for, rows = CASES[case]
    client = client_for(users["admin"])
    url = url_for(project)
    before = rows.count()
    first = client.post(url, body_for(project, 0), format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert first.status_code == 201, first.content
    assert idempotency.REPLAYED_HEADER not in first and rows.count() == before + 1
    again = client.post(url, body_for(project, 0), format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert again.status_code == 201 and again[idempotency.REPLAYED_HEADER] == "true"
    assert again.json() == first.json() and rows.count() == before + 1

    other = client.post(url, body_for(project, 1), format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert rows.count() == before + 1

    # without a key (or with a new one) a POST is a new request
    assert client.post(url, body_for(project, 1), format="json").status_code == 201
    assert (
        client.post(url, body_for(project, 2), format="json", HTTP_IDEMPOTENCY_KEY="retry-2").status_code
        == 201
    )
    assert rows.count() == before + 3
    assert IdempotencyKey.objects.filter(user=users["admin"]).count() == 2


def test_a_refused_create_stores_no_key_and_a_retry_runs_again(project, users, data):
    client = client_for(users["admin"])
    url = f"/api/projects/{project.pk}/runs/"
    bad = client.post(url, {"snapshot": 999999, "config": {}}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert bad.status_code == 400 and not IdempotencyKey.objects.exists()
    good = client.post(
        url, {"snapshot": _snapshot(project).pk, "config": {}}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert good.status_code == 201 and TrainingRun.objects.count() == 1


def test_a_retried_bulk_curation_reports_the_first_outcome(project, users):
    """Bulk approval is idempotent in effect; with a key the retry also gets the first counts back."""
    pairs = make_pairs(project, users["lead"], ["one?", "two?", "three?"], status="candidate")
    client = client_for(users["admin"])
    url = f"/api/projects/{project.pk}/pairs/bulk/"
    body = {"action": "approve", "ids": [p.pk for p in pairs]}
    events = AuditEvent.objects.count()
    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="bulk-1")
    assert first.status_code == 200, first.content
    again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="bulk-1")
    assert again.json() == first.json() and again[idempotency.REPLAYED_HEADER] == "true"
    assert AuditEvent.objects.count() == events + 1  # one bulk event, not two
    plain = client.post(url, body, format="json")
    assert plain.status_code == 200 and plain.json() != first.json()  # nothing left to approve
