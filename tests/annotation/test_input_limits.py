"""Size and content limits on input (issue 14): a body over the limit is a 413 in the API's error
format (not Django's HTML 400), and imported texts that are too long or hold characters no database
stores are refused with their line and field, nothing stored."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.importing.parse import MAX_TEXT_CHARS, parse_items
from annotation.models import Item

pytestmark = pytest.mark.django_db


def test_oversized_json_body_is_a_413_in_the_api_format(api, project, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    data = "\n".join(json.dumps({"prompt": f"q{i}", "response": "r" * 100}) for i in range(200))
    r = api["lead"].post(f"/api/projects/{project.pk}/items/import/", {"data": data}, format="json")
    assert r.status_code == 413 and r["Content-Type"].startswith("application/json")
    assert r.json()["code"] == "too_large" and "10,000 bytes" in r.json()["detail"]
    assert not Item.objects.exists()


@pytest.mark.parametrize(
    "row,field,message",
    [
        ({"prompt": "q" * (MAX_TEXT_CHARS + 1), "response": "r"}, "prompt", "At most 200,000 characters"),
        ({"prompt": "q", "response": "r" * (MAX_TEXT_CHARS + 1)}, "response", "At most 200,000 characters"),
        ({"prompt": "q", "response": "nul\x00"}, "line", "NUL"),  # caught on the whole line first
        (
            {"messages": [{"role": "user", "content": "a\ud800"}], "response": "r"},
            "line",
            "surrogate",
        ),
    ],
)
def test_imported_texts_are_checked(row, field, message):
    text = json.dumps({"prompt": "fine", "response": "ok"}) + "\n" + json.dumps(row)
    result = parse_items(text, fmt="jsonl")
    assert not result.ok
    assert [(e.line, e.field) for e in result.errors] == [(2, field)]
    assert message in result.errors[0].message


def test_file_upload_with_bad_text_stores_nothing(api, project):
    body = (
        json.dumps({"prompt": "fine", "response": "ok"}) + "\n" + '{"prompt": "q\\ud800", "response": "r"}'
    ).encode()
    r = api["lead"].post(
        f"/api/projects/{project.pk}/items/import/",
        {"file": SimpleUploadedFile("x.jsonl", body)},
        format="multipart",
    )
    assert r.status_code == 400, r.content[:300]
    assert "line 2" in json.dumps(r.json()) or any(e.get("line") == 2 for e in r.json().get("errors", []))
    assert not Item.objects.exists()
