"""The preferences API: comparison import (atomic, line-numbered errors), the queue for comparisons
(blind slots in display order, slot payloads), curated pairs with filters, consensus, leaderboard."""

import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Assignment, Item, Judgment, Response
from annotation.queue import services as queue_services
from preferences.models import PreferencePair
from tests.preferences.factories import comparison_lines, judge, make_cmp_project, make_comparisons

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient(raise_request_exception=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def api(users):
    return {name: client_for(user) for name, user in users.items()}


@pytest.fixture
def cmp(users):
    return make_cmp_project(users)


def import_url(p):
    return f"/api/projects/{p.pk}/comparisons/import/"


# --- import -------------------------------------------------------------------------------------


def test_import_comparisons_jsonl(api, cmp):
    body = (
        comparison_lines(3)
        + "\n"
        + json.dumps(
            {
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}],
                "responses": [{"text": "Hello.", "model": "x"}, {"text": "Hi!", "model": "y"}, "Hey."],
            }
        )
    )
    response = api["lead"].post(import_url(cmp), {"data": body}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json() == {"created": 4, "duplicates": 0}
    items = Item.objects.filter(project=cmp)
    assert {i.kind for i in items} == {"comparison"}
    last = items.order_by("id").last()
    assert last.messages[0] == {"role": "system", "content": "Be brief."}
    assert list(last.responses.values_list("text", "model_name")) == [
        ("Hello.", "x"),
        ("Hi!", "y"),
        ("Hey.", ""),
    ]
    again = api["lead"].post(import_url(cmp), {"data": body}, format="json")
    assert again.json() == {"created": 0, "duplicates": 4}


def test_import_upload_file(api, cmp):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("cmp.jsonl", comparison_lines(2).encode())
    response = api["admin"].post(import_url(cmp), {"file": upload}, format="multipart")
    assert response.status_code == 201 and response.json()["created"] == 2


def test_import_is_all_or_nothing_with_line_numbers(api, cmp):
    good = comparison_lines(2).split("\n")
    body = "\n".join(
        [
            good[0],
            json.dumps({"prompt": "one response only", "responses": [{"text": "lonely"}]}),
            good[1],
            "{not json",
            json.dumps({"responses": [{"text": "a"}, {"text": ""}]}),
        ]
    )
    response = api["lead"].post(import_url(cmp), {"data": body}, format="json")
    assert response.status_code == 400
    data = response.json()
    assert data["code"] == "import_failed"
    by_line = {(e["line"], e["field"]) for e in data["errors"]}
    assert (2, "responses") in by_line
    assert (4, "line") in by_line
    assert (5, "prompt") in by_line and (5, "responses[1].text") in by_line
    assert not Item.objects.filter(project=cmp).exists()


def test_import_permissions(api, cmp):
    body = {"data": comparison_lines(1)}
    assert api["annotator"].post(import_url(cmp), body, format="json").status_code == 403
    assert api["outsider"].post(import_url(cmp), body, format="json").status_code == 404
    assert APIClient().post(import_url(cmp), body, format="json").status_code in (401, 403)
    assert not Item.objects.exists()


# --- the queue for comparisons ---------------------------------------------------------------------


def test_next_returns_slots_in_display_order_without_models_and_submit_maps_them(api, users, cmp):
    make_comparisons(cmp, users["lead"], 1, models=("m1", "m2", "m3"))
    response = api["annotator"].get(f"/api/projects/{cmp.pk}/next/", {"kind": "comparison"})
    assert response.status_code == 200
    task = response.json()
    assignment = Assignment.objects.get(pk=task["assignment"])
    texts = [Response.objects.get(pk=r).text for r in assignment.display_order]
    assert task["item"]["kind"] == "comparison"
    assert task["item"]["responses"] == [{"slot": s, "text": t} for s, t in zip("ABC", texts, strict=True)]
    assert "m1" not in json.dumps(task)

    url = f"/api/assignments/{assignment.pk}/submit/"
    bad = api["annotator"].post(url, {"payload": {"ranking": "A>B>D"}}, format="json")
    assert bad.status_code == 400 and "ranking" in bad.json()["errors"]
    ok = api["annotator"].post(
        url,
        {"payload": {"ranking": "B>C=A", "harmful": ["C"], "criteria": {"honesty": "A>B>C"}}, "comment": "x"},
        format="json",
    )
    assert ok.status_code == 201, ok.json()
    payload = Judgment.objects.get(assignment=assignment).payload
    o = assignment.display_order
    assert [sorted(g) for g in payload["ranking"]] == [[o[1]], sorted([o[0], o[2]])]
    assert payload["harmful"] == [o[2]]
    assert payload["criteria"]["honesty"]["ranking"] == [[o[0]], [o[1]], [o[2]]]


def test_next_after_an_improvement_shows_only_the_compared_responses(api, users, cmp):
    make_comparisons(cmp, users["lead"], 1)
    judge(cmp, users["annotator"], payload={"choice": "A", "strength": 1, "improved_text": "Much better."})
    assert Response.objects.filter(model_name="human").count() == 1
    task = api["annotator2"].get(f"/api/projects/{cmp.pk}/next/", {"kind": "comparison"}).json()
    assert [r["slot"] for r in task["item"]["responses"]] == ["A", "B"]
    assert "Much better." not in json.dumps(task)


def test_next_never_shows_hidden_responses_even_without_a_stored_order(api, users, cmp, client):
    """An assignment with no stored display order (older rows) shows the compared responses in
    canonical order, never an annotator's improved text (the API used to fall back to every
    response); the compare page shows the same slots, from the same builder."""
    make_comparisons(cmp, users["lead"], 1)
    judge(cmp, users["annotator"], payload={"choice": "A", "strength": 1, "improved_text": "Much better."})
    first = api["annotator2"].get(f"/api/projects/{cmp.pk}/next/", {"kind": "comparison"}).json()
    Assignment.objects.filter(pk=first["assignment"]).update(display_order=[])
    task = api["annotator2"].get(f"/api/projects/{cmp.pk}/next/", {"kind": "comparison"}).json()
    assert task["assignment"] == first["assignment"] and task["reason"] == "resume"
    item = Item.objects.get(pk=task["item"]["id"])
    shown = list(item.responses.filter(shown=True).order_by("position").values_list("text", flat=True))
    assert task["item"]["responses"] == [{"slot": s, "text": t} for s, t in zip("AB", shown, strict=True)]
    assert "Much better." not in json.dumps(task)
    client.force_login(users["annotator2"])
    html = client.get(f"/projects/{cmp.pk}/compare/").content.decode()
    assert "Much better." not in html
    assert html.index(shown[0]) < html.index(shown[1])
    assert 'data-slots="AB"' in html


# --- pairs, consensus, leaderboard ------------------------------------------------------------------


@pytest.fixture
def judged(users, cmp):
    make_comparisons(cmp, users["lead"], 3)
    make_comparisons(cmp, users["lead"], 2, start=10, models=("model-b", "model-c"))
    for user in ("annotator", "annotator2"):
        for _ in range(5):
            a = queue_services.next_assignment(project=cmp, user=users[user], kind="comparison")
            names = [Response.objects.get(pk=r).model_name for r in a.display_order]
            best = "model-a" if "model-a" in names else "model-b"
            queue_services.submit_judgment(
                assignment=a, user=users[user], payload={"choice": "AB"[names.index(best)], "strength": 2}
            )
    return cmp


def test_consensus_endpoint_and_roles(api, judged):
    url = f"/api/projects/{judged.pk}/consensus/"
    assert api["annotator"].post(url, {}, format="json").status_code == 403
    assert api["outsider"].post(url, {}, format="json").status_code == 404
    bad = api["lead"].post(url, {"rule": "dictator"}, format="json")
    assert bad.status_code == 400 and "rule" in bad.json()["errors"]
    assert api["lead"].post(url, {"rule": "dawid_skene"}, format="json").status_code == 200
    response = api["lead"].post(url, {"rule": "majority"}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "comparisons": 5, "pairs": 5, "ties": 0, "both_bad": 0, "adjudicated": 0, "discarded": 0,
        "harmful": 0,
    }  # fmt: skip
    assert PreferencePair.objects.filter(project=judged).count() == 5


def test_pairs_list_filters_and_update(api, judged):
    api["lead"].post(f"/api/projects/{judged.pk}/consensus/", {}, format="json")
    url = f"/api/projects/{judged.pk}/pairs/"
    assert api["annotator"].get(url).status_code == 403
    data = api["lead"].get(url).json()
    assert data["count"] == 5 and "results" in data  # paginated
    first = data["results"][0]
    assert set(first) >= {"prompt", "chosen", "rejected", "chosen_text", "confidence", "margin", "n_votes"}
    assert first["chosen"]["model_name"] in ("model-a", "model-b")
    assert api["lead"].get(url, {"model": "model-c"}).json()["count"] == 2
    assert api["lead"].get(url, {"model": "model-a"}).json()["count"] == 3
    assert api["lead"].get(url, {"criterion": "overall", "rubric_version": 1}).json()["count"] == 5
    assert api["lead"].get(url, {"criterion": "honesty"}).json()["count"] == 0
    assert api["lead"].get(url, {"min_confidence": 0.99}).json()["count"] == 5
    bad = api["lead"].get(url, {"min_confidence": "lots", "status": "maybe"})
    assert bad.status_code == 400 and {"min_confidence", "status"} <= set(bad.json()["errors"])

    pair_url = f"/api/pairs/{first['id']}/"
    assert api["annotator"].post(pair_url, {"status": "approved"}, format="json").status_code == 403
    assert api["outsider"].post(pair_url, {"status": "approved"}, format="json").status_code == 404
    assert api["lead"].post(pair_url, {"status": "nope"}, format="json").status_code == 400
    response = api["lead"].post(pair_url, {"status": "approved", "chosen_text": "Edited."}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "approved" and response.json()["chosen_text"] == "Edited."
    assert response.json()["decided_by"] == "lead"
    assert api["lead"].get(url, {"status": "approved"}).json()["count"] == 1
    assert api["lead"].get(pair_url).json()["chosen_text"] == "Edited."


def test_leaderboard_json(api, judged):
    url = f"/api/projects/{judged.pk}/leaderboard/"
    assert api["annotator"].get(url).status_code == 403
    data = api["lead"].get(url).json()
    assert [m["model"] for m in data["models"]] == ["model-a", "model-b", "model-c"]
    assert data["names"] == ["model-a", "model-b", "model-c"]
    top = data["models"][0]
    assert top["strength_ci"][0] <= top["strength"] <= top["strength_ci"][1]
    assert data["matrix"][0][1] == 1.0 and data["matrix"][0][2] is None  # a and c never met
    assert data["n_outcomes"] == 10
    assert set(data["position_bias"]["per_annotator"]) == {"annotator1", "annotator2"}
    base = api["lead"].get(url, {"baseline": "model-b"}).json()
    assert base["baseline"] == "model-b"
    row_b = next(m for m in base["models"] if m["model"] == "model-b")
    assert abs(row_b["win_rate"] - 0.5) < 1e-6


def test_schema_lists_the_preferences_endpoints(api):
    response = api["lead"].get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    for path in (
        "/api/projects/{project_id}/comparisons/import/",
        "/api/projects/{project_id}/pairs/",
        "/api/pairs/{pair_id}/",
        "/api/projects/{project_id}/consensus/",
        "/api/projects/{project_id}/leaderboard/",
    ):
        assert path in paths


def test_pairs_list_reports_and_filters_harmful_chosen_responses(api, users, cmp):
    make_comparisons(cmp, users["lead"], 2)
    judge(cmp, users["annotator"], prefer="model-a", harmful=["model-a"])
    judge(cmp, users["annotator2"], prefer="model-a", harmful=["model-a"])
    judge(cmp, users["annotator"], prefer="model-a")
    judge(cmp, users["annotator2"], prefer="model-a", harmful=["model-b"])
    stats = api["lead"].post(f"/api/projects/{cmp.pk}/consensus/", {}, format="json").json()
    assert stats["pairs"] == 2 and stats["harmful"] == 1
    url = f"/api/projects/{cmp.pk}/pairs/"
    rows = api["lead"].get(url).json()["results"]
    got = sorted((r["chosen_harmful_flags"], r["chosen_harmful_majority"], r["status"]) for r in rows)
    assert got == [(0, False, "candidate"), (2, True, "candidate")]
    kept = api["lead"].get(url, {"hide_harmful": "true"}).json()
    assert kept["count"] == 1 and kept["results"][0]["chosen_harmful_flags"] == 0
    assert api["lead"].get(url, {"hide_harmful": "nope"}).status_code == 400
