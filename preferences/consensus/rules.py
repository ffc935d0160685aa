"""Per-comparison consensus rules: majority, weighted, Bradley-Terry (`consensus_for_comparison`).
The fourth rule of RULES, "dawid_skene", fits every comparison at once (`dawid_skene.dawid_skene_consensus`).

Conventions as in `preferences.consensus`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .strengths import _fit_counts
from .votes import ResponseId, Vote, _jsonable, ranking_to_pairs

RULES = ("majority", "weighted", "bradley_terry", "dawid_skene")
BT_ALPHA = 0.01  # L2 penalty of the per-comparison Bradley-Terry rule (as the leaderboard's fit)
OUTCOMES = ("win", "tie", "both_bad", "none")


# --------------------------------------------------------------------------- consensus


@dataclass(frozen=True)
class PairConsensus:
    """Consensus on one response pair (a, b): `outcome` win | tie | both_bad | none; margin from a's side."""

    a: ResponseId
    b: ResponseId
    outcome: str
    winner: ResponseId | None
    confidence: float
    margin: float
    n_votes: int
    tallies: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": _jsonable(self.a),
            "b": _jsonable(self.b),
            "outcome": self.outcome,
            "winner": _jsonable(self.winner),
            "confidence": self.confidence,
            "margin": self.margin,
            "n_votes": self.n_votes,
            "tallies": dict(self.tallies),
        }


@dataclass(frozen=True)
class ConsensusResult:
    """Consensus of one comparison under one rule; `as_dict()` is JSON-able and recomputation-ready.

    `outcome` is win | tie | both_bad | none (no consensus, or no votes); `confidence` is the (weighted)
    share of votes behind that outcome; `margin` the (weighted) mean signed strength from the first
    response's side (pairwise) or of order[0] over order[1] (N-way, +1 / 0 / -1 per vote).
    """

    comparison_id: Hashable
    criterion: str
    rule: str
    params: dict[str, Any]
    outcome: str
    winner: ResponseId | None
    order: list[ResponseId]
    confidence: float
    margin: float
    n_votes: int
    responses: list[ResponseId] = field(default_factory=list)
    pairs: list[PairConsensus] = field(default_factory=list)
    scores: dict[str, dict[Any, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "comparison_id": _jsonable(self.comparison_id),
            "criterion": self.criterion,
            "rule": self.rule,
            "params": self.params,
            "outcome": self.outcome,
            "winner": _jsonable(self.winner),
            "order": [_jsonable(x) for x in self.order],
            "confidence": self.confidence,
            "margin": self.margin,
            "n_votes": self.n_votes,
            "responses": [_jsonable(x) for x in self.responses],
            "pairs": [p.as_dict() for p in self.pairs],
            "scores": {k: {str(r): s for r, s in v.items()} for k, v in self.scores.items()},
        }


def _vote_weights(votes, rule, weights):
    if rule not in RULES:
        raise ValueError(f"Unknown rule {rule!r}; use one of {', '.join(RULES)}.")
    if rule == "dawid_skene":
        raise ValueError("The dawid_skene rule fits every comparison at once: use dawid_skene_consensus.")
    if rule == "majority" or (rule == "bradley_terry" and not weights):
        return [1.0] * len(votes)
    weights = weights or {}
    out = [float(weights.get(v.annotator, v.weight)) for v in votes]
    if any(not w >= 0 for w in out):
        raise ValueError("Weights must be >= 0.")
    return out


def _ranks(votes) -> list[dict]:
    """Each vote's rank of each response it covers (its group's index, best first)."""
    return [{x: k for k, g in enumerate(vote.ranking) for x in g} for vote in votes]


def _pair_consensus(a, b, votes, ws, min_confidence, ranks) -> PairConsensus:
    """Tally the votes that cover both a and b; the plurality category wins if it is unique."""
    tallies = {"a": 0.0, "b": 0.0, "tie": 0.0, "both_bad": 0.0}
    signed = 0.0
    n = 0
    for vote, w, rank in zip(votes, ws, ranks, strict=True):
        ra, rb = rank.get(a), rank.get(b)
        if ra is None or rb is None:
            continue
        n += 1
        if vote.outcome == "both_bad":
            tallies["both_bad"] += w
        elif ra == rb:
            tallies["tie"] += w
        elif ra < rb:
            tallies["a"] += w
            signed += w * (vote.strength or 1)
        else:
            tallies["b"] += w
            signed -= w * (vote.strength or 1)
    total = sum(tallies.values())
    if total <= 0:
        return PairConsensus(a, b, "none", None, 0.0, 0.0, n, tallies)
    best = max(tallies.values())
    leaders = [k for k, t in tallies.items() if t == best]
    confidence = best / total
    margin = signed / total
    if len(leaders) > 1 or confidence < min_confidence:
        return PairConsensus(a, b, "none", None, confidence, margin, n, tallies)
    lead = leaders[0]
    if lead in ("a", "b"):
        return PairConsensus(a, b, "win", a if lead == "a" else b, confidence, margin, n, tallies)
    return PairConsensus(a, b, lead, None, confidence, margin, n, tallies)


def consensus_for_comparison(
    votes: Iterable[Vote],
    *,
    rule: Literal["majority", "weighted", "bradley_terry"] = "majority",
    weights: Mapping[Hashable, float] | None = None,
    responses: Sequence[ResponseId] | None = None,
    min_confidence: float = 0.0,
) -> ConsensusResult:
    """Aggregate the votes of one comparison (and one criterion) into a `ConsensusResult`.

    "majority" counts each vote once; "weighted" uses ``weights[annotator]`` or else ``vote.weight``.
    `responses` fixes the canonical order (default: ids sorted); pairwise margins are from its first
    response's side. A plurality below `min_confidence`, or a tie between categories, gives "none".
    N-way: a pairwise consensus per response pair; the order is by Copeland score (pairwise wins minus
    losses), then Borda score; the winner is order[0] if its Copeland score is strictly the highest.
    "bradley_terry" (N-way): the order is by Bradley-Terry strengths fitted to every pair the votes
    imply (ties half each way, votes weighted by ``weights`` when given, L2 penalty BT_ALPHA); the
    winner is order[0] when strictly strongest, with confidence P(order[0] beats order[1]). With two
    responses Bradley-Terry's winner is the majority's, so the pairwise tally decides as for "majority".
    """
    votes = list(votes)
    ws = _vote_weights(votes, rule, weights)
    ids = {v.comparison_id for v in votes}
    crits = {v.criterion for v in votes}
    if len(ids) > 1 or len(crits) > 1:
        raise ValueError("Votes from more than one comparison or criterion; use consensus_by_comparison.")
    comparison_id = next(iter(ids)) if ids else None
    criterion = next(iter(crits)) if crits else ""
    seen = {x for v in votes for g in v.ranking for x in g}
    if responses is None:
        responses = sorted(seen, key=lambda x: (str(type(x)), x))
    else:
        responses = list(responses)
        if missing := seen - set(responses):
            raise ValueError(f"Votes name responses outside `responses`: {sorted(map(str, missing))}.")
    params: dict[str, Any] = {"min_confidence": min_confidence}
    if len(responses) > 2:
        params["order_by"] = ["bradley_terry"] if rule == "bradley_terry" else ["copeland", "borda"]
    if rule == "bradley_terry":
        params["alpha"] = BT_ALPHA
    if rule == "weighted":
        params["weights"] = {str(v.annotator): w for v, w in zip(votes, ws, strict=True)}
    base = dict(comparison_id=comparison_id, criterion=criterion, rule=rule, params=params)
    n_votes = len(votes)
    if not votes or len(responses) < 2:
        return ConsensusResult(
            **base, outcome="none", winner=None, order=list(responses), confidence=0.0, margin=0.0,
            n_votes=n_votes, responses=list(responses),
        )  # fmt: skip
    ranks = _ranks(votes)
    pairs = [
        _pair_consensus(a, b, votes, ws, min_confidence, ranks)
        for i, a in enumerate(responses)
        for b in responses[i + 1 :]
    ]
    if len(responses) == 2:
        p = pairs[0]
        order = [p.b, p.a] if p.winner == p.b else [p.a, p.b]
        return ConsensusResult(
            **base, outcome=p.outcome, winner=p.winner, order=order, confidence=p.confidence,
            margin=p.margin, n_votes=n_votes, responses=list(responses), pairs=pairs,
        )  # fmt: skip
    if rule == "bradley_terry":
        return _bt_result(base, votes, ws, responses, pairs, min_confidence, ranks)
    return _nway_result(base, votes, ws, responses, pairs, min_confidence, ranks)


def _top_margin(votes, ws, top, second, total, ranks) -> float:
    """N-way margin: the weighted mean of +1 / 0 / -1 per vote as it ranks `top` over `second`."""
    signed = 0.0
    for vote, w, rank in zip(votes, ws, ranks, strict=True):
        if vote.outcome != "both_bad" and top in rank and second in rank:
            signed += w * float(np.sign(rank[second] - rank[top]))
    return signed / total if total > 0 else 0.0


def _bt_result(base, votes, ws, responses, pairs, min_confidence, ranks) -> ConsensusResult:
    index = {r: k for k, r in enumerate(responses)}
    n = len(responses)
    counts = np.zeros((n, n))
    total = sum(ws)
    bad = 0.0
    for vote, w in zip(votes, ws, strict=True):
        if vote.outcome == "both_bad":
            bad += w
            continue
        for p in ranking_to_pairs(vote.ranking):
            i, j = index[p.winner], index[p.loser]
            if p.tie:
                counts[i, j] += 0.5 * w
                counts[j, i] += 0.5 * w
            else:
                counts[i, j] += w
    theta, _, _ = _fit_counts(counts, BT_ALPHA, 100, 1e-10)
    order = sorted(responses, key=lambda r: (-theta[index[r]], index[r]))
    top, second = order[0], order[1]
    gap = float(theta[index[top]] - theta[index[second]])
    p_top = 1.0 / (1.0 + math.exp(-gap))
    common = dict(
        order=order,
        margin=_top_margin(votes, ws, top, second, total, ranks),
        n_votes=len(votes),
        responses=list(responses),
        pairs=pairs,
        scores={"bradley_terry": {r: float(theta[index[r]]) for r in responses}},
    )
    if total > 0 and bad / total > 0.5:
        return ConsensusResult(**base, outcome="both_bad", winner=None, confidence=bad / total, **common)
    if gap > 1e-9 and p_top >= min_confidence:
        return ConsensusResult(**base, outcome="win", winner=top, confidence=p_top, **common)
    if all(p.outcome == "tie" for p in pairs):
        return ConsensusResult(
            **base, outcome="tie", winner=None, confidence=min(p.confidence for p in pairs), **common
        )
    return ConsensusResult(**base, outcome="none", winner=None, confidence=p_top, **common)


def _nway_result(base, votes, ws, responses, pairs, min_confidence, ranks) -> ConsensusResult:
    copeland = dict.fromkeys(responses, 0.0)
    for p in pairs:
        if p.outcome == "win":
            loser = p.b if p.winner == p.a else p.a
            copeland[p.winner] += 1
            copeland[loser] -= 1
    borda = dict.fromkeys(responses, 0.0)
    total = sum(ws)
    bad = 0.0
    for vote, w in zip(votes, ws, strict=True):
        if vote.outcome == "both_bad":
            bad += w
            continue
        above = 0
        sizes = [len(g) for g in vote.ranking]
        below = sum(sizes)
        for g in vote.ranking:
            below -= len(g)
            for x in g:
                borda[x] += w * (below - above)  # beaten minus beaten-by, ties count zero
            above += len(g)
    index = {r: k for k, r in enumerate(responses)}
    order = sorted(responses, key=lambda r: (-copeland[r], -borda[r], index[r]))
    scores = {"copeland": copeland, "borda": borda}
    top, second = order[0], order[1]
    behind = sum(
        w for v, w in zip(votes, ws, strict=True) if v.outcome != "both_bad" and tuple(v.ranking[0]) == (top,)
    )
    margin = _top_margin(votes, ws, top, second, total, ranks)
    common = dict(
        order=order, margin=margin, n_votes=len(votes), responses=list(responses), pairs=pairs, scores=scores
    )
    if total > 0 and bad / total > 0.5:
        return ConsensusResult(**base, outcome="both_bad", winner=None, confidence=bad / total, **common)
    if copeland[top] > copeland[second]:
        confidence = behind / total if total > 0 else 0.0
        if confidence >= min_confidence:
            return ConsensusResult(**base, outcome="win", winner=top, confidence=confidence, **common)
    if all(p.outcome == "tie" for p in pairs):
        confidence = min(p.confidence for p in pairs)
        return ConsensusResult(**base, outcome="tie", winner=None, confidence=confidence, **common)
    confidence = behind / total if total > 0 else 0.0
    return ConsensusResult(**base, outcome="none", winner=None, confidence=confidence, **common)


def consensus_by_comparison(votes: Iterable[Vote], **kwargs) -> dict[tuple[Hashable, str], ConsensusResult]:
    """`consensus_for_comparison` for each (comparison_id, criterion) group of `votes`."""
    groups: dict[tuple[Hashable, str], list[Vote]] = defaultdict(list)
    for v in votes:
        groups[(v.comparison_id, v.criterion)].append(v)
    return {key: consensus_for_comparison(vs, **kwargs) for key, vs in groups.items()}
