"""Near-duplicate texts by embedding cosine, exact and without an all-pairs loop. Pure numpy.

`near_duplicates(embeddings, threshold)` is greedy and order-preserving: a text is dropped when its
cosine with an earlier *kept* text is >= threshold (the first of a group is kept), and reported as
{later index: (earlier kept index, cosine)} with the most similar kept text (ties: the earliest).

How: the normalised vectors are compared in blocks (one matrix product per block, against the
earlier rows only, a bounded amount of memory), keeping only the pairs at or above the threshold;
the greedy pass then walks those candidate pairs. Python work is linear in the texts plus the pairs
found; the all-pairs similarity stays inside BLAS and is never materialised whole.
"""

from __future__ import annotations

import numpy as np

SIMILARITY_BUDGET = 1 << 23  # floats per block of the similarity matrix (32 MiB)


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


def near_duplicates(embeddings, threshold: float) -> dict[int, tuple[int, float]]:
    """{later index: (earlier kept index, cosine rounded to 4 places)}; see the module docstring."""
    x = normalise(embeddings)
    if len(x) < 2:
        return {}
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
