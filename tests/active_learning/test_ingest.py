"""Ingest: validation with line and field, exact duplicates skipped and counted, all or nothing,
the project ingest token, the batch limit, files, the management command."""

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.active_learning import ingest, records
from annotation.active_learning.models import ProductionSample
from tests.active_learning.conftest import ingest_rows, jsonl, sample_rows

pytestmark = pytest.mark.django_db


def api_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_parse_names_line_and_field():
    rows = [
        {"prompt": "ok", "output": "fine"},
        {"prompt": "no output"},
        {"output": "x", "thumbs": "sideways"},
    ]
    with pytest.raises(records.ImportFailed) as err:
        records.parse_rows(rows)
    found = {(e.line, e.field) for e in err.value.errors}
    assert (2, "output") in found and (3, "prompt") in found and (3, "thumbs") in found
    assert all(e.line != 1 for e in err.value.errors)


def test_parse_jsonl_and_csv_with_messages_and_feedback():
    text = jsonl(
        [
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
             "output": "Hello", "thumbs": "down", "retried": True, "edited_text": "Hello there",
             "timestamp": "2025-01-02T03:04:05Z", "metadata": {"user": "u1"}},
        ]
    )  # fmt: skip
    [rec] = records.parse_text(text, fmt="jsonl")
    assert (
        rec.messages[0]["role"] == "system"
        and rec.thumbs == "down"
        and rec.retried
        and rec.timestamp.year == 2025
    )
    csv_text = 'prompt,output,retried,metadata\nWhat?,That.,yes,"{""a"": 1}"\n'
    [row] = records.parse_text(csv_text, fmt="csv")
    assert row.retried and row.metadata == {"a": 1} and row.line == 2
    with pytest.raises(records.ImportFailed) as err:
        records.parse_text('{"prompt": "a", "output": "b"}\nnot json\n', fmt="jsonl")
    assert err.value.errors[0].line == 2


def test_duplicates_skipped_and_counted(project, users):
    rows = sample_rows(6)
    first = ingest_rows(project, users["lead"], rows + [dict(rows[0], output="  " + rows[0]["output"] + " ")])
    assert first.as_dict() == {"created": 6, "duplicates": 1}
    again = ingest_rows(project, users["lead"], rows[:3] + sample_rows(2, start=100))
    assert again.as_dict() == {"created": 2, "duplicates": 3}
    assert ProductionSample.objects.filter(project=project).count() == 8


def test_a_bad_row_writes_nothing_api(project, users):
    api = api_for(users["lead"])
    rows = sample_rows(5)
    rows[3] = {"prompt": "", "output": "x"}
    response = api.post(f"/api/projects/{project.pk}/samples/ingest/", {"samples": rows}, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert {"line": 4, "field": "prompt"} == {k: errors[0][k] for k in ("line", "field")}
    assert not ProductionSample.objects.exists()


def test_batch_limit_and_roles(project, users):
    url = f"/api/projects/{project.pk}/samples/ingest/"
    too_many = api_for(users["lead"]).post(url, {"samples": sample_rows(1001)}, format="json")
    assert too_many.status_code == 400 and "samples" in too_many.json()["errors"]
    assert (
        api_for(users["annotator"]).post(url, {"samples": sample_rows(2)}, format="json").status_code == 403
    )
    assert api_for(users["outsider"]).post(url, {"samples": sample_rows(2)}, format="json").status_code == 404
    ok = api_for(users["lead"]).post(url, {"samples": sample_rows(1000)}, format="json")
    assert ok.status_code == 201 and ok.json() == {"created": 1000, "duplicates": 0}


def test_project_token_ingest_without_a_user(project, users, django_user_model):
    from annotation.projects import services as project_services

    other = project_services.create_project(name="Other", created_by=users["admin"])
    token, secret = ingest.create_token(project=project, actor=users["lead"], name="prod")
    assert token.token_hash != secret and secret not in str(token.__dict__)
    client = APIClient()
    url = f"/api/projects/{project.pk}/samples/ingest/"
    response = client.post(
        url, {"samples": sample_rows(3)}, format="json", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert response.status_code == 201, response.content
    response = client.post(url, sample_rows(4), format="json", HTTP_X_TUNELOOP_INGEST_TOKEN=secret)
    assert response.json() == {"created": 1, "duplicates": 3}
    assert client.post(f"/api/projects/{other.pk}/samples/ingest/", {"samples": sample_rows(1)}, format="json",
                       HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 404  # fmt: skip
    assert (
        client.post(
            url, {"samples": sample_rows(1)}, format="json", HTTP_AUTHORIZATION="Bearer tlk_wrong"
        ).status_code
        == 401
    )
    assert client.post(url, {"samples": sample_rows(1)}, format="json").status_code in (401, 403)
    # the token reads nothing else
    assert client.get(
        f"/api/projects/{project.pk}/samples/", HTTP_AUTHORIZATION=f"Bearer {secret}"
    ).status_code in (401, 403)
    ingest.revoke_token(token=token, actor=users["lead"])
    assert (
        client.post(
            url, {"samples": sample_rows(1, start=50)}, format="json", HTTP_AUTHORIZATION=f"Bearer {secret}"
        ).status_code
        == 401
    )
    assert ProductionSample.objects.filter(project=project).count() == 4


def test_token_api_shows_the_secret_once(project, users):
    api = api_for(users["lead"])
    created = api.post(f"/api/projects/{project.pk}/ingest-tokens/", {"name": "svc"}, format="json")
    assert created.status_code == 201 and created.json()["token"].startswith("tlk_")
    listed = api.get(f"/api/projects/{project.pk}/ingest-tokens/").json()
    assert "token" not in listed[0] and listed[0]["prefix"] == created.json()["token"][:12]
    assert api_for(users["annotator"]).get(f"/api/projects/{project.pk}/ingest-tokens/").status_code == 403


def test_file_import_api_page_and_command(project, users, client, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    api = api_for(users["lead"])
    response = api.post(
        f"/api/projects/{project.pk}/samples/import/",
        {"file": SimpleUploadedFile("s.jsonl", jsonl(sample_rows(3)).encode())},
        format="multipart",
    )
    assert response.status_code == 201 and response.json()["created"] == 3
    client.force_login(users["lead"])
    client.post(
        f"/projects/{project.pk}/production/import/",
        {"file": SimpleUploadedFile("s.jsonl", jsonl(sample_rows(5)).encode())},
    )
    assert ProductionSample.objects.filter(project=project).count() == 5
    path = tmp_path / "more.csv"
    path.write_text("prompt,output\nA question?,An answer.\nA question?,An answer.\n")
    call_command("ingest_samples", str(project.pk), str(path), "--user", "lead")
    assert ProductionSample.objects.filter(project=project).count() == 6


def test_ingested_fields_round_trip(project, users):
    """The raw INSERT (executemany on SQLite, multi-row VALUES on PostgreSQL) stores every field."""
    rows = [
        {
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Q {i} é"}],
            "output": f"A {i} ✓",
            "model_version": "v2",
            "timestamp": "2024-05-01T12:30:00Z",
            "metadata": {"user": i, "tags": ["a", "b"]},
            "thumbs": "down" if i else "up",
            "retried": bool(i % 2),
            "edited_text": "better" if i == 2 else "",
            "id": f"ext-{i}",
        }
        for i in range(3)
    ]
    assert ingest_rows(project, users["lead"], rows).created == 3
    stored = list(ProductionSample.objects.filter(project=project).order_by("external_id"))
    assert [s.external_id for s in stored] == ["ext-0", "ext-1", "ext-2"]
    s = stored[2]
    assert s.messages[1] == {"role": "user", "content": "Q 2 é"} and s.prompt == "Q 2 é"
    assert (s.output, s.model_version, s.thumbs, s.retried, s.edited_text) == (
        "A 2 ✓",
        "v2",
        "down",
        False,
        "better",
    )
    assert (
        s.metadata == {"user": 2, "tags": ["a", "b"]}
        and s.timestamp.isoformat() == "2024-05-01T12:30:00+00:00"
    )
    assert stored[0].thumbs == "up" and stored[1].retried and s.created_at is not None
