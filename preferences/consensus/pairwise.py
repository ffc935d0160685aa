"""Two-response consensus over many comparisons at once: `consensus_for_comparison`'s "majority" and
"weighted" rules as numpy arrays, for comparisons of two responses whose votes are all pairwise votes on
those two (the common comparison at scale: 165,000 of them at a million judgments).

Conventions as in `preferences.consensus`. A comparison's canonical responses are (first, second); a
vote's `side` is FIRST, SECOND, TIE or BOTH_BAD. `pairwise_consensus` gives, per comparison, what
`consensus_for_comparison` gives for the same votes with ``responses=[first, second]``: outcome,
winner, confidence, margin, n_votes, and which response its order puts first. The sums are the same
floats, not merely close: each comparison's tallies are `np.bincount`s, which add a bin's weights one
by one from 0.0 in input order, as the rule's loop does (votes in the order given); the total is
``((first + second) + tie) + both_bad`` as `sum()` adds the tallies. Weights must be finite and >= 0
(a caller with any other routes the comparison through `consensus_for_comparison`).
`tests/preferences/test_consensus_pairwise.py` holds the two equal on random votes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIRST, SECOND, TIE, BOTH_BAD = 0, 1, 2, 3  # a vote's side
OUTCOME_NAMES = ("win", "tie", "both_bad", "none")  # a result's outcome, by code
WIN, TIED, BAD, NONE = 0, 1, 2, 3


@dataclass(frozen=True)
class PairwiseVotes:
    """Pairwise votes on two-response comparisons, one entry per vote (each comparison's votes in
    order): `comparison` indexes `ids` / `first` / `second` (the canonical responses), `side` is
    FIRST / SECOND / TIE / BOTH_BAD, `strength` 0..3 (wins), `weight` the vote's own weight."""

    ids: list
    first: np.ndarray
    second: np.ndarray
    comparison: np.ndarray
    annotator: np.ndarray
    side: np.ndarray
    strength: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class PairwiseResult:
    """Per comparison: `outcome` (codes into OUTCOME_NAMES), `winner` (FIRST, SECOND or -1), `leader`
    (the response the order puts first: FIRST or SECOND), `confidence`, `margin` (from the first
    response's side), `n_votes`."""

    outcome: np.ndarray
    winner: np.ndarray
    leader: np.ndarray
    confidence: np.ndarray
    margin: np.ndarray
    n_votes: np.ndarray


def pairwise_consensus(
    comparison, side, strength, weight, *, n: int, min_confidence: float = 0.0
) -> PairwiseResult:
    """The "weighted" rule's result for each of `n` comparisons (the "majority" rule's with weights
    of 1.0) from its votes: `comparison` index, `side`, `strength` and `weight` per vote."""
    comparison = np.asarray(comparison, dtype=np.intp)
    side = np.asarray(side)
    weight = np.asarray(weight, dtype=np.float64)
    if not np.isfinite(weight).all() or (weight < 0).any():
        raise ValueError("Weights must be finite and >= 0.")

    def tally(mask, values):
        return np.bincount(comparison[mask], weights=values[mask], minlength=n)

    first, second = side == FIRST, side == SECOND
    tallies = [tally(first, weight), tally(second, weight), tally(side == TIE, weight)]
    tallies.append(tally(side == BOTH_BAD, weight))
    step = weight * np.where(strength == 0, 1, strength)  # a win with no strength counts as 1
    won = first | second
    signed = tally(won, np.where(first, step, -step))  # x - y is x + (-y), exactly
    total = ((tallies[0] + tallies[1]) + tallies[2]) + tallies[3]
    stacked = np.stack(tallies)
    best = stacked.max(axis=0)
    leaders = (stacked == best).sum(axis=0)
    positive = total > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        confidence = np.where(positive, best / total, 0.0)
        margin = np.where(positive, signed / total, 0.0)
    lead = stacked.argmax(axis=0)  # FIRST, SECOND, TIE, BOTH_BAD: unique where it counts
    decided = positive & (leaders == 1) & (confidence >= min_confidence)
    outcome = np.where(decided, np.array([WIN, WIN, TIED, BAD])[lead], NONE)
    winner = np.where(decided & (lead <= SECOND), lead, -1)
    return PairwiseResult(
        outcome=outcome,
        winner=winner,
        leader=np.where(winner == SECOND, SECOND, FIRST),
        confidence=confidence,
        margin=margin,
        n_votes=np.bincount(comparison, minlength=n),
    )


def weights_by_comparison(votes: PairwiseVotes, weight) -> list[dict]:
    """Per comparison, {str(annotator): weight} in vote order (the "weighted" rule's `params["weights"]`)."""
    out: list[dict] = [{} for _ in range(len(votes))]
    names: dict = {}
    for k, annotator, w in zip(
        votes.comparison.tolist(), votes.annotator.tolist(), weight.tolist(), strict=True
    ):
        name = names.get(annotator)
        if name is None:
            name = names[annotator] = str(annotator)
        out[k][name] = w
    return out
