"""Pure preference aggregation: per-comparison consensus, Bradley-Terry strengths, bootstrap, biases.

numpy only, no Django. Raw judgments are the source of truth; everything here is derived from them
and records the rule and parameters that produced it (`ConsensusResult.params`, `BTResult.params`).

Conventions
  * A pairwise vote says which of `left` / `right` (response ids, as displayed) won, or "tie" /
    "both_bad", with a strength 1..3 (slightly, clearly, much better). Its signed margin is
    +strength when the comparison's first response wins, -strength when the second does, 0 otherwise
    (a win with no stated strength, e.g. from a ranking, counts as 1).
  * An N-way vote is a ranking: groups of response ids, best first; ids in one group are tied.
  * Model outcomes for Bradley-Terry are rows ``(winner, loser)`` or ``(a, b, score_a)`` with
    ``score_a`` in {1, 0.5, 0}; a tie counts as half a win each way. "Both bad" is the caller's
    choice: drop it, or pass it as a tie.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np

__all__ = [
    "RULES",
    "BTResult",
    "ConsensusResult",
    "Pair",
    "PairConsensus",
    "PositionBias",
    "SlotCounts",
    "Vote",
    "bradley_terry",
    "bt_with_bootstrap",
    "comparison_counts",
    "consensus_by_comparison",
    "consensus_for_comparison",
    "position_bias",
    "ranking_to_pairs",
    "win_rate_matrix",
]

ResponseId = Hashable
Ranking = Sequence[Sequence[ResponseId]]
RULES = ("majority", "weighted", "bradley_terry")
BT_ALPHA = 0.01  # L2 penalty of the per-comparison Bradley-Terry rule (as the leaderboard's fit)
ELO_SCALE = 400.0 / math.log(10.0)
OUTCOMES = ("win", "tie", "both_bad", "none")


# --------------------------------------------------------------------------- rankings and votes


class Pair(NamedTuple):
    """`winner` beat `loser`; when `tie` is true the two are equal and are listed in ranking order."""

    winner: ResponseId
    loser: ResponseId
    tie: bool = False


def ranking_to_pairs(ranking: Ranking) -> list[Pair]:
    """Every pair a ranking implies (groups best first): one per two ids, ``tie=True`` within a group."""
    groups = [list(g) for g in ranking if len(g)]
    seen = [x for g in groups for x in g]
    if len(set(seen)) != len(seen):
        raise ValueError("A response appears more than once in the ranking.")
    pairs: list[Pair] = []
    for gi, group in enumerate(groups):
        for k, a in enumerate(group):
            pairs.extend(Pair(a, b, True) for b in group[k + 1 :])
        for lower in groups[gi + 1 :]:
            pairs.extend(Pair(a, b) for a in group for b in lower)
    return pairs


_SIDE = {"left": "left", "a": "left", "right": "right", "b": "right", "tie": "tie", "both_bad": "both_bad"}


@dataclass(frozen=True)
class Vote:
    """One annotator's judgment of one comparison: pairwise (`left`, `right`, `outcome`) or a `ranking`.

    Pairwise `outcome` is "left" | "right" | "tie" | "both_bad" ("A" / "B" accepted); N-way votes give
    `ranking` and an outcome of "ranked" (default), "tie" or "both_bad". `weight` is used by the
    "weighted" rule unless the `weights` mapping given to the rule names the annotator.
    """

    comparison_id: Hashable
    annotator: Hashable
    left: ResponseId | None = None
    right: ResponseId | None = None
    outcome: str = "ranked"
    strength: int = 0
    criterion: str = ""
    weight: float = 1.0
    ranking: tuple[tuple[ResponseId, ...], ...] | None = None

    def __post_init__(self):
        outcome = str(self.outcome).strip().lower().replace("-", "_").replace(" ", "_")
        if self.ranking is None:
            if self.left is None or self.right is None or self.left == self.right:
                raise ValueError("A vote needs two different responses (left, right) or a ranking.")
            if outcome not in _SIDE:
                raise ValueError(
                    f"Pairwise outcome must be left, right, tie or both_bad, not {self.outcome!r}."
                )
            outcome = _SIDE[outcome]
            if outcome == "left":
                ranking = ((self.left,), (self.right,))
            elif outcome == "right":
                ranking = ((self.right,), (self.left,))
            else:
                ranking = ((self.left, self.right),)
        else:
            ranking = tuple(tuple(g) for g in self.ranking if len(g))
            ranking_to_pairs(ranking)  # validates: no duplicates
            if sum(len(g) for g in ranking) < 2:
                raise ValueError("A ranking needs at least two responses.")
            if outcome not in ("ranked", "tie", "both_bad", "win"):
                raise ValueError(f"Ranking outcome must be ranked, tie or both_bad, not {self.outcome!r}.")
            if outcome == "win":
                outcome = "ranked"
            if outcome in ("tie", "both_bad"):
                ranking = (tuple(x for g in ranking for x in g),)
            elif len(ranking) == 1:
                outcome = "tie"
        if not 0 <= int(self.strength) <= 3:
            raise ValueError("Strength must be 0..3.")
        if not self.weight >= 0:
            raise ValueError("A vote's weight must be >= 0.")
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "ranking", ranking)
        object.__setattr__(
            self, "strength", int(self.strength) if outcome in ("left", "right", "ranked") else 0
        )

    @property
    def responses(self) -> tuple[ResponseId, ...]:
        """The responses this vote covers, in ranking order."""
        return tuple(x for g in self.ranking for x in g)

    @classmethod
    def from_payload(
        cls, payload: Mapping, *, comparison_id, annotator, criterion: str = "", weight: float = 1.0
    ) -> Vote:
        """A vote from a `preferences.payload.normalise` result (overall, or one rubric criterion)."""
        order = list(payload.get("display_order") or [])
        part = payload if not criterion else (payload.get("criteria") or {}).get(criterion)
        if part is None:
            raise ValueError(f"The judgment has no answer for criterion {criterion!r}.")
        outcome = part.get("outcome", "ranked")
        common = dict(comparison_id=comparison_id, annotator=annotator, criterion=criterion, weight=weight)
        strength = int(part.get("strength") or 0) if not criterion else 0
        if len(order) == 2 and outcome in ("win", "tie", "both_bad"):
            left, right = order
            if outcome == "win":
                outcome = "left" if part.get("winner", part["ranking"][0][0]) == left else "right"
            return cls(left=left, right=right, outcome=outcome, strength=strength, **common)
        ranking = tuple(tuple(g) for g in part["ranking"])
        return cls(ranking=ranking, outcome=outcome, strength=strength, **common)


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


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _vote_weights(votes, rule, weights):
    if rule not in RULES:
        raise ValueError(f"Unknown rule {rule!r}; use one of {', '.join(RULES)}.")
    if rule == "majority" or (rule == "bradley_terry" and not weights):
        return [1.0] * len(votes)
    weights = weights or {}
    out = [float(weights.get(v.annotator, v.weight)) for v in votes]
    if any(not w >= 0 for w in out):
        raise ValueError("Weights must be >= 0.")
    return out


def _pair_consensus(a, b, votes, ws, min_confidence) -> PairConsensus:
    """Tally the votes that cover both a and b; the plurality category wins if it is unique."""
    tallies = {"a": 0.0, "b": 0.0, "tie": 0.0, "both_bad": 0.0}
    signed = 0.0
    n = 0
    for vote, w in zip(votes, ws, strict=True):
        rank = {x: k for k, g in enumerate(vote.ranking) for x in g}
        if a not in rank or b not in rank:
            continue
        n += 1
        if vote.outcome == "both_bad":
            tallies["both_bad"] += w
        elif rank[a] == rank[b]:
            tallies["tie"] += w
        elif rank[a] < rank[b]:
            tallies["a"] += w
            signed += w * (vote.strength if vote.strength else 1)
        else:
            tallies["b"] += w
            signed -= w * (vote.strength if vote.strength else 1)
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
    seen = {x for v in votes for x in v.responses}
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
    pairs = [
        _pair_consensus(a, b, votes, ws, min_confidence)
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
        return _bt_result(base, votes, ws, responses, pairs, min_confidence)
    return _nway_result(base, votes, ws, responses, pairs, min_confidence)


def _top_margin(votes, ws, top, second, total) -> float:
    """N-way margin: the weighted mean of +1 / 0 / -1 per vote as it ranks `top` over `second`."""
    signed = 0.0
    for vote, w in zip(votes, ws, strict=True):
        rank = {x: k for k, g in enumerate(vote.ranking) for x in g}
        if vote.outcome != "both_bad" and top in rank and second in rank:
            signed += w * float(np.sign(rank[second] - rank[top]))
    return signed / total if total > 0 else 0.0


def _bt_result(base, votes, ws, responses, pairs, min_confidence) -> ConsensusResult:
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
        margin=_top_margin(votes, ws, top, second, total),
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


def _nway_result(base, votes, ws, responses, pairs, min_confidence) -> ConsensusResult:
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
    margin = _top_margin(votes, ws, top, second, total)
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


# --------------------------------------------------------------------------- Bradley-Terry


def _outcome_cells(outcomes, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(wins, ties): integer matrices, wins[i, j] = times i beat j, ties[i, j] (i < j) = ties of i and j."""
    arr = np.asarray(outcomes, dtype=float)
    if arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise ValueError("Outcomes are rows (winner, loser) or (a, b, score_a).")
    a = arr[:, 0].astype(np.int64)
    b = arr[:, 1].astype(np.int64)
    if not (np.array_equal(a, arr[:, 0]) and np.array_equal(b, arr[:, 1])):
        raise ValueError("Item indices must be integers.")
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_items):
        raise ValueError(f"Item indices must be in 0..{n_items - 1}.")
    if np.any(a == b):
        raise ValueError("An item cannot be compared with itself.")
    score = arr[:, 2] if arr.shape[1] == 3 else np.ones(len(a))
    if not np.all(np.isin(score, (0.0, 0.5, 1.0))):
        raise ValueError("score_a must be 1 (a won), 0.5 (tie) or 0 (b won).")
    win = score == 1.0
    tie = score == 0.5
    winner = np.where(win, a, b)[~tie]
    loser = np.where(win, b, a)[~tie]
    wins = np.bincount(winner * n_items + loser, minlength=n_items * n_items).reshape(n_items, n_items)
    lo, hi = np.minimum(a[tie], b[tie]), np.maximum(a[tie], b[tie])
    ties = np.bincount(lo * n_items + hi, minlength=n_items * n_items).reshape(n_items, n_items)
    return wins, ties


def comparison_counts(outcomes, n_items: int) -> np.ndarray:
    """Matrix W with W[i, j] = wins of i over j, a tie adding 0.5 to both W[i, j] and W[j, i]."""
    wins, ties = _outcome_cells(outcomes, n_items)
    return wins + 0.5 * (ties + ties.T)


def win_rate_matrix(outcomes, n_items: int) -> np.ndarray:
    """R[i, j] = share of i-vs-j comparisons that i won (ties as half); NaN where never compared."""
    w = comparison_counts(outcomes, n_items)
    n = w + w.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, w / np.where(n > 0, n, 1.0), np.nan)


def _strongly_connected(w: np.ndarray) -> np.ndarray:
    """Per batch row: does every item beat, through some chain of wins, every other item?"""
    n = w.shape[-1]
    reach = ((w > 0) | np.eye(n, dtype=bool)).astype(np.float64)
    for _ in range(max(1, math.ceil(math.log2(max(n, 2))))):
        reach = np.minimum(reach @ reach, 1.0)
    return reach.reshape(reach.shape[:-2] + (-1,)).min(axis=-1) > 0


def _objective(w, theta, alpha):
    diff = theta[..., :, None] - theta[..., None, :]
    return (w * np.logaddexp(0.0, -diff)).sum(axis=(-1, -2)) + alpha * (theta**2).sum(axis=-1)


def _newton(w: np.ndarray, theta: np.ndarray, alpha: float, max_iter: int, tol: float):
    """Damped Newton on a batch: w (B, n, n) win counts, theta (B, n) start. Returns (theta, iters, ok)."""
    n = w.shape[-1]
    total = w + np.swapaxes(w, -1, -2)
    eye = np.eye(n)
    theta = theta.copy()
    converged = np.zeros(theta.shape[0], dtype=bool)
    f = _objective(w, theta, alpha)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        diff = theta[:, :, None] - theta[:, None, :]
        p = 0.5 * (1.0 + np.tanh(0.5 * diff))  # P(i beats j), overflow-free
        grad = -(w - total * p).sum(axis=2) + 2.0 * alpha * theta
        curv = total * p * (1.0 - p)
        hess = -curv + eye * (curv.sum(axis=2) + 2.0 * alpha)[:, :, None]
        if alpha == 0:
            hess = hess + 1.0 / n  # the likelihood ignores shifts: solve within sum(step) = 0
        hess = hess + 1e-10 * eye  # guards the solve; moves the step path, never the fixed point
        step = np.linalg.solve(hess, -grad[:, :, None])[:, :, 0]
        slope = (grad * step).sum(axis=1)
        t = np.ones(theta.shape[0])
        for _ in range(40):  # backtrack until Armijo holds for every row
            new = theta + t[:, None] * step
            f_new = _objective(w, new, alpha)
            ok = f_new <= f + 1e-4 * t * slope + 1e-12 * np.abs(f)
            if ok.all():
                break
            t = np.where(ok, t, 0.5 * t)
        theta, f = new, f_new
        if alpha == 0:
            theta -= theta.mean(axis=1, keepdims=True)
        converged = np.abs(step).max(axis=1) < tol
        if converged.all():
            break
    return theta, it, converged


def _fit_counts(w, alpha, max_iter, tol, theta0=None):
    if not alpha >= 0:
        raise ValueError("alpha must be >= 0.")
    n = w.shape[-1]
    if alpha == 0 and not _strongly_connected(w[None])[0]:
        raise ValueError(
            "No finite maximum-likelihood strengths: some group of items never loses to the rest "
            "(or the comparisons are disconnected). Pass alpha > 0 for a regularised estimate."
        )
    start = np.zeros((1, n)) if theta0 is None else np.asarray(theta0, float).reshape(1, n)
    theta, iters, ok = _newton(w[None].astype(float), start, alpha, max_iter, tol)
    return theta[0] - theta[0].mean(), iters, bool(ok[0])


def bradley_terry(
    outcomes, *, n_items: int, alpha: float = 0.01, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """Bradley-Terry log-strengths θ (mean 0): P(i beats j) = 1 / (1 + exp(θj - θi)).

    Minimises ``-loglik(θ) + alpha * sum(θ**2)`` over the deduplicated win-count matrix by damped
    Newton; ties count as half a win each way. This is exactly `choix.opt_pairwise(n_items, data,
    alpha=alpha)`'s objective; alpha=0 is maximum likelihood (= `choix.ilsr_pairwise(..., alpha=0)`)
    and raises ValueError when no finite estimate exists.
    """
    theta, _, _ = _fit_counts(comparison_counts(outcomes, n_items), alpha, max_iter, tol)
    return theta


@dataclass(frozen=True)
class BTResult:
    """Bradley-Terry fit with percentile bootstrap intervals (rows of `*_ci` are (low, high)).

    `strengths` are log-strengths with mean 0; `win_rate[i]` = P(i beats the baseline) =
    s_i / (s_i + s_b); with no baseline, the baseline is a model of average (log-)strength.
    """

    strengths: np.ndarray
    strengths_ci: np.ndarray
    win_rate: np.ndarray
    win_rate_ci: np.ndarray
    baseline: int | None
    n_outcomes: int
    n_boot: int
    n_boot_failed: int
    params: dict[str, Any]
    samples: np.ndarray = field(repr=False)

    def elo(self, scale: float = 400.0, base: float = 1000.0) -> tuple[np.ndarray, np.ndarray]:
        """Elo-like ratings and intervals: base + θ · scale / ln 10 (400 points = 10:1 odds)."""
        k = scale / math.log(10.0)
        return base + k * self.strengths, base + k * self.strengths_ci

    def as_dict(self) -> dict[str, Any]:
        return {
            "strengths": self.strengths.tolist(),
            "strengths_ci": self.strengths_ci.tolist(),
            "win_rate": self.win_rate.tolist(),
            "win_rate_ci": self.win_rate_ci.tolist(),
            "baseline": self.baseline,
            "n_outcomes": self.n_outcomes,
            "n_boot": self.n_boot,
            "n_boot_failed": self.n_boot_failed,
            "params": self.params,
        }


def _win_rate(theta: np.ndarray, baseline: int | None) -> np.ndarray:
    ref = 0.0 if baseline is None else theta[..., baseline : baseline + 1]
    return 1.0 / (1.0 + np.exp(ref - theta))


def bt_with_bootstrap(
    outcomes,
    *,
    n_items: int,
    n_boot: int = 1000,
    seed: int = 0,
    baseline: int | None = None,
    ci: float = 0.95,
    alpha: float = 0.01,
    max_iter: int = 100,
    tol: float = 1e-8,
    batch_cells: int = 4_000_000,
) -> BTResult:
    """`bradley_terry` plus percentile intervals from `n_boot` resamples of the judgments.

    A resample draws the same number of judgments with replacement; it is done on the counts of the
    unique (winner, loser) and tie cells with one multinomial draw, and every refit is a batched Newton
    started from the full-data solution. Same seed, same result. With alpha=0, resamples without a
    finite estimate are left out and counted in `n_boot_failed`.
    """
    if baseline is not None and not 0 <= baseline < n_items:
        raise ValueError(f"baseline must be an item index in 0..{n_items - 1}.")
    if not 0 < ci < 1:
        raise ValueError("ci must be between 0 and 1.")
    wins, ties = _outcome_cells(outcomes, n_items)
    w_full = wins + 0.5 * (ties + ties.T)
    theta, _, _ = _fit_counts(w_full, alpha, max_iter, tol)
    flat = np.concatenate([wins.ravel(), ties.ravel()])
    cells = np.flatnonzero(flat)
    counts = flat[cells]
    m = int(counts.sum())
    rng = np.random.default_rng(seed)
    samples = np.empty((n_boot, n_items))
    ok = np.ones(n_boot, dtype=bool)
    nn = n_items * n_items
    chunk = max(1, batch_cells // max(nn, 1))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draw = rng.multinomial(m, counts / m, size=size) if m else np.zeros((size, 0), np.int64)
        full = np.zeros((size, 2 * nn))
        full[:, cells] = draw
        w_b = full[:, :nn].reshape(size, n_items, n_items)
        t_b = full[:, nn:].reshape(size, n_items, n_items)
        w_b = w_b + 0.5 * (t_b + np.swapaxes(t_b, 1, 2))
        good = _strongly_connected(w_b) if alpha == 0 else np.ones(size, dtype=bool)
        fit = np.full((size, n_items), np.nan)
        if good.any():
            fit[good], _, _ = _newton(
                w_b[good], np.broadcast_to(theta, (int(good.sum()), n_items)), alpha, max_iter, tol
            )
        samples[start : start + size] = fit - fit.mean(axis=1, keepdims=True)
        ok[start : start + size] = good
    kept = samples[ok]
    q = [100 * (1 - ci) / 2, 100 * (1 + ci) / 2]
    if len(kept):
        strengths_ci = np.percentile(kept, q, axis=0).T
        win_rate_ci = np.percentile(_win_rate(kept, baseline), q, axis=0).T
    else:
        strengths_ci = win_rate_ci = np.full((n_items, 2), np.nan)
    params = {
        "model": "bradley_terry",
        "alpha": alpha,
        "ties": "half a win each way",
        "n_boot": n_boot,
        "seed": seed,
        "ci": ci,
        "interval": "percentile",
        "resampling": "multinomial over unique outcome cells",
        "baseline": baseline,
        "tol": tol,
        "max_iter": max_iter,
    }
    return BTResult(
        strengths=theta,
        strengths_ci=strengths_ci,
        win_rate=_win_rate(theta, baseline),
        win_rate_ci=win_rate_ci,
        baseline=baseline,
        n_outcomes=m,
        n_boot=n_boot,
        n_boot_failed=int((~ok).sum()),
        params=params,
        samples=kept,
    )


# --------------------------------------------------------------------------- position bias


@dataclass(frozen=True)
class SlotCounts:
    """Wins by display slot (0 = left / A) for one group of judgments; `expected` is the unbiased share.

    `p_value`: two-sided exact binomial test that the most-picked slot's share equals its expected share.
    """

    n_judgments: int
    n_decided: int
    counts: list[int]
    shares: list[float]
    expected: list[float]
    top_slot: int | None
    p_value: float

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class PositionBias:
    """Wins by display slot overall and per annotator, and the annotators whose picks look positional."""

    overall: SlotCounts
    per_annotator: dict[Hashable, SlotCounts]
    flagged: list[Hashable]
    params: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.as_dict(),
            "per_annotator": {str(a): c.as_dict() for a, c in self.per_annotator.items()},
            "flagged": [_jsonable(a) for a in self.flagged],
            "params": self.params,
        }


def _binom_two_sided(k: int, n: int, p: float) -> float:
    if n == 0 or p <= 0 or p >= 1:
        return 1.0
    ks = np.arange(n + 1)
    lg = np.array([math.lgamma(x + 1) for x in range(n + 1)])
    logpmf = lg[n] - lg - lg[::-1] + ks * math.log(p) + (n - ks) * math.log1p(-p)
    return float(min(1.0, np.exp(logpmf[logpmf <= logpmf[k] + 1e-9]).sum()))


def _slot_counts(rows: list[tuple[int | None, int]]) -> SlotCounts:
    width = max((n for _, n in rows), default=2)
    decided = [(s, n) for s, n in rows if s is not None]
    counts = [0] * width
    expected = [0.0] * width
    for slot, n_slots in decided:
        counts[slot] += 1
        for s in range(n_slots):
            expected[s] += 1.0 / n_slots
    nd = len(decided)
    shares = [c / nd if nd else 0.0 for c in counts]
    expected = [e / nd if nd else 0.0 for e in expected]
    top = max(range(width), key=lambda s: (shares[s] - expected[s], -s)) if nd else None
    p_value = _binom_two_sided(counts[top], nd, expected[top]) if top is not None else 1.0
    return SlotCounts(len(rows), nd, counts, shares, expected, top, p_value)


def position_bias(
    records: Iterable,
    *,
    min_judgments: int = 20,
    min_excess: float = 0.2,
    significance: float = 0.01,
) -> PositionBias:
    """Share of wins by display slot, overall and per annotator.

    A record is a mapping with ``annotator``, ``winner_slot`` (None for tie / both bad) and optional
    ``n_slots`` (default 2), or a tuple in that order. An annotator is flagged when they decided at
    least `min_judgments`, their most-picked slot exceeds its expected share by `min_excess`, and the
    binomial p-value is below `significance`.
    """
    by_annotator: dict[Hashable, list[tuple[int | None, int]]] = defaultdict(list)
    everything: list[tuple[int | None, int]] = []
    for rec in records:
        if isinstance(rec, Mapping):
            annotator, slot, n_slots = rec["annotator"], rec.get("winner_slot"), rec.get("n_slots", 2)
        else:
            annotator, slot, n_slots = (tuple(rec) + (2,))[:3]
        n_slots = int(n_slots)
        if n_slots < 2 or (slot is not None and not 0 <= int(slot) < n_slots):
            raise ValueError(f"Bad record for {annotator!r}: winner_slot {slot!r} of {n_slots} slots.")
        row = (None if slot is None else int(slot), n_slots)
        by_annotator[annotator].append(row)
        everything.append(row)
    per = {a: _slot_counts(rows) for a, rows in by_annotator.items()}
    flagged = [
        a
        for a, c in per.items()
        if c.n_decided >= min_judgments
        and c.top_slot is not None
        and c.shares[c.top_slot] - c.expected[c.top_slot] >= min_excess
        and c.p_value < significance
    ]
    params = {"min_judgments": min_judgments, "min_excess": min_excess, "significance": significance}
    return PositionBias(_slot_counts(everything), per, flagged, params)
