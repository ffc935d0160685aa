"""Simulated crowds with a known truth, for the consensus-gaming tests and the benchmark.

Annotator types (each a function of the true class, `rng`, and the number of classes K):
  expert (90% right), average (70% right; wrong answers uniform over the other classes), spammer
  (uniform at random), adversary (right 10%, else the next class: anti-correlated), constant (always
  class 0, the majority class), newcomer (right on their few items, which have a confident consensus).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def symmetric(accuracy):
    def answer(truth, rng, k):
        wrong = (truth + rng.integers(1, k, truth.size)) % k
        return np.where(rng.random(truth.size) < accuracy, truth, wrong)

    return answer


def spammer(truth, rng, k):
    return rng.integers(0, k, truth.size)


def adversary(truth, rng, k):
    return np.where(rng.random(truth.size) < 0.1, truth, (truth + 1) % k)


def constant(truth, rng, k):
    return np.zeros(truth.size, dtype=np.int64)


TYPES = {
    "expert": symmetric(0.9),
    "average": symmetric(0.7),
    "spammer": spammer,
    "adversary": adversary,
    "constant": constant,
}


@dataclass
class Crowd:
    truth: np.ndarray  # item -> class
    labels: np.ndarray  # annotators x items, -1 missing
    kinds: list[str]  # annotator -> type ("newcomer1" .. "newcomer3" for newcomers with n items)
    n_classes: int

    def index(self, kind: str) -> list[int]:
        return [j for j, x in enumerate(self.kinds) if x == kind]


def simulate(
    seed: int,
    *,
    priors=(0.5, 0.3, 0.2),
    n_items: int = 600,
    per_item: int = 4,
    crowd=(("expert", 3), ("average", 6), ("spammer", 2), ("adversary", 1), ("constant", 1)),
    newcomers: int = 3,
) -> Crowd:
    """Items with `per_item` annotators drawn at random from the crowd; then newcomers 1..`newcomers`,
    newcomer n answering n items right, of different classes (their consensus is confident)."""
    rng = np.random.default_rng(seed)
    k = len(priors)
    truth = rng.choice(k, n_items, p=np.asarray(priors) / np.sum(priors))
    kinds = [name for name, count in crowd for _ in range(count)]
    labels = np.full((len(kinds) + newcomers, n_items), -1, dtype=np.int64)
    for j, name in enumerate(kinds):
        labels[j] = TYPES[name](truth, rng, k)
    # keep per_item annotators per item
    keep = np.argsort(rng.random((len(kinds), n_items)), axis=0) < per_item
    labels[: len(kinds)][~keep] = -1
    base = len(kinds)
    for n in range(1, newcomers + 1):
        j = base + n - 1
        kinds.append(f"newcomer{n}")
        # the strongest evidence n answers can give: items of n different classes (as far as K allows)
        items = [rng.choice(np.flatnonzero(truth == c % k)) for c in range(n)]
        labels[j, items] = truth[items]
    return Crowd(truth=truth, labels=labels, kinds=kinds, n_classes=k)
