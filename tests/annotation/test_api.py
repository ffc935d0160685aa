"""The REST API end to end: token auth, projects, members, rubrics, import, the queue, progress, schema.

Garbage input that must answer 4xx, never 500, is in test_api_garbage.py; the `api` fixture (a client
per user) is in tests/annotation/conftest.py.
"""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from annotation.core.auth import digest
from annotation.models import ApiToken, AuditEvent, Item, ItemState, Judgment, Membership, Role, RubricVersion
from tests.annotation.factories import client_for
from tests.conftest import CRITERIA, GOOD_SCORES, make_items

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """PBKDF2 makes each user cost ~0.3 s; these tests are about the API, not hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def jsonl(rows) -> str:
    return "\n".join(json.dumps(r) for r in rows) + "\n"


# --- auth -----------------------------------------------------------------------------------


def test_token_flow(users):
    anon = APIClient()
    assert anon.get("/api/projects/").status_code == 401

    bad = anon.post("/api/auth/token/", {"username": "lead", "password": "nope"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"]["non_field_errors"]

    missing = anon.post("/api/auth/token/", {"username": "lead"}, format="json")
    assert missing.status_code == 400
    assert "password" in missing.json()["errors"]

    ok = anon.post("/api/auth/token/", {"username": "lead", "password": "pw"}, format="json")
    assert ok.status_code == 200
    token = ok.json()["token"]
    assert ApiToken.objects.get(user=users["lead"], pk=ok.json()["id"]).key_hash == digest(token)
    assert ok.json()["expires_at"] is None  # no expiry asked for: valid until revoked
    anon.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anon.get("/api/projects/").status_code == 200

    anon.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert anon.get("/api/projects/").status_code == 401


# --- projects and members -------------------------------------------------------------------


def test_create_project_makes_caller_admin_and_lists_only_own(api, users, project):
    r = api["outsider"].post(
        "/api/projects/", {"name": "Mine", "overlap": 3, "guidelines": "Be brief."}, format="json"
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["name"] == "Mine" and body["overlap"] == 3 and body["role"] == "admin"
    assert Membership.objects.get(project_id=body["id"], user=users["outsider"]).role == Role.ADMIN
    assert AuditEvent.objects.filter(project_id=body["id"], verb="project.created").exists()

    listed = api["outsider"].get("/api/projects/").json()
    assert listed["count"] == 1 and [p["id"] for p in listed["results"]] == [body["id"]]
    assert listed["results"][0]["role"] == "admin"

    annotator = api["annotator"].get("/api/projects/").json()
    assert [(p["id"], p["role"]) for p in annotator["results"]] == [(project.pk, "annotator")]


def test_superuser_sees_every_project(django_user_model, project):
    root = django_user_model.objects.create_superuser("root", password="pw")
    listed = client_for(root).get("/api/projects/").json()
    assert [p["id"] for p in listed["results"]] == [project.pk]
    assert listed["results"][0]["role"] == "admin"


def test_patch_project(api, project):
    r = api["lead"].patch(f"/api/projects/{project.pk}/", {"overlap": 3, "guidelines": "New."}, format="json")
    assert r.status_code == 200, r.json()
    project.refresh_from_db()
    assert (project.overlap, project.guidelines) == (3, "New.")
    r = api["lead"].patch(f"/api/projects/{project.pk}/", {"agreement_threshold": 2}, format="json")
    assert r.status_code == 400 and "agreement_threshold" in r.json()["errors"]


def test_members_add_change_remove(api, users, project, django_user_model):
    newbie = django_user_model.objects.create_user("newbie", password="pw")
    url = f"/api/projects/{project.pk}/members/"
    r = api["lead"].post(url, {"username": "newbie", "role": "annotator"}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json() == {**r.json(), "user": newbie.pk, "username": "newbie", "role": "annotator"}

    r = api["lead"].post(url, {"user": newbie.pk, "role": "lead"}, format="json")
    assert r.status_code == 200 and r.json()["role"] == "lead"

    # Only admins grant admin.
    r = api["lead"].post(url, {"user": newbie.pk, "role": "admin"}, format="json")
    assert r.status_code == 403
    r = api["admin"].post(url, {"user": newbie.pk, "role": "admin"}, format="json")
    assert r.status_code == 200 and r.json()["role"] == "admin"

    listed = api["lead"].get(url).json()
    assert listed["count"] == 5
    assert [m["role"] for m in listed["results"]][:2] == ["admin", "admin"]

    r = api["lead"].delete(f"{url}{newbie.pk}/")
    assert r.status_code == 403  # a lead cannot remove an admin
    r = api["admin"].delete(f"{url}{newbie.pk}/")
    assert r.status_code == 204
    assert not Membership.objects.filter(project=project, user=newbie).exists()
    assert api["admin"].delete(f"{url}{newbie.pk}/").status_code == 404


# --- rubrics --------------------------------------------------------------------------------


def test_rubric_versions(api, project):
    url = f"/api/projects/{project.pk}/rubrics/"
    criteria = [*CRITERIA, {"key": "concise", "type": "binary"}]
    r = api["lead"].post(url, {"criteria": criteria, "changelog": "Add concise."}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["number"] == 2
    assert [c["key"] for c in r.json()["criteria"]] == ["helpfulness", "safe", "tone", "concise"]
    r = api["lead"].post(url, {"criteria": criteria, "instructions": "Same again."}, format="json")
    assert r.json()["number"] == 3  # every save is a new version, even unchanged criteria

    listed = api["annotator"].get(url).json()
    assert [v["number"] for v in listed["results"]] == [3, 2, 1]
    assert listed["results"][1]["changelog"] == "Add concise."
    assert RubricVersion.objects.filter(rubric__project=project).count() == 3

    bad = api["lead"].post(url, {"criteria": [{"key": "Bad Key", "type": "stars"}]}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"criteria[0].key", "criteria[0].type"}


# --- import ---------------------------------------------------------------------------------


def test_import_jsonl_body(api, project):
    data = jsonl(
        [
            {"prompt": "What is 2+2?", "response": "4", "model": "m1", "id": "a", "priority": 5},
            {"prompt": "Capital of France?", "response": "Paris", "system": "Be terse."},
            {"prompt": "What is 2+2?", "response": "4"},  # duplicate within the file
        ]
    )
    url = f"/api/projects/{project.pk}/items/import/"
    r = api["lead"].post(url, {"data": data, "format": "jsonl"}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json() == {"created": 2, "duplicates": 1}
    item = Item.objects.get(project=project, external_id="a")
    assert item.priority == 5 and item.responses.get().model_name == "m1"
    assert Item.objects.get(project=project, external_id="").messages[0] == {
        "role": "system",
        "content": "Be terse.",
    }
    again = api["lead"].post(url, {"data": data}, format="json")  # format detected from content
    assert again.json() == {"created": 0, "duplicates": 3}


def test_import_csv_upload_with_mapping(api, project):
    text = 'question,answer,who\n"Why is the sky blue?","Rayleigh\nscattering.",m2\nHi?,Hello.,m3\n'
    upload = SimpleUploadedFile("batch.csv", text.encode(), content_type="text/csv")
    r = api["lead"].post(
        f"/api/projects/{project.pk}/items/import/",
        {"file": upload, "mapping": json.dumps({"prompt": "question", "response": "answer", "model": "who"})},
        format="multipart",
    )
    assert r.status_code == 201, r.json()
    assert r.json() == {"created": 2, "duplicates": 0}
    item = Item.objects.get(project=project, messages__0__content="Why is the sky blue?")
    response = item.responses.get()
    assert (response.text, response.model_name) == ("Rayleigh\nscattering.", "m2")
    assert item.source == "batch.csv"


def test_import_openai_chat_jsonl(api, project):
    rows = [
        {
            "messages": [
                {"role": "system", "content": "You are helpful."},
                {"role": "user", "content": "Say hi."},
                {"role": "assistant", "content": "Hi!"},
            ]
        },
        {"messages": [{"role": "user", "content": "Count to 3."}, {"role": "assistant", "content": "1 2 3"}]},
    ]
    upload = SimpleUploadedFile("chat.jsonl", jsonl(rows).encode())
    r = api["lead"].post(f"/api/projects/{project.pk}/items/import/", {"file": upload}, format="multipart")
    assert r.status_code == 201, r.json()
    item = Item.objects.get(project=project, messages__1__content="Say hi.")
    assert [m["role"] for m in item.messages] == ["system", "user"]  # the assistant turn became the response
    assert item.responses.get().text == "Hi!"


def test_import_error_lists_lines_and_writes_nothing(api, project):
    rows = [jsonl([{"prompt": f"Q{i}", "response": f"A{i}"}]) for i in range(10)]
    rows.insert(4, '{"prompt": "broken", "response": \n')
    rows.append(jsonl([{"prompt": "", "response": "x", "priority": "high"}]))
    r = api["lead"].post(
        f"/api/projects/{project.pk}/items/import/", {"data": "".join(rows), "format": "jsonl"}, format="json"
    )
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "import_failed" and "nothing was imported" in body["detail"]
    assert {(e["line"], e["field"]) for e in body["errors"]} == {
        (5, "line"),
        (12, "prompt"),
        (12, "priority"),
    }
    assert not Item.objects.filter(project=project).exists()


def test_items_list_for_leads(api, project):
    make_items(project, project.created_by, 3)
    r = api["lead"].get(f"/api/projects/{project.pk}/items/")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 3
    assert body["results"][0]["state"] == "open"
    assert body["results"][0]["responses"][0]["model_name"] == "m"
    assert api["lead"].get(f"/api/projects/{project.pk}/items/?state=complete").json()["count"] == 0
    assert api["lead"].get(f"/api/projects/{project.pk}/items/?state=bogus").status_code == 400


# --- the queue ------------------------------------------------------------------------------


def test_next_submit_skip_round_trip(api, users, project):
    make_items(project, users["lead"], 2)
    url = f"/api/projects/{project.pk}/next/"
    first = api["annotator"].get(url)
    assert first.status_code == 200
    task = first.json()
    assert task["item"]["messages"] == [{"role": "user", "content": "Question 0?"}]
    assert task["item"]["responses"] == [{"slot": "A", "text": "Answer 0."}]
    assert task["rubric_version"]["number"] == 1
    assert [c["key"] for c in task["rubric_version"]["criteria"]] == ["helpfulness", "safe", "tone"]
    assert task["guidelines"] == "Be *kind*."
    assert task["reason"] == "queue"

    again = api["annotator"].get(url).json()  # an open lease is resumed, not doubled
    assert again["assignment"] == task["assignment"] and again["reason"] == "resume"

    r = api["annotator"].post(
        f"/api/assignments/{task['assignment']}/submit/",
        {
            "decision": "accept",
            "scores": GOOD_SCORES,
            "flags": ["pii"],
            "comment": "Fine.",
            "duration_seconds": 12.5,
            "rubric_version": task["rubric_version"]["id"],
        },
        format="json",
    )
    assert r.status_code == 201, r.json()
    judgment = r.json()
    assert judgment["decision"] == "accept" and judgment["scores"] == GOOD_SCORES
    assert judgment["flags"] == ["pii"] and judgment["annotator"] == "annotator1"
    assert judgment["rubric_version_number"] == 1
    assert Judgment.objects.get(pk=judgment["id"]).duration_seconds == 12.5

    second = api["annotator"].get(url).json()
    assert second["item"]["id"] != task["item"]["id"]
    r = api["annotator"].post(
        f"/api/assignments/{second['assignment']}/skip/", {"reason": "unsure"}, format="json"
    )
    assert r.status_code == 200 and r.json()["state"] == "skipped"

    empty = api["annotator"].get(url)
    assert empty.status_code == 204 and empty.content == b""

    # Submitting a skipped assignment conflicts; skipping a submitted one too.
    r = api["annotator"].post(
        f"/api/assignments/{second['assignment']}/submit/",
        {"decision": "accept", "scores": GOOD_SCORES},
        format="json",
    )
    assert r.status_code == 409
    assert api["annotator"].post(f"/api/assignments/{task['assignment']}/skip/").status_code == 409


def test_submit_validation_errors_name_fields(api, users, project):
    make_items(project, users["lead"], 1)
    task = api["annotator"].get(f"/api/projects/{project.pk}/next/").json()
    url = f"/api/assignments/{task['assignment']}/submit/"
    r = api["annotator"].post(url, {"decision": "maybe", "scores": GOOD_SCORES}, format="json")
    assert r.status_code == 400 and "decision" in r.json()["errors"]
    r = api["annotator"].post(url, {"decision": "accept", "scores": {"helpfulness": 9}}, format="json")
    assert r.status_code == 400
    assert set(r.json()["errors"]) == {"scores.helpfulness", "scores.safe"}
    r = api["annotator"].post(url, {"decision": "edit", "scores": GOOD_SCORES}, format="json")
    assert r.status_code == 400 and "edited_text" in r.json()["errors"]
    r = api["annotator"].post(
        url, {"decision": "accept", "scores": GOOD_SCORES, "flags": ["nope"]}, format="json"
    )
    assert r.status_code == 400 and "flags" in r.json()["errors"]
    assert not Judgment.objects.exists()


def test_progress_numbers(api, users, project):
    make_items(project, users["lead"], 3)  # overlap 2 -> 6 judgments needed
    url = f"/api/projects/{project.pk}/progress/"
    before = api["annotator"].get(url).json()
    assert before["items_total"] == 3 and before["judgments_needed"] == 6 and before["judgments_done"] == 0
    assert before["mine"] == {"done": 0, "skipped": 0, "total": 3}

    for name in ("annotator", "annotator2"):
        task = api[name].get(f"/api/projects/{project.pk}/next/").json()
        r = api[name].post(
            f"/api/assignments/{task['assignment']}/submit/",
            {"decision": "accept", "scores": GOOD_SCORES},
            format="json",
        )
        assert r.status_code == 201
    task = api["annotator"].get(f"/api/projects/{project.pk}/next/").json()
    api["annotator"].post(f"/api/assignments/{task['assignment']}/skip/")

    after = api["annotator"].get(url).json()
    assert after["judgments_done"] == 2 and after["percent_done"] == pytest.approx(33.3)
    assert after["items_by_state"][ItemState.COMPLETE] == 1
    assert after["mine"] == {"done": 1, "skipped": 1, "total": 2}
    assert api["annotator2"].get(url).json()["mine"] == {"done": 1, "skipped": 0, "total": 3}

    dash = api["lead"].get(f"/api/projects/{project.pk}/dashboard/").json()
    assert dash["progress"]["judgments_done"] == 2
    assert {a["username"]: a["submitted"] for a in dash["annotators"]} == {"annotator1": 1, "annotator2": 1}
    assert len(dash["throughput"]) == 24


def test_audit_is_paginated(api, users, project):
    for i in range(60):
        api["lead"].patch(f"/api/projects/{project.pk}/", {"description": f"v{i}"}, format="json")
    first = api["lead"].get(f"/api/projects/{project.pk}/audit/").json()
    assert first["count"] == AuditEvent.objects.filter(project=project).count() > 60
    assert len(first["results"]) == 50 and first["next"]
    assert first["results"][0]["verb"] == "project.updated" and first["results"][0]["actor"] == "lead"
    second = api["lead"].get(first["next"]).json()
    assert len(second["results"]) == first["count"] - 50


# --- schema ---------------------------------------------------------------------------------


def test_schema_lists_every_path(api):
    r = api["annotator"].get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    paths = json.loads(r.content)["paths"]
    for path in [
        "/api/auth/token/",
        "/api/projects/",
        "/api/projects/{project_id}/",
        "/api/projects/{project_id}/members/",
        "/api/projects/{project_id}/members/{user_id}/",
        "/api/projects/{project_id}/rubrics/",
        "/api/projects/{project_id}/items/",
        "/api/projects/{project_id}/items/import/",
        "/api/projects/{project_id}/next/",
        "/api/projects/{project_id}/progress/",
        "/api/projects/{project_id}/dashboard/",
        "/api/projects/{project_id}/judgments/",
        "/api/projects/{project_id}/audit/",
        "/api/assignments/{assignment_id}/submit/",
        "/api/assignments/{assignment_id}/submit-and-next/",
        "/api/assignments/{assignment_id}/skip/",
    ]:
        assert path in paths, path
    next_get = paths["/api/projects/{project_id}/next/"]["get"]
    assert {"200", "204"} <= set(next_get["responses"])
    # Lists are paginated in the schema too.
    listed = paths["/api/projects/{project_id}/judgments/"]["get"]["responses"]["200"]
    assert "Paginated" in json.dumps(listed)


def test_schema_generates_without_warnings(capsys):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    assert "Warning" not in capsys.readouterr().err
