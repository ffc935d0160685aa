"""Scores -> one priority per sample. Pure numpy: no Django.

Each signal is turned into "how informative" in [0, 1] by its percentile rank among the samples
scored together (so entropies in nats and log-probabilities on any scale mix fairly):

  entropy      mean token entropy of the output under the current model      higher -> informative
  logprob      mean log-probability per token of the output                   lower  -> informative
  quality      the quality model's P(accepted); near 0.5 is uncertain         1 - 2|q - 0.5| (no rank)
  committee    |mean log-prob under the current model - under the base|      higher -> informative
  margin       preference margin between two fresh samples                    smaller -> informative
  feedback     thumbs down 1, an edit 1, a retry 0.5, thumbs up 0 (capped at 1; no rank)

priority = sum(w_s * informative_s) / sum(w_s) over the signals the sample has (a missing signal
neither helps nor hurts). Weights come from TUNELOOP_AL_WEIGHTS (README); DEFAULT_WEIGHTS below.
"""

import numpy as np

SIGNALS = ("entropy", "logprob", "quality", "committee", "margin", "feedback")
DEFAULT_WEIGHTS = {
    "entropy": 1.0,
    "logprob": 1.0,
    "quality": 1.0,
    "committee": 1.0,
    "margin": 0.5,
    "feedback": 1.0,
}
RANKED = {"entropy": 1.0, "logprob": -1.0, "committee": 1.0, "margin": -1.0}


def percentile_ranks(values) -> np.ndarray:
    """Each finite value's rank in [0, 1] (ties share their mean rank; a single value gets 0.5);
    NaN stays NaN."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape, np.nan)
    mask = np.isfinite(values)
    n = int(mask.sum())
    if n == 0:
        return out
    if n == 1:
        out[mask] = 0.5
        return out
    finite = values[mask]
    order = np.argsort(finite, kind="mergesort")
    ranks = np.empty(n)
    ranks[order] = np.arange(n, dtype=float)
    uniques, inverse = np.unique(finite, return_inverse=True)  # average ranks over ties
    sums = np.bincount(inverse, weights=ranks)
    counts = np.bincount(inverse)
    out[mask] = (sums / counts)[inverse] / (n - 1)
    return out


def feedback_signal(*, thumbs: str, retried: bool, edited: bool) -> float:
    """User feedback as informativeness in [0, 1]: complaints are worth a reviewer's look."""
    value = (1.0 if thumbs == "down" else 0.0) + (1.0 if edited else 0.0) + (0.5 if retried else 0.0)
    return min(value, 1.0)


def quality_uncertainty(p) -> np.ndarray:
    """1 at P = 0.5 (the quality model cannot tell), 0 at P = 0 or 1."""
    p = np.asarray(p, dtype=float)
    return 1.0 - 2.0 * np.abs(p - 0.5)


def informativeness(signals: dict[str, list]) -> dict[str, np.ndarray]:
    """signal name -> raw values (None for missing) -> informativeness in [0, 1] (NaN = missing)."""
    out = {}
    for name, raw in signals.items():
        values = np.array([np.nan if v is None else float(v) for v in raw], dtype=float)
        if name in RANKED:
            out[name] = percentile_ranks(RANKED[name] * values)
        elif name == "quality":
            out[name] = quality_uncertainty(values)
        elif name == "feedback":
            out[name] = np.clip(values, 0.0, 1.0)
        else:
            raise KeyError(f"Unknown signal {name!r}; known: {', '.join(SIGNALS)}")
    return out


def priorities(signals: dict[str, list], weights: dict[str, float] | None = None) -> np.ndarray:
    """The documented combination: weighted mean of the available informativeness values; a sample
    with no signal at all gets 0."""
    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    parts = informativeness(signals)
    n = len(next(iter(signals.values()))) if signals else 0
    total, weight_sum = np.zeros(n), np.zeros(n)
    for name, values in parts.items():
        w = float(weights.get(name, 0.0))
        present = np.isfinite(values)
        total[present] += w * values[present]
        weight_sum[present] += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight_sum > 0, total / np.where(weight_sum > 0, weight_sum, 1.0), 0.0)


def committee_disagreement(mean_logprob_a: float, mean_logprob_b: float) -> float:
    """How much two model versions disagree about an output: the gap in mean token log-probability."""
    return abs(float(mean_logprob_a) - float(mean_logprob_b))


def implicit_reward(logprob_policy: float, logprob_reference: float) -> float:
    """DPO's implicit reward of a response (up to beta): log pi(y|x) - log pi_ref(y|x)."""
    return float(logprob_policy) - float(logprob_reference)
