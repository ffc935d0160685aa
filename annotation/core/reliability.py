"""Annotator reliability by Dawid & Skene (1979): EM over per-annotator confusion matrices, with a prior
that makes the vote weights hard to game.

numpy only, no Django; public (annotation's `core`), so preferences' `dawid_skene` consensus rule uses
the same fit as the agreement report. Each annotator j has a confusion matrix ``pi[j, k, l]`` = P(j says
l | true class is k); items have an unknown true class with prior ``p[k]``. EM alternates item
posteriors (E step) and priors + confusion matrices (M step), starting from the majority vote.

What makes it hard to game (issue 12):
  * **Fitted on items with at least two judgments** (`MIN_ITEM_JUDGMENTS`) or a gold answer. An item
    only one annotator saw says nothing about that annotator's reliability (the consensus is their own
    answer); it still gets a posterior from the fitted matrices.
  * **Gold answers anchor the fit**: the first M step learns from the gold items alone (so a majority
    of adversaries cannot flip the classes), a gold item's posterior is clamped to its known class in
    every E step, and it enters the M step with a single judgment.
  * **A Dirichlet prior on each confusion row** (posterior-mean estimate): `PRIOR_STRENGTH`
    pseudo-judgments per row, centred on the annotator's own answer rates over the fitted items, i.e.
    on the hypothesis that their answers do not depend on the truth, spread over the rows like the
    classes (row k gets ``PRIOR_STRENGTH * p[k]``, so rare classes are not biased towards common
    answers). A newcomer whose one answer matches the consensus has rows equal to their answer rates:
    weight 0. An annotator who always gives the same answer has identical rows under any class balance:
    weight 0.
  * **Weights measure information, not accuracy** (`information_weights`): the expected log-likelihood
    ratio that an annotator's answer l gives to "the truth is l" against "the truth is another class",
    ``w_j = sum_l q[j, l] * log(pi[j, l, l] / P_j(says l | truth != l))``, with ``q[j, l] =
    sum_k p[k] pi[j, k, l]`` their answer rates and ``P_j(says l | truth != l) = sum_{k != l} p[k]
    pi[j, k, l] / (1 - p[l])``. It is 0 whenever the rows are equal (answers independent of the truth:
    spammers, always-the-same-answer, at any class balance), equals the optimal weighted-majority
    weight ``log((K - 1) a / (1 - a))`` for a symmetric annotator of accuracy a, and is negative for an
    adversary (the class they name is less likely than the others).
  * **Evidence discount**: the vote weight (`reliability_weights`) is that figure times
    ``n / (n + EVIDENCE_JUDGMENTS)`` for the annotator's n fitted judgments, clipped to
    [0, max_weight]: an adversary's votes are zeroed, not flipped (the weighted rule only adds votes;
    the Dawid-Skene posterior itself reads an adversary's answers through their confusion matrix).
    On a balanced three-class crowd (`tests/crowds.py`) a newcomer right on 1, 2, 3 or 10 items of
    different classes weighs 0, 0.13, 0.37, 1.3; a proven 90%-accurate annotator about 2.9, a 70% one
    about 1.4 (before issue 12: 1.24, 2.73, 4.61 after 1..3 against 3.1 for the expert).

Usage::

    from annotation.core.reliability import dawid_skene, reliability_weights

    labels = np.array([[0, 1, -1, 2],      # annotators x items, class index 0..K-1, -1 = not labelled
                       [0, 1, 1, 2],
                       [1, 1, 1, -1]])
    result = dawid_skene(labels, n_classes=3, gold=[-1, 1, -1, -1])   # item 1's true class is 1
    result.accuracy          # per annotator: sum_k p[k] * pi[j, k, k]
    result.posteriors        # items x classes, P(true class | labels)
    result.labels            # most probable class per item (-1 for items nobody labelled)
    reliability_weights(result)   # {annotator index: vote weight >= 0}

Vectorised over judgments with ``np.bincount``: each EM iteration is O(judgments * classes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "EVIDENCE_JUDGMENTS",
    "MIN_ITEM_JUDGMENTS",
    "PRIOR_STRENGTH",
    "DawidSkeneResult",
    "dawid_skene",
    "information_weights",
    "majority_vote",
    "reliability_weights",
]

MISSING = -1
# Pseudo-count added to every confusion-matrix cell and prior in the M step, so that a label an
# annotator never used for a class keeps a small probability (no log(0), no EM lock-in).
SMOOTHING = 0.01
# Pseudo-judgments per annotator of the no-information Dirichlet prior, row k gets PRIOR_STRENGTH * p[k].
PRIOR_STRENGTH = 2.0
# Items with fewer judgments (and no gold answer) do not enter the M step.
MIN_ITEM_JUDGMENTS = 2
# A vote weight is discounted by n / (n + EVIDENCE_JUDGMENTS) for an annotator's n fitted judgments.
EVIDENCE_JUDGMENTS = 10


@dataclass(frozen=True)
class DawidSkeneResult:
    """What `dawid_skene` estimated.

    confusion: annotators x K x K; row k (true class) is P(label | true class k), rows sum to 1.
    priors: K class priors. posteriors: items x K (rows of unlabelled items equal the priors; gold
    items are one-hot on their class). accuracy: per annotator, ``sum_k priors[k] * confusion[j, k, k]``.
    n_labelled: judgments per annotator; n_fitted: those on the fitted items. labelled_items: which items
    have at least one judgment; fitted_items: which entered the M step (two judgments or a gold answer).
    """

    confusion: np.ndarray
    priors: np.ndarray
    posteriors: np.ndarray
    accuracy: np.ndarray
    n_labelled: np.ndarray
    labelled_items: np.ndarray
    log_likelihood: float
    n_iter: int
    converged: bool
    params: dict = field(default_factory=dict)
    n_fitted: np.ndarray | None = None
    fitted_items: np.ndarray | None = None

    @property
    def labels(self) -> np.ndarray:
        """Most probable class per item; -1 for items that nobody labelled."""
        out = self.posteriors.argmax(axis=1)
        out[~self.labelled_items] = MISSING
        return out


@dataclass(frozen=True)
class SparseLabels:
    """Annotators x items labels given as their judgments: parallel arrays (annotator, item, class),
    ordered by annotator then item (the order of the dense matrix's non-missing cells), and the shape."""

    annotators: np.ndarray
    items: np.ndarray
    classes: np.ndarray
    n_annotators: int
    n_items: int


def _observed(labels, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    if isinstance(labels, SparseLabels):  # the same arrays as the dense matrix would give
        if n_classes < 2:
            raise ValueError("n_classes must be at least 2")
        if not len(labels.classes):
            raise ValueError("labels has no judgments (everything is missing)")
        given = np.asarray(labels.classes, dtype=np.intp)
        return (
            np.asarray(labels.annotators),
            np.asarray(labels.items),
            given,
            labels.n_annotators,
            labels.n_items,
        )
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ValueError("labels must be a 2-D annotators x items array")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.array_equal(arr, np.round(arr)):
            raise ValueError("labels must be integer class indices (-1 for missing)")
        arr = arr.astype(np.int64)
    if n_classes < 2:
        raise ValueError("n_classes must be at least 2")
    if ((arr < MISSING) | (arr >= n_classes)).any():
        raise ValueError(f"labels must be in 0..{n_classes - 1}, or -1 for missing")
    present = arr != MISSING
    if not present.any():
        raise ValueError("labels has no judgments (everything is missing)")
    annotators, items = np.nonzero(present)
    return annotators, items, arr[present].astype(np.intp), arr.shape[0], arr.shape[1]


def majority_vote(labels, n_classes: int) -> np.ndarray:
    """Vote shares per item (items x K) from annotators x items labels (-1 missing); zero rows when unlabelled."""
    _, items, given, _, n_items = _observed(labels, n_classes)
    return _vote_shares(items, given, n_items, n_classes)


def _vote_shares(items, given, n_items, n_classes):
    counts = np.bincount(items * n_classes + given, minlength=n_items * n_classes)
    counts = counts.reshape(n_items, n_classes).astype(np.float64)
    total = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)


def _gold_classes(gold, n_items: int, n_classes: int) -> np.ndarray:
    if gold is None:
        return np.full(n_items, MISSING, dtype=np.intp)
    out = np.asarray(gold)
    if out.shape != (n_items,) or (out.size and not np.issubdtype(out.dtype, np.integer)):
        raise ValueError("gold must be one integer class (or -1) per item")
    if ((out < MISSING) | (out >= n_classes)).any():
        raise ValueError(f"gold must be in 0..{n_classes - 1}, or -1 for no gold answer")
    return out.astype(np.intp)


def _allowed_classes(allowed, n_items: int, n_classes: int, gold: np.ndarray) -> np.ndarray | None:
    if allowed is None:
        return None
    out = np.asarray(allowed, dtype=bool)
    if out.shape != (n_items, n_classes):
        raise ValueError("allowed must be an items x n_classes boolean array")
    if not out.any(axis=1).all():
        raise ValueError("allowed leaves an item without any possible class")
    has_gold = gold >= 0
    if not out[has_gold, gold[has_gold]].all():
        raise ValueError("a gold answer is a class that `allowed` rules out for its item")
    return out


def dawid_skene(
    labels,
    n_classes: int,
    max_iter: int = 100,
    tol: float = 1e-6,
    *,
    gold=None,
    allowed=None,
    prior_strength: float = PRIOR_STRENGTH,
    min_item_judgments: int = MIN_ITEM_JUDGMENTS,
) -> DawidSkeneResult:
    """Fit Dawid-Skene by EM on annotators x items integer labels (class 0..n_classes-1, -1 = missing),
    or on the same judgments as `SparseLabels` (no dense matrix: a million judgments stay small).

    `gold`: optional class per item (-1: none); those items' posteriors are clamped to it. `allowed`:
    optional items x K booleans, the classes an item can have (e.g. "response 3" only where there are
    three responses). Starts from majority-vote shares. M step, over the fitted items (at least
    `min_item_judgments` judgments, or gold): priors, and confusion rows as posterior means under the
    Dirichlet prior of `prior_strength` pseudo-judgments per row centred on the annotator's own answer
    rates (plus `SMOOTHING` per cell). E step: ``P(k | item) ∝ p[k] * prod_j pi[j, k, label_j]`` for
    every labelled item. Stops when the log-likelihood of the labels changes by at most ``tol``
    relative (then ``converged``), or after ``max_iter`` iterations. When no item qualifies for the
    fit, every labelled item is fitted (there is nothing else to learn from). Raises ValueError on a
    malformed matrix or no judgments at all.
    """
    if prior_strength < 0:
        raise ValueError("prior_strength must be >= 0")
    annotators, items, given, n_annotators, n_items = _observed(labels, n_classes)
    k = n_classes
    gold_class = _gold_classes(gold, n_items, k)
    mask = _allowed_classes(allowed, n_items, k, gold_class)
    per_item = np.bincount(items, minlength=n_items)
    labelled = per_item > 0
    is_gold = (gold_class >= 0) & labelled
    fitted = ((per_item >= min_item_judgments) | is_gold) & labelled
    if not fitted.any():
        fitted = labelled
    fit = fitted[items]  # per judgment
    fa, fi, fg = annotators[fit], items[fit], given[fit]
    one_hot = np.eye(k)[gold_class[is_gold]]

    post = _vote_shares(items, given, n_items, k)
    post[is_gold] = one_hot
    n_labelled = np.bincount(annotators, minlength=n_annotators)
    n_fitted = np.bincount(fa, minlength=n_annotators)
    # the prior's centre: each annotator's answer rates over the fitted items (no information)
    rates = np.bincount(fa * k + fg, minlength=n_annotators * k).reshape(n_annotators, k) + SMOOTHING
    rates /= rates.sum(axis=1, keepdims=True)
    converged, n_iter = False, 0
    classes = np.arange(k)
    # flat indices, fixed across iterations: (annotator, true class, given label) and (item, true class)
    conf_cell = ((fa[:, None] * k + classes[None, :]) * k + fg[:, None]).ravel()
    item_cell = (items[:, None] * k + classes[None, :]).ravel()
    # with gold answers, the first M step learns from the gold items alone (they set the orientation:
    # a majority of adversaries cannot flip the classes); later ones from every fitted item
    first = is_gold if is_gold.any() else fitted
    log_like = -math.inf
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - reported
        # M step (fitted items only)
        use = first if n_iter == 1 else fitted
        priors = post[use].sum(axis=0) + SMOOTHING
        priors /= priors.sum()
        cell_weights = post[fi].ravel() if use is fitted else (post[fi] * use[fi][:, None]).ravel()
        conf = np.bincount(conf_cell, weights=cell_weights, minlength=n_annotators * k * k)
        # the Dirichlet prior: prior_strength pseudo-judgments per annotator, spread over the rows like
        # the classes (row k gets prior_strength * p[k]) and within a row like the annotator's answers
        conf = conf.reshape(n_annotators, k, k) + prior_strength * priors[None, :, None] * rates[:, None, :]
        conf += SMOOTHING
        conf /= conf.sum(axis=2, keepdims=True)
        # E step (every labelled item)
        contrib = np.log(conf)[annotators, :, given]  # judgments x K
        log_post = np.bincount(item_cell, weights=contrib.ravel(), minlength=n_items * k).reshape(n_items, k)
        log_post += np.log(priors)
        if mask is not None:
            log_post[~mask] = -np.inf
        top = log_post.max(axis=1, keepdims=True)
        norm = np.exp(log_post - top)
        total = norm.sum(axis=1, keepdims=True)
        new_post = norm / total
        new_post[is_gold] = one_hot
        prev, log_like = log_like, float((top[:, 0] + np.log(total[:, 0]))[labelled].sum())
        post = new_post
        if abs(log_like - prev) <= tol * abs(log_like):
            converged = True
            break
    accuracy = np.einsum("k,jkk->j", priors, conf)
    return DawidSkeneResult(
        confusion=conf,
        priors=priors,
        posteriors=post,
        accuracy=accuracy,
        n_labelled=n_labelled,
        labelled_items=labelled,
        log_likelihood=log_like,
        n_iter=n_iter,
        converged=converged,
        params={
            "n_classes": k,
            "max_iter": max_iter,
            "tol": tol,
            "smoothing": SMOOTHING,
            "prior_strength": prior_strength,
            "prior_centre": "own answer rates",
            "min_item_judgments": min_item_judgments,
            "gold_items": int(is_gold.sum()),
            "fitted_items": int(fitted.sum()),
            "init": "majority",
        },
        n_fitted=n_fitted,
        fitted_items=fitted,
    )


def information_weights(confusion: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Per annotator, the expected log-likelihood ratio of the class they name against the others
    (the formula is in the module docstring): 0 for answers independent of the truth, negative for an
    adversary, ``log((K - 1) a / (1 - a))`` for a symmetric annotator of accuracy a. Not discounted,
    not clipped."""
    conf = np.asarray(confusion, dtype=np.float64)
    p = np.asarray(priors, dtype=np.float64)
    k = conf.shape[1]
    answer_rates = np.einsum("k,jkl->jl", p, conf)  # [j, l]: q[j, l]
    diag = conf[:, np.arange(k), np.arange(k)]  # [j, l]: pi[j, l, l]
    others = (answer_rates - p[None, :] * diag) / (1.0 - p)[None, :]  # P(says l | truth is not l)
    return (answer_rates * (np.log(diag) - np.log(others))).sum(axis=1)


def reliability_weights(
    result: DawidSkeneResult, max_weight: float = 10.0, evidence: float = EVIDENCE_JUDGMENTS
) -> dict[int, float]:
    """Annotator index -> vote weight: `information_weights` times ``n / (n + evidence)`` for the
    annotator's n judgments on the fitted items, clipped to [0, max_weight].

    0 for answers that do not depend on the truth (whatever the class balance) and for adversaries;
    small until the evidence outweighs the prior (`PRIOR_STRENGTH`) and the discount; annotators with
    no judgments on the fitted items get 0."""
    n = result.n_fitted if result.n_fitted is not None else result.n_labelled
    discount = n / (n + evidence) if evidence > 0 else np.ones(len(n))
    weights = np.clip(information_weights(result.confusion, result.priors) * discount, 0.0, max_weight)
    weights[n == 0] = 0.0
    return {j: float(w) for j, w in enumerate(weights)}
