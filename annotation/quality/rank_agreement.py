"""Rank agreement: Kendall's tau-b between two rankings, and each annotator's tau against the consensus.

numpy only, no Django. Part of the public API of `annotation.quality.agreement`, which re-exports
`kendall_tau` and `tau_against_consensus` (import them from there); conventions as described there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["kendall_tau", "tau_against_consensus"]


def _dense_ranks(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense integer ranks 0..k-1 of x and the size of each tie group."""
    uniq, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return inverse.reshape(-1), counts


def _inversions(y: np.ndarray) -> int:
    """Number of pairs i < j with y[i] > y[j], for integer y in [0, n); O(n log^2 n), no Python loop per item.

    At each level the positions split into blocks of width w; pairs of adjacent blocks (left, right)
    hold exactly the pairs i < j that first separate at that width. For every element of a right
    block, count the larger elements of its left block with a sorted search.
    """
    n = len(y)
    total = 0
    pos = np.arange(n, dtype=np.int64)
    yy = y.astype(np.int64)
    w = 1
    while w < n:
        block = pos // w
        pair, is_right = block // 2, (block % 2).astype(bool)
        left_keys = np.sort(pair[~is_right] * n + yy[~is_right])
        r_pair, r_y = pair[is_right], yy[is_right]
        upper = np.searchsorted(left_keys, (r_pair + 1) * n, side="left")
        at_most = np.searchsorted(left_keys, r_pair * n + r_y, side="right")
        total += int((upper - at_most).sum())
        w *= 2
    return total


def kendall_tau(a_ranks, b_ranks) -> float:
    """Kendall's tau-b between two rankings of the same items (rank or score per item; ties allowed).

    tau_b = (C - D) / sqrt((n0 - T_a) (n0 - T_b)) with n0 = n (n - 1) / 2 and T the pairs tied in one
    ranking. Equals ``scipy.stats.kendalltau(a, b).statistic``: nan when a ranking is constant, has
    fewer than two items or contains nan. O(n log^2 n). Raises ValueError on different lengths.
    """
    a = np.asarray(a_ranks, dtype=np.float64).reshape(-1)
    b = np.asarray(b_ranks, dtype=np.float64).reshape(-1)
    if len(a) != len(b):
        raise ValueError(f"rankings must cover the same items: {len(a)} != {len(b)}")
    n = len(a)
    if n < 2 or np.isnan(a).any() or np.isnan(b).any():
        return math.nan
    ra, ta = _dense_ranks(a)
    rb, tb = _dense_ranks(b)
    n0 = n * (n - 1) // 2
    tied_a = int((ta * (ta - 1) // 2).sum())
    tied_b = int((tb * (tb - 1) // 2).sum())
    _, tab = np.unique(ra.astype(np.int64) * n + rb, return_counts=True)
    tied_both = int((tab * (tab - 1) // 2).sum())
    if tied_a == n0 or tied_b == n0:
        return math.nan
    order = np.lexsort((rb, ra))  # by a, then b: within ties of a there are no inversions of b
    discordant = _inversions(rb[order])
    concordant = n0 - tied_a - tied_b + tied_both - discordant
    return float((concordant - discordant) / math.sqrt(float(n0 - tied_a) * float(n0 - tied_b)))


def _rank_map(ranking) -> dict:
    """{item: rank} from a mapping item -> rank, a sequence of groups (best first), or a rank vector."""
    if isinstance(ranking, Mapping):
        return {k: float(v) for k, v in ranking.items() if v is not None and not _isnan(v)}
    items = list(ranking)
    if items and all(isinstance(g, Iterable) and not isinstance(g, str | bytes) for g in items):
        return {item: float(r) for r, group in enumerate(items) for item in group}
    return {i: float(v) for i, v in enumerate(items) if v is not None and not _isnan(v)}


def _isnan(v) -> bool:
    return isinstance(v, float | np.floating) and math.isnan(v)


def _tau_maps(a: dict, b: dict) -> float:
    common = [k for k in a if k in b]
    return kendall_tau([a[k] for k in common], [b[k] for k in common])


def tau_against_consensus(rankings_by_annotator: Mapping, consensus_ranking) -> dict:
    """Each annotator's mean Kendall tau-b against the consensus ranking(s).

    A ranking is any of: a mapping item -> rank (lower = better; equal ranks are ties); a sequence of
    groups of item ids, best first (the ``preferences.consensus`` form; ids in a group are tied); or a
    rank vector over a fixed item order (nan / None = not ranked). Tau is taken over the items both
    rankings contain.

    * ``consensus_ranking`` a Mapping of comparison key -> ranking: ``rankings_by_annotator`` maps
      annotator -> {comparison key -> ranking}; each annotator's result is the mean tau over the
      comparisons they ranked that have a consensus. Taus that are nan (fewer than two common items,
      a constant ranking) are left out of the mean; an annotator with none gets nan.
    * Otherwise ``consensus_ranking`` is one ranking (a group list or a rank vector) and
      ``rankings_by_annotator`` maps annotator -> one ranking; the result is that one tau.

    A single consensus given as a mapping item -> rank would read as the first form: pass it as
    ``{key: consensus}`` with the annotators' rankings under the same key.
    """
    result: dict = {}
    if isinstance(consensus_ranking, Mapping):
        consensus = {key: _rank_map(r) for key, r in consensus_ranking.items()}
        for annotator, by_key in rankings_by_annotator.items():
            taus = [_tau_maps(_rank_map(r), consensus[key]) for key, r in by_key.items() if key in consensus]
            result[annotator] = _nanmean(taus)
        return result
    consensus = _rank_map(consensus_ranking)
    for annotator, ranking in rankings_by_annotator.items():
        result[annotator] = _tau_maps(_rank_map(ranking), consensus)
    return result


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan
