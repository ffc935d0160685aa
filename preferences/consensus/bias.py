"""Position bias: wins by display slot, overall and per annotator, with an exact binomial test.

Conventions as in `preferences.consensus`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .votes import _jsonable

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


def _slot_counts(rows: list[tuple[int | None, int, int]]) -> SlotCounts:
    """Rows (winner slot or None, slots shown, how many judgments) of one group."""
    width = max((n for _, n, _ in rows), default=2)
    decided = [(s, n, c) for s, n, c in rows if s is not None]
    counts = [0] * width
    shown: dict[int, int] = defaultdict(int)  # slots shown -> decided judgments
    for slot, n_slots, count in decided:
        counts[slot] += count
        shown[n_slots] += count
    nd = sum(shown.values())
    expected = [sum(c / n for n, c in sorted(shown.items()) if s < n) for s in range(width)]
    shares = [c / nd if nd else 0.0 for c in counts]
    expected = [e / nd if nd else 0.0 for e in expected]
    top = max(range(width), key=lambda s: (shares[s] - expected[s], -s)) if nd else None
    p_value = _binom_two_sided(counts[top], nd, expected[top]) if top is not None else 1.0
    return SlotCounts(sum(c for *_, c in rows), nd, counts, shares, expected, top, p_value)


def position_bias(
    records: Iterable,
    *,
    min_judgments: int = 20,
    min_excess: float = 0.2,
    significance: float = 0.01,
) -> PositionBias:
    """Share of wins by display slot, overall and per annotator.

    A record is a mapping with ``annotator``, ``winner_slot`` (None for tie / both bad) and optional
    ``n_slots`` (default 2) and ``count`` (how many such judgments, default 1), or a tuple in that order. An annotator is flagged when they decided at
    least `min_judgments`, their most-picked slot exceeds its expected share by `min_excess`, and the
    binomial p-value is below `significance`.
    """
    by_annotator: dict[Hashable, list[tuple[int | None, int, int]]] = defaultdict(list)
    everything: list[tuple[int | None, int, int]] = []
    for rec in records:
        if isinstance(rec, Mapping):
            annotator, slot = rec["annotator"], rec.get("winner_slot")
            n_slots, count = rec.get("n_slots", 2), rec.get("count", 1)
        else:
            annotator, slot, n_slots, count = (tuple(rec) + (2, 1)[len(rec) - 2 :])[:4]
        n_slots, count = int(n_slots), int(count)
        if n_slots < 2 or (slot is not None and not 0 <= int(slot) < n_slots):
            raise ValueError(f"Bad record for {annotator!r}: winner_slot {slot!r} of {n_slots} slots.")
        row = (None if slot is None else int(slot), n_slots, count)
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
