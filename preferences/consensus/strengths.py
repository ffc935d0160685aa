"""Bradley-Terry strengths: the penalised fit, the bootstrap, comparison counts and win-rate matrix.

Conventions as in `preferences.consensus`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ELO_SCALE = 400.0 / math.log(10.0)


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
    return win_rate_from_counts(*_outcome_cells(outcomes, n_items))


def win_rate_from_counts(wins, ties) -> np.ndarray:
    """`win_rate_matrix` from the outcome counts (as `bt_from_counts` takes them)."""
    wins, ties = np.asarray(wins), np.asarray(ties)
    w = wins + 0.5 * (ties + ties.T)
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
    wins, ties = _outcome_cells(outcomes, n_items)
    return bt_from_counts(
        wins, ties, n_boot=n_boot, seed=seed, baseline=baseline, ci=ci, alpha=alpha, max_iter=max_iter,
        tol=tol, batch_cells=batch_cells,
    )  # fmt: skip


def bt_from_counts(
    wins,
    ties,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    baseline: int | None = None,
    ci: float = 0.95,
    alpha: float = 0.01,
    max_iter: int = 100,
    tol: float = 1e-8,
    batch_cells: int = 4_000_000,
) -> BTResult:
    """`bt_with_bootstrap` from the outcome counts instead of the outcomes: integer matrices with
    wins[i, j] = times i beat j and ties[i, j] (i < j) = ties of i and j (what SQL can aggregate).
    The same counts give exactly the same result as the outcomes they count."""
    wins, ties = np.asarray(wins, dtype=np.int64), np.asarray(ties, dtype=np.int64)
    n_items = wins.shape[0]
    if baseline is not None and not 0 <= baseline < n_items:
        raise ValueError(f"baseline must be an item index in 0..{n_items - 1}.")
    if not 0 < ci < 1:
        raise ValueError("ci must be between 0 and 1.")
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
