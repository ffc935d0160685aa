"""The REST API under garbage input: every malformed request must answer 4xx, never 500.

Split from test_api.py; the `api` fixture is in tests/annotation/conftest.py.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Item, Judgment
from tests.conftest import GOOD_SCORES, make_items

pytestmark = pytest.mark.django_db


# --- garbage in, 4xx out --------------------------------------------------------------------

HUGE = 10**30


@pytest.fixture
def task(api, users, project):
    make_items(project, users["lead"], 2)
    return api["annotator"].get(f"/api/projects/{project.pk}/next/").json()


GARBAGE_PROJECT = [
    ("post", "/api/projects/", {"name": ""}),
    ("post", "/api/projects/", {"name": ["a list"]}),
    ("post", "/api/projects/", {"name": "x", "overlap": HUGE}),
    ("post", "/api/projects/", {"name": "x", "overlap": "three"}),
    ("post", "/api/projects/", {"name": "x", "agreement_threshold": "NaN"}),
    ("post", "/api/projects/", {"name": "x\x00y"}),
    ("post", "/api/projects/", []),
    ("post", "/api/projects/", "just a string"),
    ("patch", "/api/projects/{p}/", {"lease_minutes": -5}),
    ("patch", "/api/projects/{p}/", {"require_rationale": "perhaps"}),
    ("post", "/api/projects/{p}/members/", {}),
    ("post", "/api/projects/{p}/members/", {"username": "annotator2", "role": "overlord"}),
    ("post", "/api/projects/{p}/members/", {"user": HUGE, "role": "annotator"}),
    ("post", "/api/projects/{p}/members/", {"user": "abc", "role": "annotator"}),
    ("post", "/api/projects/{p}/members/", {"user": 987654, "role": "annotator"}),
    ("post", "/api/projects/{p}/members/", {"username": "ghost", "role": "annotator"}),
    ("post", "/api/projects/{p}/members/", {"username": {"a": 1}, "role": "annotator"}),
    ("delete", "/api/projects/{p}/members/987654/", None),
    ("delete", f"/api/projects/{{p}}/members/{HUGE}/", None),
    ("post", "/api/projects/{p}/rubrics/", {}),
    ("post", "/api/projects/{p}/rubrics/", {"criteria": "helpfulness"}),
    ("post", "/api/projects/{p}/rubrics/", {"criteria": [1, None, "x"]}),
    ("post", "/api/projects/{p}/rubrics/", {"criteria": [{"key": "a", "type": "labels", "labels": "ab"}]}),
    ("post", "/api/projects/{p}/items/import/", {}),
    ("post", "/api/projects/{p}/items/import/", {"data": 42}),
    ("post", "/api/projects/{p}/items/import/", {"data": ""}),
    ("post", "/api/projects/{p}/items/import/", {"data": "{}", "format": "xml"}),
    ("post", "/api/projects/{p}/items/import/", {"data": '{"prompt": "q"}', "mapping": "not json"}),
    ("post", "/api/projects/{p}/items/import/", {"data": '{"prompt": "q"}', "mapping": {"bogus": "x"}}),
    ("post", "/api/projects/{p}/items/import/", {"data": '{"prompt": "q"}', "mapping": {"prompt": 3}}),
    (
        "post",
        "/api/projects/{p}/items/import/",
        {"data": '{"prompt": "q", "response": "r", "priority": 1e300}'},
    ),
    ("post", "/api/projects/{p}/items/import/", {"data": '{"prompt": "q\\u0000", "response": "r"}'}),
    ("post", "/api/projects/{p}/items/import/", {"data": "[1, 2, 3]"}),
    ("get", "/api/projects/{p}/next/?kind=banana", None),
    ("get", f"/api/projects/{HUGE}/", None),
    ("get", "/api/projects/0/progress/", None),
    ("get", "/api/projects/abc/", None),
    ("post", f"/api/assignments/{HUGE}/submit/", {}),
    # the hot path's statements compiled once (hot_sql) take ids beyond every integer column: 404
    ("get", f"/api/projects/{HUGE}/next/", None),
    ("get", f"/api/projects/{2**40}/next/", None),
    ("post", f"/api/assignments/{2**40}/submit/", {"decision": "accept"}),
    ("post", "/api/assignments/abc/skip/", {}),
]


@pytest.mark.parametrize("method,url,body", GARBAGE_PROJECT)
def test_garbage_gives_4xx(api, project, method, url, body):
    client = api["admin"]
    response = getattr(client, method)(url.format(p=project.pk), body, format="json")
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    if response["Content-Type"].startswith("application/json"):
        assert "detail" in response.json()
    assert not Item.objects.filter(project=project).exists()


GARBAGE_SUBMIT = [
    {"decision": 5},
    {"decision": ["accept"]},
    {"decision": "accept", "scores": "great"},
    {"decision": "accept", "scores": [1, 2]},
    {"decision": "accept", "scores": {"helpfulness": HUGE, "safe": True}},
    {"decision": "accept", "scores": {"helpfulness": "4\x00", "safe": True}},
    {"decision": "accept", "scores": GOOD_SCORES, "flags": "pii,,nope"},
    {"decision": "accept", "scores": GOOD_SCORES, "flags": {"pii": True}},
    {"decision": "accept", "scores": GOOD_SCORES, "rubric_version": HUGE},
    {"decision": "accept", "scores": GOOD_SCORES, "rubric_version": "v1"},
    {"decision": "accept", "scores": GOOD_SCORES, "rubric_version": 987654},
    {"decision": "accept", "scores": GOOD_SCORES, "duration_seconds": "slow"},
    {"decision": "accept", "scores": GOOD_SCORES, "duration_seconds": 1e308},
    {"decision": "accept", "scores": GOOD_SCORES, "duration_seconds": -1},
    {"decision": "accept", "scores": GOOD_SCORES, "payload": "x"},
    {"decision": "accept", "scores": GOOD_SCORES, "payload": {"note": "nul\x00"}},
    {"decision": "edit", "edited_text": {"a": 1}, "scores": GOOD_SCORES},
    {"decision": "accept", "scores": GOOD_SCORES, "comment": None},
]


@pytest.mark.parametrize("body", GARBAGE_SUBMIT)
def test_garbage_submit_gives_4xx(api, task, body):
    r = api["annotator"].post(f"/api/assignments/{task['assignment']}/submit/", body, format="json")
    assert 400 <= r.status_code < 500, (r.status_code, r.content[:500])
    assert r.json()["errors"]
    assert not Judgment.objects.exists()


def test_non_json_and_wrong_content_types(api, project, task):
    client = api["annotator"]
    url = f"/api/assignments/{task['assignment']}/submit/"
    r = client.post(url, data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.json()["code"] == "parse_error"
    r = client.post(url, data="<xml/>", content_type="application/xml")
    assert r.status_code == 415
    r = client.post(url, data=b"\xff\xfe\x00", content_type="application/json")
    assert r.status_code == 400
    r = api["lead"].post(
        f"/api/projects/{project.pk}/items/import/", data=b"[1,2", content_type="application/json"
    )
    assert r.status_code == 400
    assert client.put(f"/api/projects/{project.pk}/", {}, format="json").status_code == 405
    assert client.get(url).status_code == 405


def test_binary_and_oversized_uploads(api, project):
    url = f"/api/projects/{project.pk}/items/import/"
    r = api["lead"].post(
        url, {"file": SimpleUploadedFile("x.jsonl", b"\xff\xfe\xfa garbage")}, format="multipart"
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "file"
    r = api["lead"].post(url, {"file": SimpleUploadedFile("x.csv", b"")}, format="multipart")
    assert r.status_code == 400
    r = api["lead"].post(url, {"file": "not a file"}, format="multipart")
    assert r.status_code == 400
    assert not Item.objects.exists()
