"""Adjudication by leads: outcomes (pick, override, edit gold, send back, discard), permissions on the
service, the pages and the API, the audit trail, escaping, and the disagreement queue flow."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.core.errors import Forbidden, InvalidInput
from annotation.models import Adjudication, AuditEvent, Item, ItemState, Judgment
from annotation.projects import services as project_services
from annotation.quality import adjudication
from annotation.queue import services as queue_services
from tests.conftest import GOOD_SCORES, make_items

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def judge(project, user, decision, text="", comment=""):
    a = queue_services.next_assignment(project=project, user=user)
    return queue_services.submit_judgment(
        assignment=a, user=user, decision=decision, scores=GOOD_SCORES, edited_text=text, comment=comment
    )


@pytest.fixture
def disputed(project, users):
    """Two disputed SFT items (accept vs edit)."""
    project_services.update_project(project=project, actor=users["admin"], agreement_routing=True)
    make_items(project, users["lead"], 2)
    out = []
    for _ in range(2):
        judge(project, users["annotator"], "accept", comment="<b>fine</b>")
        j = judge(project, users["annotator2"], "edit", text="<script>alert(1)</script> Better.")
        out.append(Item.objects.get(pk=j.item_id))
    assert all(i.state == ItemState.DISPUTED for i in out)
    return out


def api_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_pick_makes_the_judgment_final(disputed, users):
    item = disputed[0]
    edit = Judgment.objects.get(item=item, decision="edit")
    done = adjudication.adjudicate(
        item=item, lead=users["lead"], decision="pick", judgment_id=edit.pk, reason="The edit is right.",
        category="annotator_error",
    )  # fmt: skip
    item.refresh_from_db()
    assert item.state == ItemState.APPROVED
    assert item.resolution["decision"] == "edit" and "Better." in item.resolution["text"]
    assert item.resolution["adjudication"] == done.pk and done.chosen_judgment_id == edit.pk
    event = AuditEvent.objects.get(verb="item.adjudicated")
    assert event.actor == users["lead"] and event.data["decision"] == "pick"
    assert (event.data["old_state"], event.data["new_state"]) == ("disputed", "approved")


def test_override_edit_gold_discard_and_send_back(disputed, users):
    a, b = disputed
    adjudication.adjudicate(
        item=a, lead=users["lead"], decision="override", final={"decision": "reject"}, reason="Both wrong.",
        category="guideline_gap",
    )  # fmt: skip
    a.refresh_from_db()
    assert a.state == ItemState.APPROVED and a.resolution["decision"] == "reject"
    adjudication.adjudicate(
        item=a, lead=users["lead"], decision="edit_gold", final={"text": "The lead's answer."}, reason="Fix.",
        category="other",
    )  # fmt: skip
    a.refresh_from_db()
    assert a.resolution["decision"] == "edit" and a.resolution["text"] == "The lead's answer."
    adjudication.adjudicate(
        item=b, lead=users["lead"], decision="more", more=2, reason="Unsure.", category="other"
    )
    b.refresh_from_db()
    assert (b.state, b.extra_overlap) == (ItemState.OPEN, 2)
    adjudication.adjudicate(
        item=b, lead=users["lead"], decision="discard", reason="Junk.", category="ambiguous_prompt"
    )
    b.refresh_from_db()
    assert b.state == ItemState.DISCARDED
    assert Adjudication.objects.count() == 4
    assert AuditEvent.objects.filter(verb="item.adjudicated").count() == 4


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"decision": "pick", "reason": "x", "category": "other"}, "judgment"),
        ({"decision": "override", "reason": "", "category": "other"}, "reason"),
        ({"decision": "nope", "reason": "x", "category": "other"}, "decision"),
        ({"decision": "discard", "reason": "x", "category": "bad"}, "category"),
        ({"decision": "edit_gold", "reason": "x", "category": "other", "final": {}}, "text"),
    ],
)
def test_bad_adjudications_are_refused(disputed, users, kwargs, field):
    with pytest.raises(InvalidInput) as exc:
        adjudication.adjudicate(item=disputed[0], lead=users["lead"], **kwargs)
    assert field in exc.value.errors
    assert not Adjudication.objects.exists()


def test_annotators_cannot_adjudicate_service_pages_or_api(disputed, users):
    item = disputed[0]
    with pytest.raises(Forbidden):
        adjudication.adjudicate(
            item=item, lead=users["annotator"], decision="discard", reason="x", category="other"
        )
    with pytest.raises(Forbidden):
        adjudication.request_more_annotators(item=item, actor=users["annotator"])
    web = Client()
    web.force_login(users["annotator"])
    assert web.get(reverse("annotation:adjudicate", args=[item.pk])).status_code == 403
    post = {"decision": "discard", "reason": "x", "category": "other"}
    assert web.post(reverse("annotation:adjudicate", args=[item.pk]), post).status_code == 403
    assert web.get(reverse("annotation:disagreements", args=[item.project_id])).status_code == 403
    assert web.get(reverse("annotation:agreement", args=[item.project_id])).status_code == 403
    api = api_client(users["annotator"])
    assert api.post(f"/api/items/{item.pk}/adjudicate/", post, format="json").status_code == 403
    assert api.post(f"/api/items/{item.pk}/more-annotators/", {}, format="json").status_code == 403
    assert (
        api.post(f"/api/items/{item.pk}/gold/", {"answer": {"decision": "accept"}}, format="json").status_code
        == 403
    )
    assert api.get(f"/api/projects/{item.project_id}/disagreements/").status_code == 403
    outsider = api_client(users["outsider"])
    assert outsider.post(f"/api/items/{item.pk}/adjudicate/", post, format="json").status_code == 404
    item.refresh_from_db()
    assert item.state == ItemState.DISPUTED and not Adjudication.objects.exists()


def test_adjudication_page_shows_judgments_escaped_and_loads_the_next_item(disputed, users):
    first, second = disputed
    web = Client()
    web.force_login(users["lead"])
    page = web.get(reverse("annotation:adjudicate", args=[first.pk])).content.decode()
    assert "annotator1" in page and "annotator2" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Better." in page and "<script>alert(1)" not in page
    assert "&lt;b&gt;fine&lt;/b&gt;" in page
    queue = web.get(reverse("annotation:disagreements", args=[first.project_id])).content.decode()
    assert f"#{first.pk}" in queue and f"#{second.pk}" in queue
    pick = Judgment.objects.get(item=first, decision="accept")
    res = web.post(
        reverse("annotation:adjudicate", args=[first.pk]),
        {
            "decision": "pick",
            "judgment": pick.pk,
            "reason": "Accept is right.",
            "category": "annotator_error",
        },
        **HX,
    )
    assert res.status_code == 200
    assert res["HX-Push-Url"] == reverse("annotation:adjudicate", args=[second.pk])
    assert f"Adjudicate item #{second.pk}" in res.content.decode()
    assert "<html" not in res.content.decode()  # a partial
    res = web.post(
        reverse("annotation:adjudicate", args=[second.pk]), {"decision": "discard", "category": "other"}, **HX
    )
    assert res.status_code == 400 and "Say why." in res.content.decode()
    res = web.post(
        reverse("annotation:adjudicate", args=[second.pk]),
        {"decision": "discard", "reason": "spam", "category": "guideline_gap"},
        **HX,
    )
    assert res.status_code == 200 and "No disagreements waiting" in res.content.decode()
    rubric = web.get(reverse("annotation:rubric", args=[first.project_id])).content.decode()
    assert "Guideline gaps" in rubric and "spam" in rubric


def test_api_adjudicate_gold_and_more(disputed, users):
    a, b = disputed
    api = api_client(users["lead"])
    listed = api.get(f"/api/projects/{a.project_id}/disagreements/").json()
    assert [r["id"] for r in listed["results"]] == [a.pk, b.pk]
    res = api.post(
        f"/api/items/{a.pk}/adjudicate/",
        {"decision": "override", "final": {"decision": "accept"}, "reason": "ok", "category": "other"},
        format="json",
    )
    assert res.status_code == 201, res.json()
    assert res.json()["item_state"] == "approved" and res.json()["final"]["decision"] == "accept"
    res = api.post(
        f"/api/items/{b.pk}/adjudicate/",
        {"decision": "pick", "reason": "x", "category": "other"},
        format="json",
    )
    assert res.status_code == 400 and "judgment" in res.json()["errors"]
    res = api.post(f"/api/items/{b.pk}/more-annotators/", {"n": 1}, format="json")
    assert res.status_code == 200 and res.json()["state"] == "open" and res.json()["extra_overlap"] == 1
    res = api.post(f"/api/items/{b.pk}/gold/", {"answer": {"decision": "maybe"}}, format="json")
    assert res.status_code == 400
    res = api.post(f"/api/items/{b.pk}/gold/", {"answer": {"decision": "reject"}}, format="json")
    assert (
        res.status_code == 200 and res.json()["is_gold"] and res.json()["gold_answer"]["decision"] == "reject"
    )
    assert AuditEvent.objects.filter(verb="item.gold_set", actor=users["lead"]).count() == 1


def test_the_server_reads_each_group_of_fields_only_for_its_decision(disputed, users):
    """Without JS the page shows every field: a pick with the override, gold and "more" fields filled
    in (even with garbage) is still a pick; an override ignores a checked judgment."""
    first, second = disputed
    web = Client()
    web.force_login(users["lead"])
    pick = Judgment.objects.get(item=first, decision="accept")
    res = web.post(
        reverse("annotation:adjudicate", args=[first.pk]),
        {"decision": "pick", "judgment": pick.pk, "reason": "Accept is right.", "category": "annotator_error",
         "final_decision": "not-a-decision", "final_text": "Ignored text.", "more": "many"},
    )  # fmt: skip
    assert res.status_code == 302
    first.refresh_from_db()
    done = Adjudication.objects.get(item=first)
    assert first.state == ItemState.APPROVED and first.resolution["decision"] == "accept"
    assert (
        done.chosen_judgment_id == pick.pk and done.final["decision"] == "accept" and not done.final["text"]
    )
    other = Judgment.objects.get(item=second, decision="edit")
    res = web.post(
        reverse("annotation:adjudicate", args=[second.pk]),
        {"decision": "override", "judgment": other.pk, "reason": "Reject it.", "category": "annotator_error",
         "final_decision": "reject", "final_text": "", "more": "3"},
    )  # fmt: skip
    assert res.status_code == 302
    second.refresh_from_db()
    done = Adjudication.objects.get(item=second)
    assert second.state == ItemState.APPROVED and done.chosen_judgment_id is None
    assert second.resolution["decision"] == "reject"


def test_the_page_groups_the_fields_by_decision(disputed, users):
    web = Client()
    web.force_login(users["lead"])
    page = web.get(reverse("annotation:adjudicate", args=[disputed[0].pk])).content.decode()
    assert 'id="final-answer" data-decisions="override edit_gold"' in page
    assert 'data-decisions="override"><label for="final_decision">' in page
    assert 'id="more-box" data-decisions="more"' in page
