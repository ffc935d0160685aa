"""`POST /api/assignments/{id}/submit-and-next/`: a submit and a next in one request (what the
annotate page's htmx submit does for the browser). The judgment is stored exactly as by submit, the
next item leased exactly as by next; a refused judgment leases nothing; with an Idempotency-Key a
retry gets the first answer, the same next item, and stores nothing new; on PostgreSQL it costs the
statements of a submit and a next without the second token lookup."""

import pytest

from annotation.models import Assignment, AssignmentState, Judgment
from tests.annotation.factories import client_for
from tests.annotation.test_hot_path import check_counters, max_statements
from tests.conftest import GOOD_SCORES, make_items
from tests.preferences.factories import make_cmp_project, make_comparisons

pytestmark = pytest.mark.django_db
BODY = {"decision": "accept", "scores": GOOD_SCORES}


def url(task) -> str:
    return f"/api/assignments/{task['assignment']}/submit-and-next/"


def test_it_submits_then_leases_the_next_item_until_none_is_left(project, users):
    make_items(project, users["lead"], 3)
    client = client_for(users["annotator"])
    task = client.get(f"/api/projects/{project.pk}/next/").json()
    seen = [task["item"]["id"]]
    for left in (2, 1, 0):
        r = client.post(url(task), {**BODY, "comment": f"left {left}"}, format="json")
        assert r.status_code == 201, r.content
        body = r.json()
        judgment = Judgment.objects.get(pk=body["judgment"]["id"])
        assert judgment.assignment_id == task["assignment"] and judgment.comment == f"left {left}"
        assert (
            body["judgment"]["item"] == task["item"]["id"] and body["judgment"]["annotator"] == "annotator1"
        )
        if left == 0:
            assert body["next"] is None
            break
        task = body["next"]
        assert task["reason"] == "queue" and task["item"]["id"] not in seen
        assert task["rubric_version"]["number"] == 1 and task["item"]["responses"][0]["slot"] == "A"
        assert Assignment.objects.get(pk=task["assignment"]).state == AssignmentState.LEASED
        seen.append(task["item"]["id"])
    assert len(seen) == 3
    assert Judgment.objects.filter(annotator=users["annotator"]).count() == 3
    # the same body as GET next would have given: nothing left now
    assert client.get(f"/api/projects/{project.pk}/next/").status_code == 204
    check_counters(project)


def test_the_next_item_matches_what_next_gives_and_a_leased_one_is_resumed(project, users):
    make_items(project, users["lead"], 3)
    client = client_for(users["annotator"])
    task = client.get(f"/api/projects/{project.pk}/next/").json()
    following = client.post(url(task), BODY, format="json").json()["next"]
    # GET next now resumes that same lease: the two calls agree on the caller's next item
    again = client.get(f"/api/projects/{project.pk}/next/").json()
    assert again["assignment"] == following["assignment"] and again["reason"] == "resume"
    assert {k: v for k, v in again.items() if k not in ("reason", "leased_until")} == {
        k: v for k, v in following.items() if k not in ("reason", "leased_until")
    }


def test_a_refused_judgment_stores_nothing_and_leases_nothing(project, users):
    make_items(project, users["lead"], 2)
    client = client_for(users["annotator"])
    task = client.get(f"/api/projects/{project.pk}/next/").json()
    r = client.post(url(task), {"decision": "maybe", "scores": GOOD_SCORES}, format="json")
    assert r.status_code == 400 and "decision" in r.json()["errors"]
    assert not Judgment.objects.exists()
    assert Assignment.objects.filter(annotator=users["annotator"]).count() == 1
    # someone else's assignment: 404, as submit answers
    other = client_for(users["annotator2"])
    assert other.post(url(task), BODY, format="json").status_code == 404
    assert not Judgment.objects.exists()
    assert Assignment.objects.filter(annotator=users["annotator2"]).count() == 0


def test_kind_defaults_to_the_submitted_items_and_can_be_chosen(users):
    cmp = make_cmp_project(users)
    make_comparisons(cmp, users["lead"], 2)
    make_items(cmp, users["lead"], 2)  # SFT items in the same project
    client = client_for(users["annotator"])
    task = client.get(f"/api/projects/{cmp.pk}/next/?kind=comparison").json()
    body = {"payload": {"choice": "A", "strength": 2}}
    following = client.post(url(task), body, format="json").json()["next"]
    assert following["item"]["kind"] == "comparison"
    sft = client.post(url(following) + "?kind=sft", body, format="json").json()["next"]
    assert sft["item"]["kind"] == "sft"
    assert client.post(url(sft) + "?kind=bogus", BODY, format="json").status_code == 400
    assert not Judgment.objects.filter(assignment_id=sft["assignment"]).exists()  # refused before storing


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer(project, users):
    make_items(project, users["lead"], 3)
    client = client_for(users["annotator"])
    task = client.get(f"/api/projects/{project.pk}/next/").json()
    first = client.post(url(task), BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(url(task), BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert Judgment.objects.filter(annotator=users["annotator"]).count() == 1
    assert Assignment.objects.filter(annotator=users["annotator"], state=AssignmentState.LEASED).count() == 1
    reused = client.post(url(task), {**BODY, "comment": "other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert reused.status_code == 422


def test_anonymous_and_outsiders_are_refused(project, users):
    from rest_framework.test import APIClient

    make_items(project, users["lead"], 1)
    task = client_for(users["annotator"]).get(f"/api/projects/{project.pk}/next/").json()
    assert APIClient().post(url(task), BODY, format="json").status_code == 401
    assert client_for(users["outsider"]).post(url(task), BODY, format="json").status_code == 404
    assert not Judgment.objects.exists()


@pytest.mark.postgres
@pytest.mark.parametrize("size", [3, 300])
def test_statements_are_a_submits_and_a_nexts_without_a_second_token_lookup(project, users, size):
    make_items(project, users["lead"], size)
    client = client_for(users["annotator"])
    task = client.get(f"/api/projects/{project.pk}/next/").json()
    for _ in range(2):
        # submit 4 (token, lock, writes, version bump) + next 3 (project, user lock, pick)
        with max_statements(7):
            r = client.post(url(task), BODY, format="json")
        assert r.status_code == 201, r.content
        task = r.json()["next"]
    check_counters(project)
