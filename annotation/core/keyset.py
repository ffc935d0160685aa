"""Keyset pagination for long lists (items, audit trail, curated pairs): `?after=` / `?before=` name
the last (first) row shown, and the next page is read through the index that orders the list: no
OFFSET and no COUNT over the whole list, so page 10,000 costs what page 1 costs.

`paginate(qs, order, request.GET, per_page)` gives a `Page` that `_keyset_pagination.html` draws;
`paginate_union` does the same over several disjoint querysets, each read with its own statement.
`order` is the list's ordering ending in a unique field (e.g. ["-confidence", "-margin", "id"]). A
cursor is the url-safe base64 of that row's values as JSON; one that does not decode (edited, or from
an older ordering) starts from the top. An old `?page=N` link still works, by offset.
"""

import base64
import binascii
import functools
import json
from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Q

MAX_OFFSET_PAGE = 10_000  # `?page=` beyond this starts from the top rather than scanning further


def encode(values) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(list(values), separators=(",", ":")).encode())
        .decode()
        .rstrip("=")
    )


def decode(text: str, n: int) -> list | None:
    """The values of a cursor of `n` fields, or None when it is not one."""
    if not text or len(text) > 512:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(values, list) or len(values) != n:
        return None
    if not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in values):
        return None
    return values


def _beyond(order: list[str], values: list, *, forward: bool) -> Q:
    """Rows after (forward) or before the row with `values` in `order`: an OR over prefixes, under a
    plain range on the first field (redundant, but it is what lets the index scan start at the
    cursor instead of walking from the top of the list)."""
    first = order[0].lstrip("-")
    bound = "lte" if order[0].startswith("-") == forward else "gte"
    out = Q()
    for i, spec in enumerate(order):
        name = spec.lstrip("-")
        descending = spec.startswith("-")
        lookup = "lt" if descending == forward else "gt"
        term = Q(**{f"{name}__{lookup}": values[i]})
        for prev, value in zip(order[:i], values[:i], strict=True):
            term &= Q(**{prev.lstrip("-"): value})
        out |= term
    return Q(**{f"{first}__{bound}": values[0]}) & out if len(order) > 1 else out


def _reverse(order: list[str]) -> list[str]:
    return [spec[1:] if spec.startswith("-") else f"-{spec}" for spec in order]


@dataclass
class Page:
    object_list: list
    order: list[str]
    has_next: bool = False
    has_previous: bool = False
    number: int | None = None  # set for an old `?page=N` link
    rows: list = field(default_factory=list)

    def cursor(self, row) -> str:
        return encode(getattr(row, spec.lstrip("-")) for spec in self.order)

    @property
    def next_cursor(self) -> str:
        return self.cursor(self.object_list[-1]) if self.has_next and self.object_list else ""

    @property
    def previous_cursor(self) -> str:
        return self.cursor(self.object_list[0]) if self.has_previous and self.object_list else ""

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous


def _page_number(raw) -> int:
    try:
        number = int(raw)
    except (TypeError, ValueError):
        return 1
    return number if 1 <= number <= MAX_OFFSET_PAGE else 1


def _typed(qs, order: list[str], values: list | None) -> list | None:
    """The cursor's values as the order fields' types, or None when one is not (a cursor edited to
    put text where an id goes, or a NUL, would otherwise reach the database: a 500)."""
    if values is None:
        return None
    out = []
    for spec, value in zip(order, values, strict=True):
        if isinstance(value, str) and "\x00" in value:
            return None
        if isinstance(value, int) and abs(value) >= 2**63:
            return None
        try:
            out.append(qs.model._meta.get_field(spec.lstrip("-")).to_python(value))
        except FieldDoesNotExist:  # an annotation: compared as given
            out.append(value)
        except ValidationError:
            return None
    return out


def paginate(qs, order: list[str], params, per_page: int) -> Page:
    """One page of `qs` in `order`, from the request's `after`, `before` or (old links) `page`."""
    return paginate_union([qs], order, params, per_page)


def _merged(lists: list[list], order: list[str], *, forward: bool) -> list:
    """Rows of several lists, each already in `order` (or its reverse), merged in that order."""
    if len(lists) == 1:
        return lists[0]

    def compare(a, b):
        for spec in order:
            name = spec.lstrip("-")
            x, y = getattr(a, name), getattr(b, name)
            if x != y:
                smaller = -1 if x < y else 1
                return -smaller if spec.startswith("-") == forward else smaller
        return 0

    return sorted((row for rows in lists for row in rows), key=functools.cmp_to_key(compare))


def paginate_union(querysets, order: list[str], params, per_page: int) -> Page:
    """`paginate` over the union of querysets whose rows are disjoint (one model): each is read with
    its own statement and plan (a rare search term through an index, a common one by walking the
    list's index until the page is full), then the rows are merged in `order`."""
    querysets = [qs.order_by(*order) for qs in querysets]
    first = querysets[0]
    after = _typed(first, order, decode(params.get("after", ""), len(order)))
    before = _typed(first, order, decode(params.get("before", ""), len(order))) if after is None else None
    if after is not None:
        parts = [list(qs.filter(_beyond(order, after, forward=True))[: per_page + 1]) for qs in querysets]
        rows = _merged(parts, order, forward=True)[: per_page + 1]
        return Page(rows[:per_page], order, has_next=len(rows) > per_page, has_previous=True)
    if before is not None:
        back = _reverse(order)
        parts = [
            list(qs.filter(_beyond(order, before, forward=False)).order_by(*back)[: per_page + 1])
            for qs in querysets
        ]
        rows = _merged(parts, order, forward=False)[: per_page + 1]
        more = len(rows) > per_page
        return Page(rows[:per_page][::-1], order, has_next=True, has_previous=more)
    number = _page_number(params.get("page"))
    start = (number - 1) * per_page
    if len(querysets) == 1:
        rows = list(first[start : start + per_page + 1])
    else:
        parts = [list(qs[: start + per_page + 1]) for qs in querysets]
        rows = _merged(parts, order, forward=True)[start : start + per_page + 1]
    page = Page(rows[:per_page], order, has_next=len(rows) > per_page, has_previous=number > 1)
    page.number = number if number > 1 else None
    return page


def filter_query(params) -> str:
    """The request's query string without the paging parameters (the links add their own)."""
    query = params.copy()
    for key in ("page", "after", "before"):
        query.pop(key, None)
    return query.urlencode()
