"""Rankings and votes: the `Vote` every consensus rule aggregates, and the pairs a ranking implies.

Conventions as in `preferences.consensus`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

ResponseId = Hashable
Ranking = Sequence[Sequence[ResponseId]]


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
    def canonical(cls, **fields) -> Vote:
        """A vote from every field already in the form `__post_init__` leaves it (outcome normalised,
        `ranking` a tuple of tuples, `strength` 0 unless a win), not checked again: for a reader that
        checked its rows in bulk (preferences.recompute reads a million of them)."""
        vote = object.__new__(cls)
        vote.__dict__.update(fields)
        return vote

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


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
