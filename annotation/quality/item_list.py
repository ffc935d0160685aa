"""The lead's item list, shared by the Items page and the items API: one filter function over a
project's items (search in the prompt and the responses, state, kind, gold, disputed, tag, chosen by
active learning), the responses of a page in one query, and a result count that stops counting at
`COUNT_CAP` (a page at 1M items never counts them all).

Search is case-insensitive. On PostgreSQL it reads two trigram indexes (migration
0020_item_search_trigram_indexes): the prompt is the text of the conversation's `content` values
(`jsonb_path_query_array`, an immutable expression, matched against the search text as JSON writes
it), the responses are `Response.text`; `filtered_parts` splits a search into two disjoint querysets
(prompt matches; response matches whose prompt does not) so that each gets its own plan.
On SQLite it is a plain LIKE over the same texts (ASCII letters only are case-folded).

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

from annotation.models import Adjudication, ItemState, ProductionSample, Response

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


def filter_items(qs, filters: ItemFilters):
    """`qs` (a project's items) narrowed by every filter that is set, as one queryset."""
    qs = _narrowed(qs, filters)
    if filters.q:
        qs = qs.alias(prompt=PromptText("messages")).filter(_in_prompt(filters.q) | _in_response(filters.q))
    return qs


def filtered_parts(qs, filters: ItemFilters) -> list:
    """`filter_items` as disjoint querysets for `keyset.paginate_union` and `capped_count`. On
    PostgreSQL a search is two: the items whose prompt matches, and the others whose response does;
    each gets its own plan (a rare term read through its trigram index, a common one by walking the
    item list until the page is full), where one OR would force the same plan on both."""
    if not filters.q or connection.vendor != "postgresql":
        return [filter_items(qs, filters)]
    qs = _narrowed(qs, filters).alias(prompt=PromptText("messages"))
    return [
        qs.filter(_in_prompt(filters.q)),
        qs.filter(_in_response(filters.q)).exclude(_in_prompt(filters.q)),
    ]


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
