"""The lead's item list, shared by the Items page and the items API: one filter function over a
project's items (search in the prompt and the responses, state, kind, gold, disputed, tag, chosen by
active learning), the responses of a page in one query, and a result count that stops counting at
`COUNT_CAP` (a page at 1M items never counts them all).

Search is case-insensitive. The prompt is the text of the conversation's `content` values
(`jsonb_path_query_array`, matched against the search text as JSON writes it), the responses are
`Response.text`. On PostgreSQL the texts are copied, after the items are created, into a side table
with trigram indexes (`ItemSearchText`, annotation.quality.search_index, migration
0026_item_search_side_table); `filtered_parts` splits a search into three disjoint querysets, each
with its own plan: items with a search row whose prompt matches, those whose responses match and
prompt does not, and the items still waiting for their row (`ItemSearchPending`: just created; an
import's rows are written after it commits) matched directly with the same expressions. On SQLite it is a plain LIKE over the items'
own texts (ASCII letters only are case-folded).

A tag is a string in the item's `metadata["tags"]` list (as imported). "Disputed" is the notion of
the leads' disagreement queue (`selectors.disagreements`): the item waits there now (state disputed,
not gold) or a lead has adjudicated it. "Active learning" items are those an active-learning selection
batch created (a selected production sample points at them).
"""

import json
from dataclasses import asdict, dataclass

from django.db import connection
from django.db.models import (
    BooleanField,
    Exists,
    Func,
    OuterRef,
    Prefetch,
    Q,
    TextField,
    Value,
    prefetch_related_objects,
)

from annotation.models import (
    Adjudication,
    ItemSearchPending,
    ItemSearchText,
    ItemState,
    ProductionSample,
    Response,
)
from annotation.quality.search_index import SEPARATOR

PAGE_SIZES = (25, 50, 100, 200)  # the page sizes offered; any other value is a 400
DEFAULT_PAGE_SIZE = 50
COUNT_CAP = 1_000  # the result count reads at most this many rows ("More than 1000 items match.")
YES_NO = ("yes", "no")


@dataclass(frozen=True)
class ItemFilters:
    """What the lead asked for; an empty value means "any"."""

    q: str = ""
    state: str = ""
    kind: str = ""
    gold: str = ""  # yes / no
    disputed: str = ""  # yes / no
    tag: str = ""
    active_learning: str = ""  # yes / no

    @property
    def active(self) -> bool:
        return any(asdict(self).values())


class PromptText(Func):
    """The text of an item's conversation (every message's content), for search."""

    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra):
        # The same expression as the trigram index's (jsonb_path_query_array is IMMUTABLE).
        template = "(jsonb_path_query_array(%(expressions)s, '$[*].content'))::text"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        template = (
            "(SELECT group_concat(json_extract(m.value, '$.content'), char(10)) "
            "FROM json_each(%(expressions)s) AS m)"
        )
        return self.as_sql(compiler, connection, template=template, **extra)


class HasTag(Func):
    """True when the JSON list `metadata -> 'tags'` holds the given string."""

    output_field = BooleanField()
    conditional = True

    def as_postgresql(self, compiler, connection, **extra):
        # (metadata -> 'tags') @> '["tag"]': the GIN index on metadata -> 'tags' answers it.
        metadata, tag = self.source_expressions
        sql, params = compiler.compile(metadata)
        tag_sql, tag_params = compiler.compile(tag)
        out = f"(({sql}) -> 'tags') @> jsonb_build_array(({tag_sql})::text)"
        return out, (*params, *tag_params)

    def as_sqlite(self, compiler, connection, **extra):
        metadata, tag = self.source_expressions
        sql, params = compiler.compile(metadata)
        tag_sql, tag_params = compiler.compile(tag)
        out = (
            f"(json_type({sql}, '$.tags') = 'array' AND EXISTS "
            f"(SELECT 1 FROM json_each({sql}, '$.tags') AS t WHERE t.type = 'text' AND t.value = {tag_sql}))"
        )
        return out, (*params, *params, *tag_params)


def _needle(text: str) -> str:
    """The search text as the prompt expression writes it: jsonb's text form escapes like JSON."""
    if connection.vendor == "postgresql":
        return json.dumps(text, ensure_ascii=False)[1:-1]
    return text


def _in_prompt(text: str) -> Q:
    return Q(prompt__icontains=_needle(text))


def _in_response(text: str) -> Exists:
    return Exists(Response.objects.filter(item=OuterRef("pk"), text__icontains=text))


def _narrowed(qs, filters: ItemFilters):
    """Every filter but the search."""
    if filters.state:
        qs = qs.filter(state=filters.state)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.gold in YES_NO:
        qs = qs.filter(is_gold=filters.gold == "yes")
    if filters.disputed in YES_NO:
        waiting = Q(state=ItemState.DISPUTED, is_gold=False)
        adjudicated = Exists(Adjudication.objects.filter(item=OuterRef("pk")))
        disputed = waiting | adjudicated
        qs = qs.filter(disputed if filters.disputed == "yes" else ~disputed)
    if filters.active_learning in YES_NO:
        chosen = Exists(ProductionSample.objects.filter(item=OuterRef("pk"), selected_batch__isnull=False))
        qs = qs.filter(chosen if filters.active_learning == "yes" else ~chosen)
    if filters.tag:
        qs = qs.filter(HasTag("metadata", Value(filters.tag)))
    return qs


def _search(text: str) -> list:
    """The search as disjoint conditions (see `filtered_parts`); one on SQLite, or when the text holds
    the side table's separator (a match could span two responses there)."""
    direct = _in_prompt(text) | _in_response(text)
    if connection.vendor != "postgresql" or SEPARATOR in text:
        return [direct]
    prompt = Q(prompt__icontains=_needle(text))
    rows = ItemSearchText.objects.filter(item_id=OuterRef("pk"))
    return [
        Q(Exists(rows.filter(prompt))),
        Q(Exists(rows.filter(responses__icontains=text).exclude(prompt))),
        Exists(ItemSearchPending.objects.filter(item_id=OuterRef("pk"))) & direct,
    ]


def filter_items(qs, filters: ItemFilters):
    """`qs` (a project's items) narrowed by every filter that is set, as one queryset."""
    qs = _narrowed(qs, filters)
    if filters.q:
        either = Q()
        for condition in _search(filters.q):
            either |= condition
        qs = qs.alias(prompt=PromptText("messages")).filter(either)
    return qs


def filtered_parts(qs, filters: ItemFilters) -> list:
    """`filter_items` as disjoint querysets for `keyset.paginate_union` and `capped_count`. On
    PostgreSQL a search is three: the items whose search row's prompt matches, those whose row's
    responses match and prompt does not, and the pending items whose own texts match; each gets
    its own plan (a rare term read through the side table's trigram index, a common one by walking
    the item list until the page is full), where one OR would force the same plan on all."""
    if not filters.q:
        return [filter_items(qs, filters)]
    qs = _narrowed(qs, filters).alias(prompt=PromptText("messages"))
    return [qs.filter(condition) for condition in _search(filters.q)]


def attach_responses(items: list) -> None:
    """Each item's shown responses (`item.responses.all()`), in canonical order, read in one query for
    the whole page."""
    responses = Response.objects.filter(shown=True).order_by("position")
    prefetch_related_objects(items, Prefetch("responses", queryset=responses))


def capped_count(parts: list, cap: int | None = None) -> tuple[int, bool]:
    """(how many rows the disjoint querysets `parts` hold, up to `cap` (COUNT_CAP); whether there are
    more): a statement per part, each reading at most cap + 1 rows."""
    cap = COUNT_CAP if cap is None else cap
    n = 0
    for qs in parts:
        n += qs.order_by().values("pk")[: cap + 1 - n].count() if n <= cap else 0
    return min(n, cap), n > cap
