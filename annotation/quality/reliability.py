"""Annotator reliability by Dawid & Skene (1979): EM over per-annotator confusion matrices.

numpy only, no Django. Each annotator j has a confusion matrix ``pi[j, k, l]`` = P(j says l | true
class is k); items have an unknown true class with prior ``p[k]``. EM alternates item posteriors
(E step) and priors + confusion matrices (M step), starting from the majority vote.

Usage::

    from annotation.reliability import dawid_skene, reliability_weights

    labels = np.array([[0, 1, -1, 2],      # annotators x items, class index 0..K-1, -1 = not labelled
                       [0, 1, 1, 2],
                       [1, 1, 1, -1]])
    result = dawid_skene(labels, n_classes=3)
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

__all__ = ["DawidSkeneResult", "dawid_skene", "majority_vote", "reliability_weights"]

MISSING = -1
# Pseudo-count added to every confusion-matrix cell and prior in the M step, so that a label an
# annotator never used for a class keeps a small probability (no log(0), no EM lock-in).
SMOOTHING = 0.01


@dataclass(frozen=True)
class DawidSkeneResult:
    """What `dawid_skene` estimated.

    confusion: annotators x K x K; row k (true class) is P(label | true class k), rows sum to 1.
    priors: K class priors. posteriors: items x K (rows of unlabelled items equal the priors).
    accuracy: per annotator, ``sum_k priors[k] * confusion[j, k, k]`` (their expected share correct).
    n_labelled: judgments per annotator. labelled_items: which items have at least one judgment.
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

    @property
    def labels(self) -> np.ndarray:
        """Most probable class per item; -1 for items that nobody labelled."""
        out = self.posteriors.argmax(axis=1)
        out[~self.labelled_items] = MISSING
        return out


def _observed(labels, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
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


def dawid_skene(labels, n_classes: int, max_iter: int = 100, tol: float = 1e-6) -> DawidSkeneResult:
    """Fit Dawid-Skene by EM on annotators x items integer labels (class 0..n_classes-1, -1 = missing).

    Starts from majority-vote shares as item posteriors. M step: priors and confusion matrices from
    the posteriors, with `SMOOTHING` pseudo-counts per cell. E step: posteriors
    ``P(k | item) ∝ p[k] * prod_j pi[j, k, label_j]``. Stops when the log-likelihood of the labels
    changes by at most ``tol`` relative, ``|ll - ll_prev| <= tol * |ll|`` (then ``converged``), or
    after ``max_iter`` iterations. Unlabelled items take the priors and do not enter the estimates. Raises ValueError on a malformed matrix or no judgments at all.
    """
    annotators, items, given, n_annotators, n_items = _observed(labels, n_classes)
    k = n_classes
    labelled = np.bincount(items, minlength=n_items) > 0
    post = _vote_shares(items, given, n_items, k)
    n_labelled = np.bincount(annotators, minlength=n_annotators)
    converged, n_iter = False, 0
    classes = np.arange(k)
    # flat indices, fixed across iterations: (annotator, true class, given label) and (item, true class)
    conf_cell = ((annotators[:, None] * k + classes[None, :]) * k + given[:, None]).ravel()
    item_cell = (items[:, None] * k + classes[None, :]).ravel()
    log_like = -math.inf
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - reported
        # M step
        priors = post[labelled].sum(axis=0) + SMOOTHING
        priors /= priors.sum()
        conf = np.bincount(conf_cell, weights=post[items].ravel(), minlength=n_annotators * k * k)
        conf = conf.reshape(n_annotators, k, k) + SMOOTHING
        conf /= conf.sum(axis=2, keepdims=True)
        # E step
        contrib = np.log(conf)[annotators, :, given]  # judgments x K
        log_post = np.bincount(item_cell, weights=contrib.ravel(), minlength=n_items * k).reshape(n_items, k)
        log_post += np.log(priors)
        top = log_post.max(axis=1, keepdims=True)
        norm = np.exp(log_post - top)
        total = norm.sum(axis=1, keepdims=True)
        new_post = norm / total
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
        params={"n_classes": k, "max_iter": max_iter, "tol": tol, "smoothing": SMOOTHING, "init": "majority"},
    )


def reliability_weights(result: DawidSkeneResult, max_weight: float = 10.0) -> dict[int, float]:
    """Annotator index -> vote weight: ``max(0, log((K - 1) * a / (1 - a)))`` for accuracy a, capped.

    This is the log-likelihood ratio that a symmetric annotator with accuracy a contributes for the
    class they chose (the optimal weighted-majority weight): 0 at chance (a = 1/K) and below, growing
    without bound as a -> 1, hence the cap ``max_weight``. Annotators with no judgments get 0.
    """
    k = result.confusion.shape[1]
    acc = np.clip(result.accuracy, 1e-12, 1.0 - 1e-12)
    weights = np.clip(np.log((k - 1) * acc / (1.0 - acc)), 0.0, max_weight)
    weights[result.n_labelled == 0] = 0.0
    return {j: float(w) for j, w in enumerate(weights)}
