"""Ingest tokens revoked from the page and the API, and the per-project active-learning settings
edited from the explorer page and the API: validated, audited, used by selection; leads only."""

import pytest
from rest_framework.test import APIClient

from annotation.active_learning import ingest, scores
from annotation.active_learning.models import ProductionSample
from annotation.models import AuditEvent, Item
from tests.active_learning.conftest import sample_rows
from tests.active_learning.test_selection import api_for, ready

pytestmark = pytest.mark.django_db


def push(secret, project, start=0):
    return APIClient().post(
        f"/api/projects/{project.pk}/samples/ingest/",
        {"samples": sample_rows(2, start=start)},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )


def test_revoke_ingest_token_from_the_api(project, users):
    token, secret = ingest.create_token(project=project, actor=users["lead"], name="svc")
    assert push(secret, project).status_code == 201
    url = f"/api/projects/{project.pk}/ingest-tokens/{token.pk}/"
    assert api_for(users["outsider"]).delete(url).status_code == 404
    assert api_for(users["annotator"]).delete(url).status_code == 403
    assert push(secret, project, start=10).status_code == 201  # still valid after refused revokes
    response = api_for(users["lead"]).delete(url)
    assert response.status_code == 200 and response.json()["revoked_at"]
    assert push(secret, project, start=20).status_code == 401
    assert (
        api_for(users["lead"]).delete(f"/api/projects/{project.pk}/ingest-tokens/999999/").status_code == 404
    )
    events = AuditEvent.objects.filter(project=project, verb="ingest_token.revoked", object_id=str(token.pk))
    assert events.count() == 1 and events.get().actor == users["lead"]
    assert api_for(users["lead"]).delete(url).status_code == 200  # idempotent, audited once
    assert events.count() == 1
    assert ProductionSample.objects.filter(project=project).count() == 4


def test_revoke_ingest_token_from_the_page(project, users, client):
    token, secret = ingest.create_token(project=project, actor=users["lead"], name="svc")
    url = f"/projects/{project.pk}/production/tokens/{token.pk}/revoke/"
    client.force_login(users["lead"])
    page = client.get(f"/projects/{project.pk}/production/")
    assert url.encode() in page.content
    for who, status in (("outsider", 404), ("annotator", 403)):
        client.force_login(users[who])
        assert client.post(url).status_code == status
    token.refresh_from_db()
    assert token.revoked_at is None and push(secret, project).status_code == 201
    client.force_login(users["lead"])
    assert client.post(url).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and push(secret, project, start=10).status_code == 401
    page = client.get(f"/projects/{project.pk}/production/")
    assert url.encode() not in page.content and b"(revoked" in page.content
    assert AuditEvent.objects.filter(project=project, verb="ingest_token.revoked").count() == 1


def test_settings_api_roles_validation_and_effect(project, users, settings):
    settings.TUNELOOP_AL_ITEM_PRIORITY = 1000
    url = f"/api/projects/{project.pk}/active-learning/settings/"
    lead = api_for(users["lead"])
    before = lead.get(url).json()
    assert before["item_priority"] == 1000 and before["default_output"] == "review"
    assert before["retrain_every"] == settings.TUNELOOP_AL_RETRAIN_EVERY
    assert api_for(users["outsider"]).get(url).status_code == 404
    assert api_for(users["annotator"]).get(url).status_code == 403
    assert api_for(users["outsider"]).patch(url, {"retrain_every": 5}, format="json").status_code == 404
    assert api_for(users["annotator"]).patch(url, {"retrain_every": 5}, format="json").status_code == 403
    bad = lead.patch(
        url,
        {
            "retrain_every": 0,
            "duplicate_threshold": 1.5,
            "weights": {"entropy": -1, "bogus": 1},
            "default_output": "nope",
            "item_priority": "high",
            "colour": "red",
        },
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {
        "retrain_every", "duplicate_threshold", "weights", "default_output", "item_priority", "colour",
    }  # fmt: skip
    assert lead.get(url).json() == before  # nothing half-written
    changed = lead.patch(
        url,
        {"retrain_every": 7, "weights": {"entropy": 3, "feedback": 0}, "duplicate_threshold": 0.9,
         "item_priority": 5000, "default_output": "versus_fresh"},
        format="json",
    )  # fmt: skip
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert body["retrain_every"] == 7 and body["duplicate_threshold"] == 0.9
    assert body["weights"]["entropy"] == 3 and body["weights"]["feedback"] == 0
    assert body["weights"]["logprob"] == before["weights"]["logprob"]
    assert body["item_priority"] == 5000 and body["default_output"] == "versus_fresh"
    assert scores.project_settings(project) == body
    lead.patch(url, {"weights": {"logprob": 2}, "default_output": "review"}, format="json")
    merged = scores.project_settings(project)
    assert merged["weights"]["entropy"] == 3 and merged["weights"]["logprob"] == 2
    event = AuditEvent.objects.filter(project=project, verb="active_learning.settings_updated").first()
    assert event is not None and event.actor == users["lead"]
    first = AuditEvent.objects.filter(project=project, verb="active_learning.settings_updated").order_by(
        "id"
    )[0]
    assert first.data["changed"]["retrain_every"] == {"from": before["retrain_every"], "to": 7}


def test_selected_items_use_the_project_item_priority_and_default_output(project, users):
    ready(project, users, n=12)
    api_for(users["lead"]).patch(
        f"/api/projects/{project.pk}/active-learning/settings/", {"item_priority": 4321}, format="json"
    )
    response = api_for(users["lead"]).post(
        f"/api/projects/{project.pk}/selections/", {"strategy": "uncertainty", "budget": 3}, format="json"
    )
    assert response.status_code == 201 and response.json()["output"] == "review"
    items = Item.objects.filter(project=project, production_samples__isnull=False)
    assert items.count() == 3 and set(items.values_list("priority", flat=True)) == {4321}


def test_settings_form_on_the_explorer_page(project, users, client):
    url = f"/projects/{project.pk}/production/settings/"
    form = {
        "retrain_every": "12", "duplicate_threshold": "0.9", "item_priority": "", "default_output": "review",
        "weight_entropy": "2", "weight_margin": "0",
    }  # fmt: skip
    for who, status in (("outsider", 404), ("annotator", 403)):
        client.force_login(users[who])
        assert client.post(url, form).status_code == status
    client.force_login(users["lead"])
    page = client.get(f"/projects/{project.pk}/production/")
    assert b'id="settings-form"' in page.content
    assert client.post(url, form).status_code == 302
    saved = scores.project_settings(project)
    assert (
        saved["retrain_every"] == 12 and saved["weights"]["entropy"] == 2 and saved["weights"]["margin"] == 0
    )
    bad = client.post(url, {**form, "retrain_every": "0", "weight_entropy": "x"}, follow=True)
    assert bad.status_code == 200
    errors = bad.content.decode()
    assert 'id="settings-errors"' in errors and "retrain_every" in errors and "entropy" in errors
    assert scores.project_settings(project)["retrain_every"] == 12  # unchanged
    assert b'value="12"' in client.get(f"/projects/{project.pk}/production/").content
