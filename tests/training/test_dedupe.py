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


def test_many_prompts_go_through_lsh_and_find_what_the_exact_search_finds(monkeypatch):
    """Above EXACT_UP_TO the candidates come from SimHash bands: every planted near-duplicate is found
    with the same partner, nothing below the threshold is reported, and the result equals the exact
    search's on the same data."""
    x, copies = planted(6000, 0.2)
    assert len(x) > dedupe.EXACT_UP_TO
    found = near_duplicates(x, 0.95)
    assert set(found) == set(copies)
    assert all(found[i][0] == copies[i] and found[i][1] >= 0.95 for i in found)
    monkeypatch.setattr(dedupe, "EXACT_UP_TO", 10**9)
    exact = near_duplicates(x, 0.95)
    assert exact.keys() == found.keys()  # cosines agree up to float32 summation order
    assert all(exact[i][0] == found[i][0] and abs(exact[i][1] - found[i][1]) <= 2e-4 for i in found)


def test_lsh_reports_only_true_pairs_and_misses_few_at_the_threshold():
    """Pairs planted exactly at cosine 0.9 (the hardest case): the share found is at least the
    recall the bands were sized for, minus sampling noise, and every reported cosine is real."""
    rng = np.random.default_rng(7)
    n, dim, threshold = 3000, 64, 0.9
    a = rng.standard_normal((n, dim))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    noise = rng.standard_normal((n, dim))
    noise -= (noise * a).sum(1, keepdims=True) * a  # orthogonal to a
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    angle = np.arccos(threshold + 1e-4)
    b = np.cos(angle) * a + np.sin(angle) * noise  # cosine(a_i, b_i) just above the threshold
    x = dedupe.normalise(np.concatenate([a, b]))
    later, earlier, cosine = dedupe.lsh_candidate_pairs(x, threshold)
    assert (cosine >= threshold).all()
    assert np.allclose(cosine, np.einsum("ij,ij->i", x[later], x[earlier]), atol=1e-5)
    found = {(int(i), int(j)) for i, j in zip(later, earlier, strict=True)}
    planted_pairs = {(n + k, k) for k in range(n)}
    recall = len(found & planted_pairs) / n
    assert recall >= dedupe.LSH_RECALL - 0.01, recall
    bands = dedupe.lsh_bands(threshold)
    same_bit = 1 - np.arccos(threshold) / np.pi
    assert (1 - same_bit**dedupe.LSH_BITS) ** bands <= 1 - dedupe.LSH_RECALL


def test_lsh_compares_a_small_share_of_all_pairs(monkeypatch):
    """The point of LSH: unrelated texts rarely share a band, so far fewer pairs are compared than
    the n(n-1)/2 of an all-pairs search."""
    rng = np.random.default_rng(1)
    x = dedupe.normalise(rng.standard_normal((5000, 64)))
    compared = []
    real_einsum = np.einsum
    monkeypatch.setattr(
        dedupe.np, "einsum", lambda spec, a, b: compared.append(len(a)) or real_einsum(spec, a, b)
    )
    dedupe.lsh_candidate_pairs(x, 0.95)
    assert sum(compared) < 0.01 * 5000 * 4999 / 2
