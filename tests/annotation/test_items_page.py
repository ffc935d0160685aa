"""The lead's item list and the gold form on it."""

import json
import re

import pytest
from django.urls import reverse

from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.models import AuditEvent, Item
from tests.conftest import make_items

pytestmark = pytest.mark.django_db


def client_for(client, user):
    client.force_login(user)
    return client


def test_lead_marks_an_sft_item_gold_and_unmarks_it(client, project, users):
    make_items(project, users["lead"], 2)
    item = project.items.order_by("id").first()
    c = client_for(client, users["lead"])
    html = c.get(reverse("annotation:items", args=[project.pk])).content.decode()
    assert f'id="item-{item.pk}"' in html and "Mark gold" in html
    url = reverse("annotation:item-gold", args=[item.pk])
    assert c.post(url, {"decision": "edit", "text": "The known answer."}).status_code == 302
    item.refresh_from_db()
    assert item.is_gold and item.gold_answer["decision"] == "edit"
    assert item.gold_answer["text"] == "The known answer."
    assert AuditEvent.objects.filter(verb="item.gold_set", object_id=str(item.pk)).exists()
    gold_only = c.get(reverse("annotation:items", args=[project.pk]), {"gold": "yes"}).content.decode()
    assert gold_only.count('<tr id="item-') == 1 and "Unmark" in gold_only
    c.post(url, {"unset": "1"})
    item.refresh_from_db()
    assert not item.is_gold and item.gold_answer is None


def test_a_bad_gold_answer_is_refused_with_a_message(client, project, users):
    make_items(project, users["lead"], 1)
    item = project.items.get()
    c = client_for(client, users["lead"])
    page = c.post(
        reverse("annotation:item-gold", args=[item.pk]), {"decision": "edit", "text": ""}, follow=True
    )
    assert f"Item #{item.pk}:" in page.content.decode()
    assert not Item.objects.get(pk=item.pk).is_gold


def test_comparison_gold_names_the_winning_response(client, project, users):
    line = json.dumps({"prompt": "Which?", "responses": [{"text": "one"}, {"text": "two"}]})
    import_services.import_items(
        project=project, actor=users["lead"], records=parse_items(line, kind="comparison").records
    )
    item = project.items.get(kind="comparison")
    second = item.responses.order_by("position").last()
    c = client_for(client, users["lead"])
    c.post(reverse("annotation:item-gold", args=[item.pk]), {"winner": str(second.pk)})
    item.refresh_from_db()
    assert item.is_gold and item.gold_answer["winner"] == second.pk


@pytest.mark.parametrize("who, status", [("annotator", 403), ("outsider", 404)])
def test_only_leads_see_items_or_set_gold(client, project, users, who, status):
    make_items(project, users["lead"], 1)
    item = project.items.get()
    c = client_for(client, users[who])
    assert c.get(reverse("annotation:items", args=[project.pk])).status_code == status
    assert (
        c.post(reverse("annotation:item-gold", args=[item.pk]), {"decision": "accept"}).status_code == status
    )
    assert not Item.objects.get(pk=item.pk).is_gold


def test_prompts_are_escaped(client, project, users):
    line = json.dumps({"prompt": "<script>alert(1)</script>", "response": "ok"})
    import_services.import_items(project=project, actor=users["lead"], records=parse_items(line).records)
    html = (
        client_for(client, users["lead"]).get(reverse("annotation:items", args=[project.pk])).content.decode()
    )
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_items_are_paged_and_the_filters_survive_paging_and_gold_marking(client, project, users):
    from annotation.quality.views_items import ITEMS_PER_PAGE

    make_items(project, users["lead"], ITEMS_PER_PAGE + 3)
    c = client_for(client, users["lead"])
    url = reverse("annotation:items", args=[project.pk])
    first = c.get(url, {"kind": "sft"}).content.decode()
    assert first.count('<tr id="item-') == ITEMS_PER_PAGE
    after = re.search(r'href="\?kind=sft&amp;after=([\w-]+)" rel="next"', first).group(1)
    second = c.get(url, {"kind": "sft", "after": after}).content.decode()
    oldest = project.items.order_by("id").first()
    assert second.count('<tr id="item-') == 3 and f'id="item-{oldest.pk}"' in second
    assert 'rel="next"' not in second and 'rel="prev"' in second
    # Previous from the second page is the first page again
    before = re.search(r'href="\?kind=sft&amp;before=([\w-]+)" rel="prev"', second).group(1)
    again = c.get(url, {"kind": "sft", "before": before}).content.decode()
    assert re.findall(r'<tr id="(item-\d+)"', again) == re.findall(r'<tr id="(item-\d+)"', first)
    # an old ?page= link still shows that page; a cursor that does not decode starts from the top
    assert c.get(url, {"kind": "sft", "page": 2}).content.decode().count('<tr id="item-') == 3
    assert (
        c.get(url, {"kind": "sft", "after": "not-a-cursor"}).content.decode().count('<tr id="item-')
        == ITEMS_PER_PAGE
    )
    # marking gold from page 2 comes back to page 2 with the same filter
    res = c.post(
        reverse("annotation:item-gold", args=[oldest.pk]) + f"?kind=sft&after={after}", {"decision": "accept"}
    )
    assert res.status_code == 302 and res.url.endswith(f"?kind=sft&after={after}")
