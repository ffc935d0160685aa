"""The lead's item list and the gold form on it."""

import json
import re

import pytest
from django.urls import reverse

from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.models import AuditEvent, Item
from annotation.quality import item_list
from tests.annotation.test_item_list import world  # noqa: F401  (five items, each filter's case)
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


# --- search, filters, responses, page size ------------------------------------------------------


def rows(html):
    return re.findall(r'<tr id="item-(\d+)"', html)


def test_each_row_shows_its_responses_escaped_in_a_details(client, project, users, world):  # noqa: F811
    html = (
        client_for(client, users["lead"]).get(reverse("annotation:items", args=[project.pk])).content.decode()
    )
    assert html.count('<details class="item-response">') == 6  # four SFT responses, the comparison's two
    assert "Knead the dough for 10 minutes." in html and "Bonjour, ça va?" in html
    assert "Response 2" in html  # a comparison's responses are numbered
    assert "<script>alert(1)</script>" not in html
    assert "It is 50_50 &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "5 items match." in html


def test_search_and_filters_narrow_the_page(client, project, users, world):  # noqa: F811
    c = client_for(client, users["lead"])
    url = reverse("annotation:items", args=[project.pk])
    found = c.get(url, {"q": "KNEAD", "tag": "baking", "disputed": "yes"}).content.decode()
    assert rows(found) == [str(world["bread"].pk)] and "1 item matches." in found
    assert 'value="KNEAD"' in found and 'value="baking"' in found and "Clear filters" in found
    chosen = c.get(url, {"active_learning": "yes"}).content.decode()
    assert rows(chosen) == [str(world["hi"].pk)]
    none = c.get(url, {"q": "nowhere", "kind": "comparison"}).content.decode()
    assert rows(none) == [] and "0 items match." in none and "No items match these filters." in none


def test_an_empty_project_says_so(client, project, users):
    html = (
        client_for(client, users["lead"]).get(reverse("annotation:items", args=[project.pk])).content.decode()
    )
    assert "This project has no items yet." in html and "Clear filters" not in html


def test_page_size_and_filters_survive_paging(client, project, users):
    make_items(project, users["lead"], 27)
    c = client_for(client, users["lead"])
    url = reverse("annotation:items", args=[project.pk])
    first = c.get(url, {"q": "question", "size": "25"}).content.decode()
    assert len(rows(first)) == 25 and "27 items match." in first
    assert '<option value="25" selected>' in first
    after = re.search(r'href="\?q=question&amp;size=25&amp;after=([\w-]+)" rel="next"', first).group(1)
    second = c.get(url, {"q": "question", "size": "25", "after": after}).content.decode()
    assert len(rows(second)) == 2 and "27 items match." in second
    assert set(rows(first)).isdisjoint(rows(second))
    assert len(rows(c.get(url, {"size": "100"}).content.decode())) == 27


def test_the_filter_form_swaps_only_the_results_for_htmx(client, project, users, world):  # noqa: F811
    c = client_for(client, users["lead"])
    url = reverse("annotation:items", args=[project.pk])
    html = c.get(url, {"q": "hello"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="item-results"' in html
    assert 'id="item-filters"' not in html and rows(html) == [str(world["hi"].pk)]
    full = c.get(url).content.decode()
    assert 'hx-target="#item-results"' in full and 'method="get"' in full  # works without JS too


def test_the_count_says_more_than_its_cap(client, project, users, world, monkeypatch):  # noqa: F811
    monkeypatch.setattr(item_list, "COUNT_CAP", 3)
    c = client_for(client, users["lead"])
    url = reverse("annotation:items", args=[project.pk])
    assert "More than 3 items match." in c.get(url).content.decode()
    assert "2 items match." in c.get(url, {"disputed": "yes"}).content.decode()
