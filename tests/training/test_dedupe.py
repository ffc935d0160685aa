"""Near-duplicate detection (training.pipeline.dedupe): the greedy, order-preserving result of the
all-pairs method, found by a blocked threshold search, on a few thousand prompts."""

import numpy as np

from training.pipeline import dedupe, near_duplicates


def reference(x, threshold):
    """The definition, written plainly: each text against every earlier kept text."""
    x = dedupe.normalise(x)
    kept, dropped = [], {}
    for i in range(len(x)):
        sims = [(float(x[i] @ x[j]), -j) for j in kept]
        best = max(sims, default=None)
        if best is not None and best[0] >= threshold:
            dropped[i] = (-best[1], round(best[0], 4))
        else:
            kept.append(i)
    return dropped


def planted(n, share, dim=64, seed=0):
    """Unit vectors, `share` of them noisy copies (cosine ~0.99) of an earlier one: {copy: source}."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    copies = {}
    for i in sorted(rng.choice(np.arange(1, n), size=int(n * share), replace=False)):
        source = int(rng.integers(0, i))
        source = copies.get(source, source)  # a copy of a copy points at the original
        noisy = x[source] + rng.standard_normal(dim).astype(np.float32) * 0.01
        x[i] = noisy / np.linalg.norm(noisy)
        copies[int(i)] = source
    return x, copies


def test_same_result_as_the_definition_with_groups_ties_and_zero_rows():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((40, 16)).astype(np.float32)
    x = np.concatenate([base, base[:10] * 2.0, base[5:15] + 0.05, np.zeros((2, 16), np.float32)])
    x = x[rng.permutation(len(x))]
    for threshold in (0.5, 0.9, 0.95, 0.999):
        assert near_duplicates(x, threshold) == reference(x, threshold), threshold


def test_a_few_thousand_prompts_in_many_blocks(monkeypatch):
    x, copies = planted(2000, 0.25)
    found = near_duplicates(x, 0.95)
    assert set(found) == set(copies)
    assert all(found[i][0] == copies[i] and found[i][1] >= 0.95 for i in found)
    monkeypatch.setattr(dedupe, "SIMILARITY_BUDGET", 2000 * 37)  # 37-row blocks: ~100 of them
    assert near_duplicates(x, 0.95) == found


def test_a_dropped_text_never_keeps_a_later_one_out():
    a = np.array([1.0, 0.0], np.float32)
    b = np.array([np.cos(0.3), np.sin(0.3)], np.float32)  # close to a and to c
    c = np.array([np.cos(0.6), np.sin(0.6)], np.float32)  # close to b only
    threshold = float(np.cos(0.35))
    assert near_duplicates([a, b, c], threshold) == {1: (0, round(float(np.cos(0.3)), 4))}
