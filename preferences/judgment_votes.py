"""The consensus recompute's votes: every current comparison judgment of a project in one streamed query.

`read_votes(project, weights=, items=)` -> `VoteRows`: the scalar votes as columns (the recompute decides
their two-response comparisons over arrays, `preferences.consensus.pairwise`), the rest as `Vote`s, and
per item the rubric version, the payloads with an improved response and the harmful flags by response.
`votes_by_item` gives every vote as a `Vote` ({(item_id, criterion): [Vote]}, and the same per-item dicts).

At a million judgments, decoding each payload (JSON) and checking each vote again cost most of a full
recompute. On PostgreSQL the common vote is read as scalars instead: a pairwise answer on the overall
question only (two integer response ids shown, outcome win / tie / both_bad, strength 0..3), with no
criteria, no improved response and no harmful flags; `_pairwise_vote` builds from them the `Vote` that
`Vote.from_payload` builds from the whole document (tests/preferences/test_recompute_scalars.py holds
the two equal, payload by payload). Any other payload, and every payload elsewhere (SQLite), is read
whole. The checks are text comparisons of `->>` values, the cheapest the jsonb operators offer.
"""

import json
from collections import Counter
from dataclasses import dataclass, field

from django.db import connection

from annotation.models import ItemKind, Judgment

from .consensus import Vote

BATCH = 5000
_FAST = r"""((j.payload->>'display_order') ~ '^\[[0-9]{1,18}, [0-9]{1,18}\]$'
    AND j.payload->>'outcome' IN ('win', 'tie', 'both_bad')
    AND COALESCE(j.payload->>'strength', '0') IN ('0', '1', '2', '3')
    AND j.payload#>'{ranking,0,0}' IS NOT NULL
    AND COALESCE(j.payload->>'criteria', '{}') = '{}'
    AND j.payload->>'improved_response' IS NULL
    AND COALESCE(j.payload->>'harmful', '[]') = '[]')"""
_SQL = f"""SELECT item_id, annotator_id, rubric_version_id, fast,
    CASE WHEN fast THEN (p#>>'{{display_order,0}}')::bigint END,
    CASE WHEN fast THEN (p#>>'{{display_order,1}}')::bigint END,
    CASE WHEN NOT fast THEN NULL WHEN p->>'outcome' <> 'win' THEN p->>'outcome'
        WHEN (CASE WHEN p ? 'winner' THEN p->'winner' ELSE p#>'{{ranking,0,0}}' END) = p#>'{{display_order,0}}'
        THEN 'left' ELSE 'right' END,
    CASE WHEN fast THEN COALESCE(p->>'strength', '0')::int END,
    CASE WHEN fast THEN NULL ELSE p END
FROM (SELECT j.id, j.item_id, j.annotator_id, j.rubric_version_id, j.payload AS p, {_FAST} AS fast
    FROM annotation_judgment j JOIN annotation_item i ON i.id = j.item_id
    WHERE i.project_id = %s AND i.kind = %s AND j.is_current AND j.payload ? 'ranking' {{items}}
    OFFSET 0) s
ORDER BY id"""


def _rows(project, items):
    """(item_id, annotator_id, rubric_version_id, fast, left, right, side, strength, payload or None)
    of the current comparison judgments with a ranking (those without give no vote), by id."""
    if connection.vendor != "postgresql":  # the jsonb operators are PostgreSQL's
        rows = Judgment.objects.filter(
            item__project=project, item__kind=ItemKind.COMPARISON, is_current=True, payload__has_key="ranking"
        )
        rows = rows if items is None else rows.filter(item_id__in=items)
        fields = ("item_id", "annotator_id", "rubric_version_id", "payload")
        for item_id, annotator_id, version_id, payload in (
            rows.order_by("id").values_list(*fields).iterator(BATCH)
        ):
            yield item_id, annotator_id, version_id, False, None, None, None, None, payload
        return
    params = [project.pk, ItemKind.COMPARISON]
    subquery = ""
    if items is not None:
        sql, more = items.query.sql_with_params()
        subquery, params = f"AND j.item_id IN ({sql})", params + list(more)
    with connection.chunked_cursor() as cur:
        cur.execute(_SQL.replace("{items}", subquery), params)
        while chunk := cur.fetchmany(BATCH):
            for row in chunk:
                if row[3]:
                    yield row
                else:
                    payload = row[8]
                    yield (*row[:8], json.loads(payload) if isinstance(payload, str) else payload)


def _pairwise_vote(item_id, annotator, left, right, side, strength, weight) -> Vote:
    """`Vote.from_payload` of a payload that `_FAST` accepts, from its scalars (the same errors)."""
    if left == right:
        raise ValueError("A vote needs two different responses (left, right) or a ranking.")
    if not weight >= 0:
        raise ValueError("A vote's weight must be >= 0.")
    if side == "left":
        ranking = ((left,), (right,))
    elif side == "right":
        ranking = ((right,), (left,))
    else:
        ranking, strength = ((left, right),), 0
    return Vote.canonical(
        comparison_id=item_id, annotator=annotator, left=left, right=right, outcome=side,
        strength=strength, criterion="", weight=weight, ranking=ranking,
    )  # fmt: skip


SIDES = {"left": 0, "right": 1, "tie": 2, "both_bad": 3}  # the scalar side -> pairwise.FIRST ... BOTH_BAD


@dataclass
class VoteRows:
    """The votes of a recompute, as read: `order`, every (item_id, criterion) with a vote, in the order
    of its first judgment (by id); `votes`, {key: [Vote]} of the items with a judgment not read as
    scalars; the scalar judgments of the other items as parallel lists, by judgment id (`item`,
    `annotator`, `left`, `right`, `side` as in SIDES, `strength`, `weight`), whose `Vote`s `materialise`
    builds only where asked; and per item the rubric version, improved responses and harmful flags."""

    order: list = field(default_factory=list)
    votes: dict = field(default_factory=dict)
    item: list = field(default_factory=list)
    annotator: list = field(default_factory=list)
    left: list = field(default_factory=list)
    right: list = field(default_factory=list)
    side: list = field(default_factory=list)
    strength: list = field(default_factory=list)
    weight: list = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    improvements: dict = field(default_factory=dict)
    harmful: dict = field(default_factory=dict)

    def materialise(self, items) -> None:
        """Put the scalar votes of `items` into `votes` as `Vote`s (in judgment order)."""
        items = set(items)
        names = ("left", "right", "tie", "both_bad")
        for k, item_id in enumerate(self.item):
            if item_id in items:
                vote = _pairwise_vote(
                    item_id, self.annotator[k], self.left[k], self.right[k], names[self.side[k]],
                    self.strength[k], self.weight[k],
                )  # fmt: skip
                self.votes.setdefault((item_id, ""), []).append(vote)

    def all_votes(self) -> dict:
        """{(item_id, criterion): [Vote]} of every item, keys in `order`."""
        self.materialise(set(self.item) - {item_id for item_id, _ in self.votes})
        return {key: self.votes[key] for key in self.order}


def read_votes(project, *, weights, items=None) -> VoteRows:
    """Current comparison judgments (of `items`, a subquery of item ids) as `VoteRows`.

    An annotator without a reliability estimate (new, or too few judgments) votes with the median
    weight of those who have one: the Dawid-Skene weights are log-likelihood ratios (0..10), not around
    1.0. One with few judgments has an estimate, held near 0 by the prior
    (annotation.core.reliability.PRIOR_STRENGTH) until the evidence outweighs it."""
    weights = weights or {}
    known = sorted(float(w) for w in weights.values())
    default_weight = known[len(known) // 2] if known else 1.0
    out = VoteRows()
    order, versions, weight_of = out.order, out.versions, weights.get
    seen: set = set()  # items with an overall key in `order`
    slow: dict = {}  # item -> [(judgment's place, key, Vote)] of the items with a judgment read whole
    places: list[int] = []  # each scalar judgment's place in the stream
    scalar = (out.item, out.annotator, out.left, out.right, out.side, out.strength, out.weight, places)
    add_item, add_annotator, add_left, add_right, add_side, add_strength, add_weight, add_place = (
        column.append for column in scalar
    )
    sides = SIDES
    for n, (item_id, annotator_id, version_id, fast, left, right, side, strength, payload) in enumerate(
        _rows(project, items)
    ):
        versions[item_id] = version_id
        weight = float(weight_of(annotator_id, default_weight))
        if item_id not in seen:
            seen.add(item_id)
            order.append((item_id, ""))
        if fast:
            if left == right:
                raise ValueError("A vote needs two different responses (left, right) or a ranking.")
            if not weight >= 0:
                raise ValueError("A vote's weight must be >= 0.")
            add_item(item_id)
            add_annotator(annotator_id)
            add_left(left)
            add_right(right)
            add_side(sides[side])
            add_strength(strength)
            add_weight(weight)
            add_place(n)
            continue
        common = dict(comparison_id=item_id, annotator=annotator_id, weight=weight)
        mine = slow.setdefault(item_id, [])
        mine.append((n, (item_id, ""), Vote.from_payload(payload, **common)))
        for key in payload.get("criteria") or {}:
            if not any(k == (item_id, key) for _, k, _ in mine):
                order.append((item_id, key))
            mine.append((n, (item_id, key), Vote.from_payload(payload, criterion=key, **common)))
        if payload.get("improved_response"):
            out.improvements.setdefault(item_id, []).append(payload)
        flagged = payload.get("harmful") or []
        if flagged:  # one flag per annotator and response (the payload lists each response once)
            out.harmful.setdefault(item_id, Counter()).update(set(flagged))
    if slow:  # the scalar votes of those items join their votes read whole, in judgment order
        names = ("left", "right", "tie", "both_bad")
        keep = [k for k, item_id in enumerate(out.item) if item_id not in slow]
        for k, item_id in enumerate(out.item):
            if item_id in slow:
                vote = _pairwise_vote(
                    item_id, out.annotator[k], out.left[k], out.right[k], names[out.side[k]],
                    out.strength[k], out.weight[k],
                )  # fmt: skip
                slow[item_id].append((places[k], (item_id, ""), vote))
        for column in scalar:
            column[:] = [column[k] for k in keep]
        for mine in slow.values():
            for _, key, vote in sorted(mine, key=lambda entry: entry[0]):
                out.votes.setdefault(key, []).append(vote)
    return out


def votes_by_item(project, *, weights, items=None):
    """Current comparison judgments (of `items`, a subquery of item ids) -> {(item_id, criterion): [Vote]},
    the latest rubric version per item, the payloads with an improved response per item, and
    {item_id: {response_id: annotators who reported it harmful}} (`read_votes`, every vote a `Vote`)."""
    rows = read_votes(project, weights=weights, items=items)
    return rows.all_votes(), rows.versions, rows.improvements, rows.harmful
