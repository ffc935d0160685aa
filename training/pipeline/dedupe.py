"""Near-duplicate texts by embedding cosine, exact and without an all-pairs loop. Pure numpy.

`near_duplicates(embeddings, threshold)` is greedy and order-preserving: a text is dropped when its
cosine with an earlier *kept* text is >= threshold (the first of a group is kept), and reported as
{later index: (earlier kept index, cosine)} with the most similar kept text (ties: the earliest).

How the candidate pairs (every pair at or above the threshold) are found:
- up to `EXACT_UP_TO` texts, exactly: the normalised vectors are compared in blocks (one matrix
  product per block, against the earlier rows only, bounded memory);
- above it, without comparing all pairs: random-hyperplane LSH (SimHash) in `bands` bands of `bits`
  bits; texts sharing a band's signature are candidates, and every candidate's cosine is computed
  exactly, so a reported pair always meets the threshold (no false positives). The number of bands
  is chosen from the threshold so that a pair *at* the threshold is missed with probability at most
  `1 - LSH_RECALL` (closer pairs are missed less often); unrelated texts rarely share a signature, so
  the work grows with the texts and the true near-duplicates, not with their square. A low threshold
  (below `LSH_MIN_THRESHOLD`, where LSH would have to pair almost everything) stays exact.
The greedy pass then walks the candidate pairs: Python work linear in the texts plus the pairs.
"""

from __future__ import annotations

import numpy as np

SIMILARITY_BUDGET = 1 << 23  # floats per block of the similarity matrix (32 MiB)
EXACT_UP_TO = 4096  # texts; above this, LSH candidates (below, all pairs in BLAS is as cheap and exact)
LSH_BITS = 16  # hyperplanes per band
LSH_RECALL = 0.999  # at least this share of the pairs exactly at the threshold is found
LSH_MIN_THRESHOLD = 0.5
LSH_MAX_BANDS = 96


def normalise(embeddings) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        x = x.reshape(len(x), -1)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def candidate_pairs(x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(later, earlier, cosine) arrays of every pair with earlier < later and cosine >= threshold,
    sorted by later index. `x` holds unit rows."""
    n = len(x)
    block = max(1, min(n, SIMILARITY_BUDGET // max(n, 1)))
    later, earlier, cosine = [], [], []
    for start in range(0, n, block):
        stop = min(n, start + block)
        sims = x[start:stop] @ x[:stop].T  # this block against itself and every earlier row
        rows, cols = np.nonzero(sims >= threshold)
        keep = cols < rows + start  # strictly earlier rows only
        rows, cols = rows[keep], cols[keep]
        later.append(rows + start)
        earlier.append(cols)
        cosine.append(sims[rows, cols])
    if not later:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return np.concatenate(later), np.concatenate(earlier), np.concatenate(cosine)


def lsh_bands(threshold: float, bits: int = LSH_BITS, recall: float = LSH_RECALL) -> int:
    """Bands of `bits` hyperplanes so that a pair at cosine `threshold` shares at least one band's
    signature with probability >= `recall` (one hyperplane separates it with probability angle/pi)."""
    same_bit = 1.0 - float(np.arccos(np.clip(threshold, -1.0, 1.0))) / np.pi
    same_band = same_bit**bits
    if same_band >= 1.0:
        return 1
    return int(min(LSH_MAX_BANDS, np.ceil(np.log(1.0 - recall) / np.log(1.0 - same_band))))


def lsh_candidate_pairs(x: np.ndarray, threshold: float, *, seed: int = 0, bits: int = LSH_BITS):
    """Like `candidate_pairs`, found through SimHash bands (see the module docstring): every pair
    returned meets the threshold; a pair at the threshold is missed with probability <= 1 - LSH_RECALL."""
    n, dim = x.shape
    bands = lsh_bands(threshold, bits)
    planes = np.random.default_rng(seed).standard_normal((dim, bands * bits)).astype(np.float32)
    weights = (1 << np.arange(bits, dtype=np.int64)).astype(np.int64)
    codes = []  # one array of pair codes (later * n + earlier) per band and group size
    rows = max(1, SIMILARITY_BUDGET // max(bands * bits, 1))
    keys = np.concatenate(  # n x bands signatures, `bits` bits each
        [
            ((x[r : r + rows] @ planes) > 0).reshape(-1, bands, bits).astype(np.int64) @ weights
            for r in range(0, n, rows)
        ]
    )
    for band in range(bands):
        order = np.argsort(keys[:, band], kind="stable")  # ascending index within a signature
        sorted_keys = keys[order, band]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        sizes = np.diff(np.r_[starts, n])
        for size in np.unique(sizes[sizes > 1]):
            members = order[starts[sizes == size][:, None] + np.arange(size)]  # groups x size, ascending
            i, j = np.triu_indices(size, k=1)  # members[:, j] is the later text of each pair
            codes.append((members[:, j].astype(np.int64) * n + members[:, i]).ravel())
    if not codes:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    pairs = np.unique(np.concatenate(codes))  # sorted by later, then earlier
    later, earlier = pairs // n, pairs % n
    cosine = np.empty(len(pairs), dtype=np.float32)
    step = max(1, SIMILARITY_BUDGET // max(dim, 1))
    for s in range(0, len(pairs), step):
        cosine[s : s + step] = np.einsum("ij,ij->i", x[later[s : s + step]], x[earlier[s : s + step]])
    keep = cosine >= threshold
    return later[keep], earlier[keep], cosine[keep]


def near_duplicates(embeddings, threshold: float) -> dict[int, tuple[int, float]]:
    """{later index: (earlier kept index, cosine rounded to 4 places)}; see the module docstring."""
    x = normalise(embeddings)
    if len(x) < 2:
        return {}
    if len(x) > EXACT_UP_TO and threshold >= LSH_MIN_THRESHOLD:
        later, earlier, cosine = lsh_candidate_pairs(x, threshold)
    else:
        later, earlier, cosine = candidate_pairs(x, threshold)
    kept = np.ones(len(x), dtype=bool)
    dropped: dict[int, tuple[int, float]] = {}
    # later is sorted: each text's candidates form one run, resolved after every earlier text.
    bounds = np.flatnonzero(np.diff(later)) + 1
    for i_group, j_group, c_group in zip(
        np.split(later, bounds), np.split(earlier, bounds), np.split(cosine, bounds), strict=True
    ):
        if not len(i_group):
            continue
        alive = kept[j_group]
        if not alive.any():
            continue
        j_alive, c_alive = j_group[alive], c_group[alive]
        best = max(range(len(j_alive)), key=lambda k: (c_alive[k], -j_alive[k]))
        i = int(i_group[0])
        kept[i] = False
        dropped[i] = (int(j_alive[best]), round(float(c_alive[best]), 4))
    return dropped
