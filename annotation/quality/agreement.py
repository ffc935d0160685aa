"""Inter-annotator agreement: Cohen's and Fleiss' kappa, Krippendorff's alpha, percent agreement, Kendall's tau.

numpy only, no Django. Every function takes plain arrays (or sequences) and returns a float or a small
dict; the database layer gathers the judgments and calls these.

Usage::

    import numpy as np
    from annotation.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha, percent_agreement

    cohen_kappa(["yes", "no", "yes"], ["yes", "no", "no"])            # two annotators, same items
    cohen_kappa([1, 2, 5], [1, 3, 4], weights="quadratic")            # ordered labels
    fleiss_kappa([[0, 3, 1], [4, 0, 0]])                              # items x categories, counts
    data = [[1, 2, np.nan, 4], [1, 3, 3, np.nan], [np.nan, 2, 3, 4]]  # annotators x items, nan = missing
    krippendorff_alpha(data, level="ordinal")
    percent_agreement(data)
    preference_strength_alpha(strengths)                              # signed -3..3, ties 0
    kendall_tau([1, 2, 3, 4], [1, 3, 2, 4])
    tau_against_consensus({"ann": {"c1": [1, 2, 3]}}, {"c1": [1, 3, 2]})

Conventions
  * Reliability data is annotators x items (the layout of the ``krippendorff`` package); a missing
    judgment is ``nan`` (or ``None`` in object arrays; unlike the package, the string "nan" is a value).
    Only *pairable* values count: an item with fewer than two values says nothing about agreement and
    is ignored by alpha and percent agreement.
  * No variation: when every pairable value is the same category, chance agreement is perfect and the
    chance-corrected coefficients are 0/0. Following the references (sklearn's ``cohen_kappa_score``
    returns nan, statsmodels' ``fleiss_kappa`` gives 0/0, Krippendorff (2011) calls alpha undefined
    without variation) every kappa/alpha here returns ``nan`` in that case, never 1.0. Percent agreement
    is not chance-corrected and is 1.0 there.
  * No usable data at all (empty input, everything missing, no item with two values) raises
    ``ValueError`` with a message saying which.
  * Results agree with the reference implementations to 1e-9: ``sklearn.metrics.cohen_kappa_score``,
    ``statsmodels.stats.inter_rater.fleiss_kappa(method="fleiss")``, ``krippendorff.alpha`` and
    ``scipy.stats.kendalltau`` (tau-b). The tests check this on random data.

Performance: alpha and percent agreement build the coincidence matrix with ``np.bincount`` over the
judgments (no Python loop over items); a million judgments (100k items x 10 annotators, values 1..5)
take about 0.05 s, nominal or ordinal (see ``benchmarks/agreement.py``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np

# Rank agreement lives in its own module (this one stays under 500 lines); re-exported here so that
# `annotation.quality.agreement` keeps its whole public API.
from annotation.quality.rank_agreement import kendall_tau, tau_against_consensus

__all__ = [
    "LEVELS",
    "PREFERENCE_STRENGTHS",
    "coincidence_matrix",
    "cohen_kappa",
    "fleiss_kappa",
    "kendall_tau",
    "krippendorff_alpha",
    "percent_agreement",
    "preference_strength_alpha",
    "tau_against_consensus",
]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")
PREFERENCE_STRENGTHS: tuple[int, ...] = (-3, -2, -1, 0, 1, 2, 3)
# Above this many cells, the items x values count matrix is not materialised (see `_coincidences`).
_DENSE_CELLS = 50_000_000


# --------------------------------------------------------------------------- Cohen's kappa


def _codes(values: Sequence[Hashable]) -> tuple[list, np.ndarray, bool]:
    """Distinct values, each value's index into them, and whether they are sorted (else first-seen order)."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):  # ragged or otherwise unusual values: hash them one by one
        arr = np.empty(0, dtype=object)
    homogeneous = arr.dtype.kind in "biuf" or (
        arr.dtype.kind in "US" and (isinstance(values, np.ndarray) or all(isinstance(v, str) for v in values))
    )  # np.asarray([1, "1"]) would make both "1"
    if arr.ndim == 1 and homogeneous and len(arr) == len(values):
        uniq, inverse = np.unique(arr, return_inverse=True)
        return uniq.tolist(), inverse.reshape(-1), True
    index: dict = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.intp, count=len(values))
    seen = list(index)
    try:
        order = sorted(range(len(seen)), key=lambda i: seen[i])
    except TypeError:
        return seen, codes, False
    rank = np.empty(len(seen), dtype=np.intp)
    rank[order] = np.arange(len(seen))
    return [seen[i] for i in order], rank[codes], True


def cohen_kappa(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    weights: Literal["linear", "quadratic"] | None = None,
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Cohen's kappa between two annotators who labelled the same items (``a[i]`` and ``b[i]``).

    Labels may be any hashable values. ``labels`` fixes the label set and, for weighted kappa, its
    order; pairs with a label outside it are ignored (as in sklearn). Without ``labels`` the label set
    is the union of ``a`` and ``b``, sorted; weighted kappa then needs labels that sort.
    ``weights``: None (disagreement 0/1), "linear" (``|i - j|``) or "quadratic" (``(i - j)**2``) on
    the label indices. Equals ``sklearn.metrics.cohen_kappa_score``; nan when only one label occurs.
    Raises ValueError on different lengths, no items, or no item left after filtering by ``labels``.
    """
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', not {weights!r}")
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"a and b must label the same items: {len(a)} != {len(b)} labels")
    if not a:
        raise ValueError("cohen_kappa needs at least one labelled item")
    seen, codes, ordered = _codes(a + b)
    if labels is None:
        if weights is not None and not ordered:
            raise ValueError("weighted kappa needs labels that sort, or an explicit `labels` order")
        k = len(seen)
        ca, cb = codes[: len(a)], codes[len(a) :]
    else:
        position = {label: i for i, label in enumerate(labels)}
        if len(position) != len(labels):
            raise ValueError("labels must be distinct")
        remap = np.array([position.get(v, -1) for v in seen], dtype=np.intp)
        ca, cb = remap[codes[: len(a)]], remap[codes[len(a) :]]
        if not (ca >= 0).any():
            raise ValueError("at least one label in `labels` must be present in `a`")
        keep = (ca >= 0) & (cb >= 0)
        ca, cb, k = ca[keep], cb[keep], len(labels)
        if not len(ca):
            raise ValueError("no item has both labels in `labels`")
    confusion = np.bincount(ca * k + cb, minlength=k * k).reshape(k, k).astype(np.float64)
    expected = np.outer(confusion.sum(axis=1), confusion.sum(axis=0)) / confusion.sum()
    idx = np.arange(k, dtype=np.float64)
    if weights is None:
        w = 1.0 - np.eye(k)
    elif weights == "linear":
        w = np.abs(idx[:, None] - idx[None, :])
    else:
        w = (idx[:, None] - idx[None, :]) ** 2
    denominator = float((w * expected).sum())
    if denominator == 0.0:
        return math.nan
    return float(1.0 - (w * confusion).sum() / denominator)


# --------------------------------------------------------------------------- Fleiss' kappa


def fleiss_kappa(counts: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Fleiss' kappa (1971) from an items x categories table: ``counts[i, c]`` annotators put item i in c.

    Every item must have the same number of annotators n >= 2 (Fleiss' design); equals
    ``statsmodels.stats.inter_rater.fleiss_kappa(counts, method="fleiss")``. nan when all judgments
    fall in one category. Raises ValueError on an empty or negative table or unequal row sums.
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or table.size == 0:
        raise ValueError("counts must be a non-empty items x categories table")
    if (table < 0).any() or not np.isfinite(table).all():
        raise ValueError("counts must be finite and non-negative")
    n_rat = table.sum(axis=1)
    if not (n_rat == n_rat[0]).all():
        raise ValueError("every item needs the same number of annotators; use krippendorff_alpha otherwise")
    n = n_rat[0]
    if n < 2:
        raise ValueError("every item needs at least two annotators")
    p_cat = table.sum(axis=0) / table.sum()
    p_item = ((table * table).sum(axis=1) - n) / (n * (n - 1.0))
    p_mean, p_exp = p_item.mean(), (p_cat * p_cat).sum()
    if p_exp == 1.0:
        return math.nan
    return float((p_mean - p_exp) / (1.0 - p_exp))


# --------------------------------------------------------------------------- Krippendorff's alpha


def _numeric_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each value's index; without a sort when the values are small integers."""
    low, high = values.min(), values.max()
    if high - low <= 4 * len(values) + 1024 and np.isfinite(low) and np.isfinite(high):
        offset = values - low
        as_int = offset.astype(np.intp)
        if np.array_equal(as_int, offset):
            used = np.bincount(as_int) > 0
            new_code = np.cumsum(used) - 1
            return np.flatnonzero(used) + low, new_code[as_int]
    domain, codes = np.unique(values, return_inverse=True)
    return domain, codes.reshape(-1)


def _judgments(reliability_data, value_domain) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """(item index, value code, number of items, domain) for every non-missing judgment."""
    try:
        data = np.asarray(reliability_data, dtype=np.float64)
        numeric = True
    except (TypeError, ValueError):
        data = np.asarray(reliability_data, dtype=object)
        numeric = False
    if data.ndim != 2:
        raise ValueError("reliability_data must be a 2-D annotators x items array")
    n_items = data.shape[1]
    if numeric:
        present = ~np.isnan(data)
        items = np.broadcast_to(np.arange(n_items), data.shape)[present]
        values = data[present]
    else:
        flat = data.ravel()
        present = np.fromiter(
            (v is not None and not (isinstance(v, float) and math.isnan(v)) for v in flat),
            dtype=bool,
            count=flat.size,
        ).reshape(data.shape)
        _, items = np.nonzero(present)
        values = data[present]
    if not len(values):
        raise ValueError("reliability_data has no values (everything is missing)")
    if value_domain is None:
        if numeric:
            domain, codes = _numeric_codes(values)
        else:
            seen, codes, _ = _codes(values.tolist())
            domain = np.empty(len(seen), dtype=object)
            domain[:] = seen
        return items, codes.reshape(-1), n_items, domain
    domain = np.asarray(value_domain, dtype=np.float64 if numeric else object)
    if domain.ndim != 1 or len(set(domain.tolist())) != len(domain):
        raise ValueError("value_domain must be a 1-D sequence of distinct values")
    if numeric:
        order = np.argsort(domain, kind="stable")
        pos = np.clip(np.searchsorted(domain[order], values), 0, len(domain) - 1)
        ok = domain[order][pos] == values
        codes = order[pos]
    else:
        position = {v: i for i, v in enumerate(domain.tolist())}
        codes = np.fromiter((position.get(v, -1) for v in values.tolist()), dtype=np.intp, count=len(values))
        ok = codes >= 0
    if not ok.all():
        raise ValueError("reliability_data contains values outside value_domain")
    return items, codes, n_items, domain


def _pairable(items, codes, n_items):
    """Drop judgments on items with fewer than two values; return the rest and each item's value count (0 if dropped)."""
    m_u = np.bincount(items, minlength=n_items)
    keep = m_u[items] >= 2
    if not keep.any():
        raise ValueError("no item has values from at least two annotators (nothing is pairable)")
    m_u[m_u < 2] = 0
    return items[keep], codes[keep], m_u


def _coincidences(items, codes, m_u, n_values, method="auto") -> np.ndarray:
    """Krippendorff's coincidence matrix o[c, k] = sum_u (pairs (c, k) in u, ordered) / (m_u - 1).

    "dense" counts values per item with one bincount (items x values) and contracts it with a
    matrix product: O(items * values**2). "pairs" enumerates the ordered pairs of judgments within
    each item and bincounts them: O(sum m_u**2), for many distinct values. "auto" picks the cheaper.
    """
    n_items = len(m_u)
    if method == "auto":
        pairs = float((m_u * (m_u - 1.0)).sum())
        dense_cost = float(np.count_nonzero(m_u >= 2)) * n_values * (n_values + 2.0)
        small = n_items * n_values <= _DENSE_CELLS
        method = "dense" if small and dense_cost <= 4.0 * pairs else "pairs"
    inv = np.zeros(n_items)
    np.divide(1.0, m_u - 1.0, out=inv, where=m_u >= 2)
    if method == "dense":
        counts = np.bincount(items * n_values + codes, minlength=n_items * n_values)
        counts = counts.reshape(n_items, n_values).astype(np.float64)
        weighted = counts * inv[:, None]
        o = counts.T @ weighted
        o[np.diag_indices(n_values)] -= weighted.sum(axis=0)
        return o
    if method != "pairs":
        raise ValueError(f"unknown method {method!r}")
    order = np.argsort(items, kind="stable")
    items, codes = items[order], codes[order]
    size = m_u[items]  # group size of each judgment's item (>= 2 here)
    starts = np.cumsum(m_u) - m_u  # first position of each item in the sorted judgments
    left = np.repeat(np.arange(len(items)), size)
    right = np.repeat(starts[items], size) + (np.arange(len(left)) - np.repeat(np.cumsum(size) - size, size))
    keep = left != right
    left, right = left[keep], right[keep]
    o = np.bincount(
        codes[left] * n_values + codes[right], weights=inv[items[left]], minlength=n_values * n_values
    )
    return o.reshape(n_values, n_values)


def coincidence_matrix(reliability_data, value_domain=None) -> tuple[np.ndarray, np.ndarray]:
    """Krippendorff's coincidence matrix of annotators x items data (nan = missing) and its value domain.

    ``o[c, k]`` counts the ordered pairs of values (c, k) from different annotators on the same item,
    each item weighted ``1 / (m_u - 1)`` where m_u is its number of values; items with one value are
    left out. Rows and columns follow the domain: ``value_domain`` as given, else the sorted distinct
    values. ``o.sum()`` is the number of pairable values.
    """
    items, codes, n_items, domain = _judgments(reliability_data, value_domain)
    items, codes, m_u = _pairable(items, codes, n_items)
    return _coincidences(items, codes, m_u, len(domain)), domain


def _distance(level: str, domain: np.ndarray, n_v: np.ndarray) -> np.ndarray:
    """Squared difference function delta^2 between the domain's values, per level of measurement."""
    n_values = len(domain)
    if level == "nominal":
        return 1.0 - np.eye(n_values)
    if level == "ordinal":
        # delta(c, k) = sum_{g=c..k} n_g - (n_c + n_k) / 2 = mid_k - mid_c, with mid = cumsum(n) - n / 2
        mid = np.cumsum(n_v) - n_v / 2.0
        return (mid[:, None] - mid[None, :]) ** 2
    try:
        v = domain.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{level} alpha needs numeric values")
    if level == "interval":
        return (v[:, None] - v[None, :]) ** 2
    if level == "ratio":
        total = v[:, None] + v[None, :]
        diff = v[:, None] - v[None, :]
        ratio = np.divide(diff, total, out=np.zeros_like(diff), where=total != 0)
        return ratio**2
    raise ValueError(f"level must be one of {LEVELS}, not {level!r}")


def krippendorff_alpha(
    reliability_data,
    level: Level = "nominal",
    value_domain: Sequence | None = None,
) -> float:
    """Krippendorff's alpha = 1 - D_o / D_e for annotators x items data with nan (or None) for missing.

    ``level``: "nominal", "ordinal", "interval" or "ratio" (the metric delta^2 of Krippendorff 2011).
    ``value_domain``: the possible values; required order for ordinal data that is not numeric
    (e.g. ["low", "mid", "high"]); by default the sorted distinct values. Values outside it raise.
    Only pairable values count (items with at least two values). Equals
    ``krippendorff.alpha(reliability_data=..., level_of_measurement=level, value_domain=...)``.
    Returns nan when the pairable values show no variation (D_e = 0). Raises ValueError when nothing
    is pairable or everything is missing.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    items, codes, n_items, domain = _judgments(reliability_data, value_domain)
    if level == "ordinal" and value_domain is None and domain.dtype == object:
        try:
            sorted(domain.tolist())
        except TypeError:
            raise ValueError("ordinal alpha needs values that sort, or an ordered value_domain")
    items, codes, m_u = _pairable(items, codes, n_items)
    o = _coincidences(items, codes, m_u, len(domain))
    n_v = o.sum(axis=0)
    n = n_v.sum()
    d = _distance(level, domain, n_v)
    expected = float(n_v @ d @ n_v) / (n - 1.0)
    if expected == 0.0:
        return math.nan
    return float(1.0 - (o * d).sum() / expected)


def percent_agreement(reliability_data) -> float:
    """Share of agreeing pairs among all pairs of judgments on the same item (annotators x items, nan = missing).

    Exactly: sum over items of the number of ordered pairs of *different annotators* who gave the same
    value, divided by the sum over items of m_u * (m_u - 1), where m_u is the item's number of values.
    Items with fewer than two values have no pairs and do not count; an item with many annotators
    weighs more (it has more pairs). With a constant number of annotators per item this is Fleiss'
    mean observed agreement P-bar, and 1 - D_o of nominal alpha. Values are compared for equality
    (nominal). Raises ValueError when nothing is pairable.
    """
    items, codes, n_items, domain = _judgments(reliability_data, None)
    items, codes, m_u = _pairable(items, codes, n_items)
    n_values = len(domain)
    if n_items * n_values <= _DENSE_CELLS:
        per_cell = np.bincount(items * n_values + codes, minlength=n_items * n_values).astype(np.float64)
    else:
        _, per_cell = np.unique(items.astype(np.int64) * n_values + codes, return_counts=True)
        per_cell = per_cell.astype(np.float64)
    agreeing = (per_cell * (per_cell - 1.0)).sum()
    pairs = (m_u * (m_u - 1.0)).sum()
    return float(agreeing / pairs)


# --------------------------------------------------------------------------- preferences and rankings


def preference_strength_alpha(strength_matrix) -> float:
    """Ordinal alpha over signed preference strengths: annotators x comparisons, nan = not judged.

    Convention (the one of ``preferences.consensus``): +1..+3 means the comparison's first response
    is slightly / clearly / much better, -1..-3 the second, 0 a tie (or "both bad" when the caller
    maps it to a tie). The value domain is fixed to -3..3, so a value outside it raises ValueError.
    Ordinal rather than interval: the steps of the strength scale are not known to be equal.
    """
    return krippendorff_alpha(strength_matrix, level="ordinal", value_domain=PREFERENCE_STRENGTHS)
