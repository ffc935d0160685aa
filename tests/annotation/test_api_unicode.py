"""Lone surrogates (valid JSON escapes, not valid Unicode) anywhere in a request: a 400 in the API's
error format, never a 500 from a message that quotes them back (issue 14)."""

import json

import pytest
from rest_framework import exceptions

from annotation.core.api import exception_handler, safe_text
from annotation.core.errors import InvalidInput
from annotation.models import Item, Judgment
from tests.conftest import make_items

pytestmark = pytest.mark.django_db


def raw_post(client, url, text: str):
    return client.post(url, data=text.encode("utf-8"), content_type="application/json")


@pytest.fixture
def task(api, users, project):
    make_items(project, users["lead"], 2)
    return api["annotator"].get(f"/api/projects/{project.pk}/next/").json()


@pytest.mark.parametrize(
    "body",
    [
        '{"decision": "accept", "scores": {"\\udc00": 1}}',
        '{"decision": "accept", "scores": {"helpfulness": 4, "safe": true}, "comment": "x\\ud800y"}',
        '{"decision": "edit", "edited_text": "\\udfff", "scores": {"helpfulness": 4, "safe": true}}',
        '{"\\ud800": "key"}',
    ],
)
def test_submit_with_lone_surrogate_is_a_400(api, task, body):
    r = raw_post(api["annotator"], f"/api/assignments/{task['assignment']}/submit/", body)
    assert r.status_code == 400, r.content[:300]
    assert r.json()["code"] == "parse_error" and "surrogate" in r.json()["detail"]
    assert not Judgment.objects.exists()


def test_import_mapping_and_token_with_lone_surrogate_are_400(api, client, project):
    r = raw_post(
        api["lead"],
        f"/api/projects/{project.pk}/items/import/",
        '{"data": "{\\"q\\": \\"a\\"}", "mapping": {"prompt": "\\ud800"}}',
    )
    assert r.status_code == 400 and "surrogate" in r.json()["detail"]
    r = raw_post(client, "/api/auth/token/", '{"username": "\\ud800", "password": "x"}')
    assert r.status_code == 400
    assert not Item.objects.exists()


def test_import_lines_with_lone_surrogates_are_refused_with_their_line(api, project):
    lines = (
        json.dumps({"prompt": "fine", "response": "ok"}) + "\n" + '{"prompt": "q\\ud800", "response": "r"}'
    )
    r = api["lead"].post(f"/api/projects/{project.pk}/items/import/", {"data": lines}, format="json")
    assert r.status_code == 400, r.content[:300]
    r.content.decode("utf-8")  # the body is valid UTF-8
    assert not Item.objects.exists()


def test_error_bodies_are_always_encodable():
    assert safe_text({"a\ud800": ["x\udc00y", 3]}) == {"a\ufffd": ["x\ufffdy", 3]}
    assert safe_text("fine ✓") == "fine ✓"
    response = exception_handler(InvalidInput(errors={"\udc00": ["bad key \udc00"]}), {})
    json.dumps(response.data, ensure_ascii=False).encode("utf-8")
    response = exception_handler(exceptions.ValidationError({"scores": ["unknown \ud800"]}), {})
    json.dumps(response.data, ensure_ascii=False).encode("utf-8")


def test_every_json_endpoint_uses_our_parser():
    """A view naming DRF's own JSONParser would skip the depth and surrogate checks."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for app in ("annotation", "preferences", "training", "evaluation", "config")
        for path in (root / app).rglob("*.py")
        if "JSONParser" in (text := path.read_text())
        and (
            "rest_framework.parsers import" in text
            and "JSONParser" in text.split("rest_framework.parsers import")[1].split("\n")[0]
        )
    ]
    assert offenders == []
