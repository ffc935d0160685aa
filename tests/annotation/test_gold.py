"""Gold items: served by chance outside the overlap, never routed, invisible as gold to annotators
(the `next` API payload and the review page), and scored per annotator."""

import json

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.core.errors import Forbidden, InvalidInput
from annotation.models import Item, ItemState
from annotation.projects import services as project_services
from annotation.quality import adjudication
from annotation.quality import selectors as quality_selectors
from annotation.queue import services as queue_services
from tests.conftest import GOOD_SCORES, make_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def gold_project(project, users, monkeypatch):
    project_services.update_project(
        project=project, actor=users["admin"], gold_share=0.5, agreement_routing=True
    )
    make_items(project, users["lead"], 3)
    gold = Item.objects.filter(project=project).order_by("id").last()
    adjudication.set_gold(
        item=gold, actor=users["lead"], answer={"decision": "reject", "scores": {"safe": False}}
    )
    return project, gold


def roll(monkeypatch, value):
    monkeypatch.setattr(queue_services, "_gold_roll", lambda: value)


def submit(a, user, decision, scores=GOOD_SCORES):
    return queue_services.submit_judgment(assignment=a, user=user, decision=decision, scores=scores)


def test_gold_items_are_served_by_chance_to_everyone_once(
    gold_project, users, monkeypatch, django_user_model
):
    project, gold = gold_project
    roll(monkeypatch, 0.9)  # above gold_share: the normal queue
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    assert a.item_id != gold.pk
    submit(a, users["annotator"], "accept")
    roll(monkeypatch, 0.1)  # below gold_share: a gold item
    third = django_user_model.objects.create_user("third")
    project_services.set_membership(project=project, actor=users["admin"], user=third, role="annotator")
    got = []
    for user in (users["annotator"], users["annotator2"], third):  # more than overlap (2): no limit
        g = queue_services.next_assignment(project=project, user=user)
        assert g.item_id == gold.pk and g.reason == "queue"
        submit(g, user, "reject" if user != third else "accept")
        got.append(g)
    gold.refresh_from_db()
    assert gold.state == ItemState.OPEN  # never routed, never "complete"
    assert (
        queue_services.next_assignment(project=project, user=users["annotator"]).item_id != gold.pk
    )  # once each
    roll(monkeypatch, 0.9)
    # the normal queue never hands out gold items
    seen = []
    while (nxt := queue_services.next_assignment(project=project, user=users["annotator2"])) is not None:
        seen.append(nxt.item_id)
        submit(nxt, users["annotator2"], "accept")
    assert gold.pk not in seen
    accuracy = {r["username"]: r for r in quality_selectors.gold_accuracy(project)}
    assert accuracy["annotator1"]["accuracy"] == 1.0 and accuracy["third"]["accuracy"] == 0.0
    assert accuracy["annotator2"]["correct"] == 1 and accuracy["annotator2"]["n"] == 1
    assert accuracy["annotator1"]["score_accuracy"] == 0.0  # GOOD_SCORES says safe=True, gold says False


def _api_next(user, project):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    res = client.get(f"/api/projects/{project.pk}/next/")
    assert res.status_code == 200
    return res.json()


def _shape(value):
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


def test_gold_is_invisible_in_the_next_payload(gold_project, users, monkeypatch):
    project, gold = gold_project
    roll(monkeypatch, 0.1)
    gold_payload = _api_next(users["annotator"], project)
    assert gold_payload["item"]["id"] == gold.pk
    roll(monkeypatch, 0.9)
    normal_payload = _api_next(users["annotator2"], project)
    assert normal_payload["item"]["id"] != gold.pk
    assert _shape(gold_payload) == _shape(normal_payload)  # same keys, same types
    assert "gold" not in json.dumps(gold_payload).lower()
    assert gold_payload["reason"] == normal_payload["reason"] == "queue"


def test_gold_is_invisible_on_the_review_page(gold_project, users, monkeypatch):
    project, gold = gold_project
    pages = {}
    for user, value in ((users["annotator"], 0.1), (users["annotator2"], 0.9)):
        roll(monkeypatch, value)
        web = Client()
        web.force_login(user)
        pages[value] = web.get(reverse("annotation:review", args=[project.pk])).content.decode()
    gold_page, normal_page = pages[0.1], pages[0.9]
    assert f"#{gold.pk}" in gold_page and f"#{gold.pk}" not in normal_page
    # "gold" appears in the page's own labels (the gold-answer edit box), equally often on both pages
    assert gold_page.lower().count("gold") == normal_page.lower().count("gold")
    assert "is_gold" not in gold_page and "reject" not in gold_page.split("Decision")[0]


def test_set_gold_validates_the_answer_and_needs_a_lead(project, users):
    make_items(project, users["lead"], 1)
    item = project.items.get()
    with pytest.raises(InvalidInput):
        adjudication.set_gold(item=item, actor=users["lead"], answer={"decision": "edit"})  # edit needs text
    with pytest.raises(Forbidden):
        adjudication.set_gold(item=item, actor=users["annotator"], answer={"decision": "accept"})
    adjudication.set_gold(item=item, actor=users["lead"], answer={"decision": "edit", "text": "Gold."})
    item.refresh_from_db()
    assert item.is_gold and item.gold_answer == {"decision": "edit", "text": "Gold."}
    adjudication.set_gold(item=item, actor=users["lead"], answer=None, is_gold=False)
    item.refresh_from_db()
    assert not item.is_gold and item.gold_answer is None
