"""The Items page's filter function (annotation.quality.item_list): each filter, combinations, search in
the prompt and in the responses (case, LIKE wildcards, JSON escapes, non-ASCII), the two-part search
that PostgreSQL reads, the capped count and keyset paging over disjoint parts. The same cases run on
SQLite and, marked, on PostgreSQL (with the side table's trigram indexes of migration
0026_item_search_side_table: before its rows are written, after, and with an item made since)."""

import json

import pytest
from django.db.models import Value

from annotation.core import keyset
from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.models import Item, ItemSearchPending, ItemState, ProductionSample, SelectionBatch
from annotation.projects import services as project_services
from annotation.quality import adjudication, item_list, search_index
from annotation.quality.item_list import ItemFilters
from tests.annotation.test_adjudication import judge

pytestmark = pytest.mark.django_db


def load(project, actor, kind, rows):
    parsed = parse_items("\n".join(json.dumps(r) for r in rows), kind=kind)
    assert parsed.ok, parsed.errors
    import_services.import_items(project=project, actor=actor, records=parsed.records, source="test")


@pytest.fixture
def world(project, users):
    """Five items: bread (disputed, tagged), proof (gold, a script in its response), quote (disputed
    then adjudicated), a comparison chosen by active learning, and a plain one."""
    lead = users["lead"]
    project_services.update_project(project=project, actor=users["admin"], agreement_routing=True)
    load(project, lead, "sft", [
        {"prompt": "How do I bake BREAD?", "response": "Knead the dough for 10 minutes.", "priority": 10,
         "metadata": {"tags": ["baking", "easy"]}},
        {"prompt": 'Quote "this" please', "response": "back\\slash and tab\there", "priority": 9},
        {"prompt": "Describe 100% proof", "response": "It is 50_50 <script>alert(1)</script>",
         "metadata": {"tags": ["spirits"]}},
        {"prompt": "Plain question", "response": "Plain answer.", "metadata": {"tags": "baking"}},
    ])  # fmt: skip
    load(project, lead, "comparison", [
        {"prompt": "Say hi", "responses": [{"text": "Hello there"}, {"text": "Bonjour, ça va?"}]},
    ])  # fmt: skip
    by = {name: Item.objects.get(project=project, messages__0__content__startswith=p) for name, p in [
        ("bread", "How"), ("quote", "Quote"), ("proof", "Describe"), ("plain", "Plain"), ("hi", "Say"),
    ]}  # fmt: skip
    for _ in range(2):  # bread, then quote: accept against reject -> disputed
        judge(project, users["annotator"], "accept")
        judge(project, users["annotator2"], "reject")
    adjudication.adjudicate(item=by["quote"], lead=lead, decision="discard", reason="Spam.", category="other")
    adjudication.set_gold(item=by["proof"], actor=lead, answer={"decision": "accept"})
    batch = SelectionBatch.objects.create(project=project, strategy="uncertainty", budget=1)
    ProductionSample.objects.create(
        project=project, messages=[{"role": "user", "content": "Say hi"}], output="Hello there",
        content_hash="h" * 64, selected_batch=batch, item=by["hi"],
    )  # fmt: skip
    for item in by.values():
        item.refresh_from_db()
    assert by["bread"].state == ItemState.DISPUTED and by["quote"].state == ItemState.DISCARDED
    return by


def names(world, qs):
    ids = set(qs.values_list("pk", flat=True))
    return {name for name, item in world.items() if item.pk in ids}


CASES = [
    (ItemFilters(), {"bread", "quote", "proof", "plain", "hi"}),
    (ItemFilters(state="disputed"), {"bread"}),
    (ItemFilters(state="discarded"), {"quote"}),
    (ItemFilters(kind="comparison"), {"hi"}),
    (ItemFilters(gold="yes"), {"proof"}),
    (ItemFilters(gold="no"), {"bread", "quote", "plain", "hi"}),
    (ItemFilters(disputed="yes"), {"bread", "quote"}),  # waiting now, or adjudicated
    (ItemFilters(disputed="no"), {"proof", "plain", "hi"}),
    (ItemFilters(tag="baking"), {"bread"}),  # a list holds it ("plain" has a string, not a list)
    (ItemFilters(tag="spirits"), {"proof"}),
    (ItemFilters(tag="bak"), set()),  # whole tags only
    (ItemFilters(active_learning="yes"), {"hi"}),
    (ItemFilters(active_learning="no"), {"bread", "quote", "proof", "plain"}),
    # search: the prompt, a response, any case
    (ItemFilters(q="bread"), {"bread"}),
    (ItemFilters(q="KNEAD THE"), {"bread"}),
    (ItemFilters(q="bonjour"), {"hi"}),  # the second response of a comparison
    (ItemFilters(q="ça va"), {"hi"}),
    (ItemFilters(q="plain"), {"plain"}),  # prompt and response both match: listed once
    (ItemFilters(q="0%"), {"proof"}),  # % is a character, not a wildcard ("10 minutes" does not match)
    (ItemFilters(q="0_5"), {"proof"}),  # so is _
    (ItemFilters(q='"this"'), {"quote"}),  # quotes in the prompt (jsonb's text escapes them)
    (ItemFilters(q="back\\slash"), {"quote"}),  # a backslash in a response
    (ItemFilters(q="content"), set()),  # the conversation's keys are not its text
    (ItemFilters(q="user"), set()),
    (ItemFilters(q="<script>"), {"proof"}),
    (ItemFilters(q="nowhere at all"), set()),
    # combinations
    (ItemFilters(q="e", kind="sft", gold="no"), {"bread", "quote", "plain"}),
    (ItemFilters(q="e", disputed="no", active_learning="no"), {"proof", "plain"}),
    (ItemFilters(q="bread", state="open"), set()),
    (ItemFilters(tag="baking", disputed="yes", state="disputed", q="dough"), {"bread"}),
]


def check_filters(project, world):
    items = Item.objects.filter(project=project)
    for filters, expected in CASES:
        assert names(world, item_list.filter_items(items, filters)) == expected, filters
        parts = item_list.filtered_parts(items, filters)
        found = [names(world, part) for part in parts]
        assert set().union(*found) == expected, filters
        assert sum(len(f) for f in found) == len(expected), ("parts overlap", filters)
        assert item_list.capped_count(parts) == (len(expected), False), filters


def test_each_filter_and_their_combinations(project, world):
    check_filters(project, world)


SEARCHES = ["bread", "KNEAD THE", "bonjour", "ça va", "ÇA VA", "plain", "0%", "0_5", '"this"', "back\\slash",
            "tab\there", "content", "user", "e", "er", "late", "Here; late", "a\x1fb", "nowhere at all"]  # fmt: skip


def plain_search(project, text):
    """The search's expressions over every item of the project, without the side table."""
    direct = item_list._in_prompt(text) | item_list._in_response(text)
    qs = Item.objects.filter(project=project).alias(prompt=item_list.PromptText("messages")).filter(direct)
    return set(qs.values_list("pk", flat=True))


def searched(project, text):
    """(the one-queryset search, the union of the parts), as item ids; the parts must be disjoint."""
    items, filters = Item.objects.filter(project=project), ItemFilters(q=text)
    parts = [list(part.values_list("pk", flat=True)) for part in item_list.filtered_parts(items, filters)]
    union = set().union(*parts)
    assert sum(len(p) for p in parts) == len(union), ("parts overlap", text)
    return set(item_list.filter_items(items, filters).values_list("pk", flat=True)), union


@pytest.mark.postgres
def test_each_filter_and_their_combinations_on_postgres(project, world, users):
    """PostgreSQL: the search's parts, jsonb's text form of the prompt, the tags' containment; the same
    results before the side table's rows are written, after, and with an item made after them."""
    from django.db import connection  # deferred: only this test asks which database it runs on

    assert connection.vendor == "postgresql"
    check_filters(project, world)
    before = {text: searched(project, text) for text in SEARCHES}
    assert ItemSearchPending.objects.count() == len(world)  # every item waits for its row
    assert search_index.fill(project.pk) == len(world)
    assert search_index.fill(project.pk) == 0  # each item once
    check_filters(project, world)
    after = {text: searched(project, text) for text in SEARCHES}
    assert after == before
    for text in SEARCHES:
        assert after[text] == (plain_search(project, text),) * 2, text
    upper = item_list.filter_items(Item.objects.filter(project=project), ItemFilters(q="ÇA VA"))
    assert names(world, upper) == {"hi"}  # PostgreSQL folds the case of non-ASCII letters too

    load(project, users["lead"], "sft", [{"prompt": "Late arrival", "response": "Here; late"}])
    late = Item.objects.get(project=project, messages__0__content="Late arrival").pk
    for text in SEARCHES:  # found at once, without a row, through the direct part
        assert searched(project, text) == (plain_search(project, text),) * 2, text
    assert late in searched(project, "here; LATE")[1] and late in searched(project, "arrival")[1]
    assert ItemSearchPending.objects.filter(item_id=late).exists()  # the trigger queued it
    assert search_index.fill() == 1
    assert not ItemSearchPending.objects.exists()
    for text in SEARCHES:
        assert searched(project, text) == (plain_search(project, text),) * 2, text
    assert late in searched(project, "here; LATE")[1]


@pytest.mark.postgres
def test_a_match_never_spans_two_responses_on_postgres(project, world):
    """The side table joins a comparison's responses with a separator: "there" + "Bonjour" is no match."""
    search_index.fill(project.pk)
    assert searched(project, "thereBonjour") == (set(), set())
    assert searched(project, "there\x1fBonjour") == (set(), set())  # holds the separator: searched directly
    assert searched(project, "Hello there") == ({world["hi"].pk},) * 2


@pytest.mark.postgres
def test_search_reads_the_trigram_indexes_on_postgres(project, world):
    """The search's expressions are the side table's indexes' (a tiny table is read by any plan: scans
    without an index condition are turned off, so a plan that can use the trigram indexes must)."""
    from django.db import connection  # deferred: only this test asks which database it runs on

    search_index.fill()
    prompt, response, unindexed = item_list.filtered_parts(Item.objects.all(), ItemFilters(q="knead"))
    with connection.cursor() as cursor:
        for knob in ("seqscan", "indexscan", "indexonlyscan"):
            cursor.execute(f"SET LOCAL enable_{knob} = off")
        plans = [part.explain() for part in (prompt, response)]
        tags = Item.objects.filter(item_list.HasTag("metadata", Value("baking"))).explain()
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%%trgm%%' ORDER BY 1")
        trigram = [name for (name,) in cursor.fetchall()]
    assert "item_search_prompt_trgm_idx" in plans[0], plans[0]
    assert "item_search_responses_trgm_idx" in plans[1], plans[1]
    assert "item_tags_idx" in tags, tags
    assert trigram == ["item_search_prompt_trgm_idx", "item_search_responses_trgm_idx"]  # none on items


def test_the_search_index_is_postgres_only(project, world):
    """SQLite: nothing to fill, the search is the plain LIKE (one part); PostgreSQL: the side table's
    prompt and response parts and the pending items' direct part (three)."""
    from django.db import connection

    parts = item_list.filtered_parts(Item.objects.all(), ItemFilters(q="bread"))
    if connection.vendor == "sqlite":
        assert search_index.fill() == 0 and search_index.purge() == 0
        assert len(parts) == 1
    else:
        assert len(parts) == 3


def test_the_count_stops_at_its_cap(project, world):
    parts = item_list.filtered_parts(Item.objects.filter(project=project), ItemFilters(q="e"))
    assert item_list.capped_count(parts, cap=2) == (2, True)
    assert item_list.capped_count(parts, cap=5) == (5, False)


def test_keyset_paging_over_disjoint_parts_merges_them_in_order(project, world):
    """The items whose prompt matches and the others, paged together newest first, both ways."""
    qs = Item.objects.filter(project=project)
    odd, even = qs.filter(pk__in=[i.pk for i in world.values()][::2]), None
    even = qs.exclude(pk__in=odd.values("pk"))
    newest_first = list(qs.order_by("-id").values_list("pk", flat=True))
    first = keyset.paginate_union([odd, even], ["-id"], {}, 2)
    assert [i.pk for i in first.object_list] == newest_first[:2] and first.has_next
    second = keyset.paginate_union([odd, even], ["-id"], {"after": first.next_cursor}, 2)
    assert [i.pk for i in second.object_list] == newest_first[2:4] and second.has_previous
    third = keyset.paginate_union([odd, even], ["-id"], {"after": second.next_cursor}, 2)
    assert [i.pk for i in third.object_list] == newest_first[4:] and not third.has_next
    back = keyset.paginate_union([odd, even], ["-id"], {"before": second.previous_cursor}, 2)
    assert [i.pk for i in back.object_list] == newest_first[:2] and not back.has_previous
    by_offset = keyset.paginate_union([odd, even], ["-id"], {"page": "2"}, 2)
    assert [i.pk for i in by_offset.object_list] == newest_first[2:4]


def test_responses_of_a_page_come_in_one_query(project, world, django_assert_num_queries):
    items = list(Item.objects.filter(project=project))
    with django_assert_num_queries(1):
        item_list.attach_responses(items)
        texts = {i.pk: [r.text for r in i.responses.all()] for i in items}
    assert texts[world["hi"].pk] == ["Hello there", "Bonjour, ça va?"]


def test_the_items_api_takes_the_same_filters(project, world, api):
    url = f"/api/projects/{project.pk}/items/"

    def ids(**params):
        r = api["lead"].get(url, params)
        assert r.status_code == 200, r.json()
        return {name for name, item in world.items() if item.pk in {x["id"] for x in r.json()["results"]}}

    assert ids(q="bonjour") == {"hi"}
    assert ids(q="KNEAD", tag="baking", disputed="yes") == {"bread"}
    assert ids(gold="yes") == {"proof"} and ids(disputed="no", active_learning="no") == {"proof", "plain"}
    assert ids(active_learning="yes") == {"hi"} and ids(q="e", kind="sft", gold="no") == {
        "bread",
        "quote",
        "plain",
    }
    paged = api["lead"].get(url, {"page_size": 2}).json()
    assert len(paged["results"]) == 2 and paged["count"] == 5 and "page_size=2" in paged["next"]
    for bad in ({"disputed": "maybe"}, {"gold": "true"}, {"q": "a\x00b"}, {"tag": "x" * 201},
                {"page_size": 0}, {"page_size": 500}, {"active_learning": "1"}):  # fmt: skip
        r = api["lead"].get(url, bad)
        assert r.status_code == 400 and next(iter(bad)) in r.json()["errors"], (bad, r.json())
    schema = api["lead"].get("/api/schema/?format=json").json()
    listed = {p["name"] for p in schema["paths"]["/api/projects/{project_id}/items/"]["get"]["parameters"]}
    assert {"q", "state", "kind", "gold", "disputed", "tag", "active_learning", "page_size"} <= listed
