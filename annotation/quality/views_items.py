"""The lead's Items page: search, filters, the responses of each item, a page size, keyset paging.

Thin: the filters are `item_list.filter_items` (the items API uses the same function); every query
parameter goes through annotation.core.web's helpers, so a value outside what the page takes is a 400.
"""

from django.contrib.auth.decorators import login_required

from annotation.core import keyset
from annotation.core.web import page, project_for, query_choice, query_text
from annotation.kinds import registry
from annotation.models import Decision, Item, ItemState
from annotation.quality import item_list

ITEMS_PER_PAGE = item_list.DEFAULT_PAGE_SIZE  # when the request names no page size


def read_filters(request) -> item_list.ItemFilters:
    """The page's filters from the query string (400 for a value the page does not take)."""
    yes_no = item_list.YES_NO
    return item_list.ItemFilters(
        q=query_text(request, "q").strip(),
        state=query_choice(request, "state", ItemState.values),
        kind=query_choice(request, "kind", [kind for kind, _ in registry.choices()]),
        gold=query_choice(request, "gold", yes_no),
        disputed=query_choice(request, "disputed", yes_no),
        tag=query_text(request, "tag").strip(),
        active_learning=query_choice(request, "active_learning", yes_no),
    )


@login_required
def items(request, pk):
    """Lead's item list: search and filters, each item's responses, and a form to mark it gold."""
    project = project_for(request, pk, "adjudicate")
    filters = read_filters(request)
    size = int(query_choice(request, "size", item_list.PAGE_SIZES, str(ITEMS_PER_PAGE)))
    parts = item_list.filtered_parts(Item.objects.filter(project=project), filters)
    count, more = item_list.capped_count(parts)
    page_obj = keyset.paginate_union(parts, ["-id"], request.GET, size)
    item_list.attach_responses(page_obj.object_list)
    for item in page_obj.object_list:
        item.gold_template = registry.get(item.kind).gold_template  # the kind's gold answer form
    context = {
        "items": page_obj.object_list,
        "page_obj": page_obj,
        "filter_query": keyset.filter_query(request.GET),
        "filters": filters,
        "size": size,
        "page_sizes": item_list.PAGE_SIZES,
        "count": count,
        "count_more": more,
        "count_cap": item_list.COUNT_CAP,
        "states": Item._meta.get_field("state").choices,
        "kinds": registry.choices(),
        "sft_decisions": Decision.choices,
    }
    return page(request, project, "annotation/items.html", "annotation/_items_results.html", context)
