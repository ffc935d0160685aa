"""Keyset pagination (annotation.core.keyset) and the page figure cache (annotation.core.page_cache)."""

import pytest
from django.http import QueryDict

from annotation.core import keyset, page_cache
from annotation.models import Item
from tests.conftest import make_items

pytestmark = pytest.mark.django_db

ORDER = ["-priority", "id"]  # ties in the first field: the unique last one must break them


def walk(qs, per_page, *, forward=True):
    """Every page, following next (or, from the last page, previous) cursors."""
    pages, params = [], QueryDict(mutable=True)
    if not forward:
        params["after"] = keyset.encode([-1, 0])  # past the end: nothing
        assert keyset.paginate(qs, ORDER, params, per_page).object_list == []
        last = list(qs.order_by(*ORDER))[-1]
        params = QueryDict(mutable=True)
        params["before"] = keyset.encode([last.priority, last.pk + 1])  # just after the last row
    while True:
        page = keyset.paginate(qs, ORDER, params, per_page)
        pages.append([row.pk for row in page.object_list])
        params = QueryDict(mutable=True)
        if forward and page.has_next:
            params["after"] = page.next_cursor
        elif not forward and page.has_previous:
            params["before"] = page.previous_cursor
        else:
            return pages


def test_pages_forward_and_back_cover_every_row_once_in_order(project, users):
    make_items(project, users["lead"], 7, priority=1)
    make_items(project, users["lead"], 6, start=7, priority=0)
    make_items(project, users["lead"], 4, start=13, priority=2)
    qs = Item.objects.filter(project=project)
    expected = [i.pk for i in qs.order_by(*ORDER)]
    forward = walk(qs, 5)
    assert [pk for page in forward for pk in page] == expected
    assert [len(p) for p in forward] == [5, 5, 5, 2]
    backward = walk(qs, 5, forward=False)
    assert [pk for page in reversed(backward) for pk in page] == expected


@pytest.mark.parametrize(
    "params",
    [
        {"after": "garbage"},
        {"before": "%%%"},
        {"after": keyset.encode([1])},
        {"after": keyset.encode([True, 1])},
    ]
    + [{"page": "x"}, {"page": "-3"}, {"page": "99999999"}],
)
def test_bad_cursors_and_page_numbers_start_from_the_top(project, users, params):
    make_items(project, users["lead"], 4)
    qs = Item.objects.filter(project=project)
    query = QueryDict(mutable=True)
    query.update(params)
    page = keyset.paginate(qs, ORDER, query, 3)
    assert [i.pk for i in page.object_list] == [i.pk for i in qs.order_by(*ORDER)[:3]]
    assert page.has_next and not page.has_previous


def test_an_old_page_link_still_shows_its_page(project, users):
    make_items(project, users["lead"], 7)
    qs = Item.objects.filter(project=project)
    page = keyset.paginate(qs, ORDER, QueryDict("page=3"), 3)
    assert [i.pk for i in page.object_list] == [i.pk for i in qs.order_by(*ORDER)[6:]]
    assert page.has_previous and not page.has_next


def test_filter_query_drops_only_the_paging_parameters():
    assert (
        keyset.filter_query(QueryDict("kind=sft&after=abc&page=2&before=x&state=open"))
        == "kind=sft&state=open"
    )


def test_costly_figures_are_served_from_the_cache_until_the_data_and_a_minute_moved(monkeypatch):
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    monkeypatch.setattr(page_cache, "CHEAP", 0.0)  # every computation counts as costly
    monkeypatch.setattr(page_cache, "MAX_AGE", 3600)
    assert page_cache.figures("k", 1, compute)[0] == 1
    assert page_cache.figures("k", 1, compute)[0] == 1  # same data: cached
    assert page_cache.figures("k", 2, compute)[0] == 1  # newer data, but the copy is young
    monkeypatch.setattr(page_cache, "MAX_AGE", 0)
    assert page_cache.figures("k", 2, compute)[0] == 2  # newer data and an old copy: recomputed
    assert page_cache.figures("k", 2, compute)[0] == 2  # and that copy serves the same data


def test_cheap_figures_are_always_fresh(monkeypatch):
    calls = []
    monkeypatch.setattr(page_cache, "CHEAP", 3600.0)  # nothing is costly
    for _ in range(3):
        page_cache.figures("cheap", 1, lambda: calls.append(1))
    assert len(calls) == 3
