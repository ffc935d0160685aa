"""An SFT judgment's `payload` holds only its known keys (issues, reason), typed and capped: else a
400 naming the field, and nothing is stored."""

import pytest

from annotation.models import Judgment
from tests.conftest import GOOD_SCORES, make_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def submit(api, users, project):
    make_items(project, users["lead"], 1)
    task = api["annotator"].get(f"/api/projects/{project.pk}/next/").json()

    def post(payload):
        body = {"decision": "reject", "scores": GOOD_SCORES, "payload": payload}
        return api["annotator"].post(f"/api/assignments/{task['assignment']}/submit/", body, format="json")

    return post


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"winner": 3}, "payload.winner"),
        ({"issues": "hallucination"}, "payload.issues"),
        ({"issues": ["x"] * 17}, "payload.issues"),
        ({"issues": ["x" * 65]}, "payload.issues"),
        ({"issues": [1]}, "payload.issues"),
        ({"issues": ["  "]}, "payload.issues"),
        ({"reason": 5}, "payload.reason"),
        ({"reason": "x" * 2001}, "payload.reason"),
        ({"reason": {"nested": "object"}}, "payload.reason"),
    ],
)
def test_bad_payload_is_a_400_naming_the_field(submit, payload, field):
    r = submit(payload)
    assert r.status_code == 400, r.content
    assert field in r.json()["errors"]
    assert not Judgment.objects.exists()


def test_known_payload_is_stored_normalised(submit):
    r = submit({"issues": [" hallucination ", "tone"], "reason": " Made up a citation. "})
    assert r.status_code == 201, r.content
    assert Judgment.objects.get().payload == {
        "issues": ["hallucination", "tone"],
        "reason": "Made up a citation.",
    }
    assert submit({}).status_code == 201  # a second submit supersedes; an empty payload is fine
    assert Judgment.objects.get(is_current=True).payload == {}
