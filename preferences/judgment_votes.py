"""The consensus recompute's votes: every current comparison judgment of a project in one streamed query.

`votes_by_item(project, weights=, items=)` -> ({(item_id, criterion): [Vote]}, {item_id: rubric version},
{item_id: [payloads with an improved response]}, {item_id: Counter of harmful flags by response}).

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


def votes_by_item(project, *, weights, items=None):
    """Current comparison judgments (of `items`, a subquery of item ids) -> {(item_id, criterion): [Vote]},
    the latest rubric version per item, the payloads with an improved response per item, and
    {item_id: {response_id: annotators who reported it harmful}}."""

    # An annotator without a reliability estimate (new, or too few judgments) votes with the median
    # weight of those who have one: the Dawid-Skene weights are log-likelihood ratios (0..10), not around
    # 1.0. One with few judgments has an estimate, held near 0 by the prior
    # (annotation.core.reliability.PRIOR_STRENGTH) until the evidence outweighs it.
    weights = weights or {}
    known = sorted(float(w) for w in weights.values())
    default_weight = known[len(known) // 2] if known else 1.0
    votes: dict[tuple[int, str], list] = {}
    versions: dict[int, int | None] = {}
    improvements: dict[int, list[dict]] = {}
    harmful: dict[int, Counter] = {}
    weight_of = weights.get
    for item_id, annotator_id, version_id, fast, left, right, side, strength, payload in _rows(
        project, items
    ):
        versions[item_id] = version_id
        weight = float(weight_of(annotator_id, default_weight))
        if fast:
            vote = _pairwise_vote(item_id, annotator_id, left, right, side, strength, weight)
            if (key := (item_id, "")) in votes:
                votes[key].append(vote)
            else:
                votes[key] = [vote]
            continue
        common = dict(comparison_id=item_id, annotator=annotator_id, weight=weight)
        votes.setdefault((item_id, ""), []).append(Vote.from_payload(payload, **common))
        for key in payload.get("criteria") or {}:
            votes.setdefault((item_id, key), []).append(Vote.from_payload(payload, criterion=key, **common))
        if payload.get("improved_response"):
            improvements.setdefault(item_id, []).append(payload)
        flagged = payload.get("harmful") or []
        if flagged:  # one flag per annotator and response (the payload lists each response once)
            harmful.setdefault(item_id, Counter()).update(set(flagged))
    return votes, versions, improvements, harmful
