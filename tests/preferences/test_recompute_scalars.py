"""The consensus recompute reads the common pairwise vote as scalars in SQL (preferences.judgment_votes
`_FAST`); every payload must give exactly the votes `Vote.from_payload` gives from the whole document
(or the same error), whichever path it takes. On SQLite every payload takes the whole-document path."""

import pytest
from django.db import connection

from annotation.models import Judgment
from preferences import judgment_votes
from preferences.consensus import Vote
from tests.preferences.factories import judge, make_comparisons

pytestmark = pytest.mark.django_db


def payloads(a, b):
    """(name, payload) for the response ids `a`, `b` shown in that order."""
    win = {"display_order": [a, b], "outcome": "win", "ranking": [[a], [b]], "winner": a, "winner_slot": 0,
           "strength": 2, "criteria": {}, "improved_text": "", "harmful": []}  # fmt: skip
    tie = {**win, "outcome": "tie", "ranking": [[a, b]], "winner": None, "winner_slot": None, "strength": 0}
    no_winner = {k: v for k, v in win.items() if k != "winner"}
    return [
        ("win left", win),
        ("win right", {**win, "ranking": [[b], [a]], "winner": b, "strength": 3}),
        ("no winner key: the ranking decides", {**no_winner, "ranking": [[b], [a]]}),
        ("winner null", {**win, "winner": None}),
        ("winner as text", {**win, "winner": str(a)}),
        ("winner as float", {**win, "winner": float(a)}),
        ("tie", tie),
        ("tie with a strength", {**tie, "strength": 2}),
        ("both bad", {**tie, "outcome": "both_bad"}),
        ("strength null", {**win, "strength": None}),
        ("strength absent", {k: v for k, v in win.items() if k != "strength"}),
        ("strength 1.0", {**win, "strength": 1.0}),
        ("strength as text", {**win, "strength": "2"}),
        ("strength out of range", {**win, "strength": 5}),
        ("criteria", {**win, "criteria": {"helpfulness": {"outcome": "tie", "ranking": [[a, b]]}}}),
        ("criteria null", {**win, "criteria": None}),
        ("harmful", {**win, "harmful": [b]}),
        ("improved response", {**win, "improved_response": b}),
        ("improved response null", {**win, "improved_response": None}),
        ("outcome ranked", {**win, "outcome": "ranked"}),
        ("outcome in capitals", {**win, "outcome": "WIN"}),
        ("three shown", {**win, "display_order": [a, b, a + b], "ranking": [[a], [b, a + b]]}),
        ("one shown", {**win, "display_order": [a]}),
        (
            "ids as text",
            {**win, "display_order": [str(a), str(b)], "ranking": [[str(a)], [str(b)]], "winner": str(a)},
        ),  # fmt: skip
        ("same id twice", {**win, "display_order": [a, a]}),
        ("no ranking", {k: v for k, v in win.items() if k != "ranking"}),
        ("empty ranking", {**win, "ranking": []}),
        ("no display order", {k: v for k, v in win.items() if k != "display_order"}),
    ]


def expected(payload, *, item_id, annotator, weight):
    """What the recompute read before the scalars: every payload whole, through Vote.from_payload."""
    if not payload or "ranking" not in payload:
        return {}
    common = dict(comparison_id=item_id, annotator=annotator, weight=weight)
    out = {(item_id, ""): [Vote.from_payload(payload, **common)]}
    for key in payload.get("criteria") or {}:
        out[(item_id, key)] = [Vote.from_payload(payload, criterion=key, **common)]
    return out


def outcome(fn):
    try:
        return fn()
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        return type(exc)


def test_every_payload_gives_the_votes_from_payload_gives(users, cmp, monkeypatch):
    make_comparisons(cmp, users["lead"], 1)
    _, judgment = judge(cmp, users["annotator"], prefer="model-a")
    a, b = judgment.payload["display_order"]
    weight = 0.75
    scalars = []
    real = judgment_votes._pairwise_vote
    monkeypatch.setattr(judgment_votes, "_pairwise_vote", lambda *args: scalars.append(args) or real(*args))
    for name, payload in payloads(a, b):
        Judgment.objects.filter(pk=judgment.pk).update(payload=payload)
        want = outcome(
            lambda payload=payload: expected(
                payload, item_id=judgment.item_id, annotator=judgment.annotator_id, weight=weight
            )
        )
        got = outcome(lambda: judgment_votes.votes_by_item(cmp, weights={judgment.annotator_id: weight})[0])
        assert got == want, name
    if connection.vendor == "postgresql":  # the scalar path was taken, for the pairwise answers
        assert len(scalars) >= 10
    else:
        assert scalars == []
