"""Choosing what reviewers see, and the maps of production traffic. Pure numpy: no Django.

Strategies (`choose`), each over the same candidate pool (near-duplicates of reference rows, i.e.
reviewed or already selected samples, removed first, and of each other as they are chosen):
  uncertainty  the highest priorities first (scoring.priorities);
  diversity    k-center greedy on embeddings: each pick is the candidate farthest (cosine) from the
               reference rows and from the picks so far, so a batch covers different regions;
  mix          k-center greedy inside the most informative `pool_factor` x budget candidates;
  random       uniform over the pool, seeded: the control the others must beat.
Every pick comes with why (a dict: strategy, rank, priority and/or distance) for the lead's pages.
"""

import numpy as np

STRATEGIES = ("uncertainty", "diversity", "mix", "random")


def unit(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or len(X) == 0:
        return (
            X.reshape(len(X), -1) if X.size else np.zeros((0, X.shape[-1] if X.ndim == 2 else 0), np.float32)
        )
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def max_similarity(X, reference, *, block: int = 4096) -> np.ndarray:
    """For each row of X, its largest cosine similarity to a reference row (-1 with no reference)."""
    X, R = unit(X), unit(reference)
    out = np.full(len(X), -1.0, dtype=np.float32)
    if len(R) == 0 or len(X) == 0:
        return out
    for start in range(0, len(R), block):
        sims = X @ R[start : start + block].T
        out = np.maximum(out, sims.max(axis=1))
    return out


def _greedy(X, budget, *, start_dist, threshold, order=None):
    """k-center greedy over unit rows X: picks (index, distance at pick), skipping rows within
    `threshold` cosine of a pick. `start_dist`: each row's distance to the reference (inf = none)."""
    dist = start_dist.copy()
    alive = np.ones(len(X), dtype=bool)
    picks = []
    while len(picks) < budget and alive.any():
        masked = np.where(alive, dist, -np.inf)
        if not np.isfinite(masked[alive]).any():  # no reference yet: begin with the first in `order`
            i = int(order[0]) if order is not None else int(np.flatnonzero(alive)[0])
            if not alive[i]:
                i = int(np.flatnonzero(alive)[0])
        else:
            i = int(np.argmax(masked))
        picks.append((i, float(dist[i]) if np.isfinite(dist[i]) else None))
        sims = X @ X[i]
        dist = np.minimum(dist, 1.0 - sims)
        alive &= sims < threshold
        alive[i] = False
    return picks


def choose(
    strategy: str,
    *,
    budget: int,
    embeddings,
    priority,
    reference=None,
    duplicate_threshold: float = 0.95,
    seed: int = 0,
    pool_factor: int = 3,
) -> list[tuple[int, dict]]:
    """Pick up to `budget` candidate rows by `strategy`; [(row index, reason)] in pick order.

    `embeddings` (n, d) and `priority` (n,) describe the candidates; `reference` (m, d) the rows
    already reviewed or selected. Candidates within `duplicate_threshold` cosine of a reference row
    or of an earlier pick are never chosen."""
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    X = unit(embeddings)
    priority = np.asarray(priority, dtype=float)
    n = len(X)
    if budget <= 0 or n == 0:
        return []
    ref = (
        unit(reference) if reference is not None and len(reference) else np.zeros((0, X.shape[1]), np.float32)
    )
    ref_sim = max_similarity(X, ref)
    eligible = np.flatnonzero(ref_sim < duplicate_threshold)
    start = np.where(len(ref) > 0, 1.0 - ref_sim, np.inf).astype(float)
    by_priority = eligible[np.argsort(-priority[eligible], kind="mergesort")]
    rank_of = {int(i): r + 1 for r, i in enumerate(np.argsort(-priority, kind="mergesort"))}

    def reason(i, **extra):
        return {
            "strategy": strategy,
            "priority": round(float(priority[i]), 4),
            "priority_rank": rank_of[i],
            **extra,
        }

    if strategy in ("uncertainty", "random"):
        if strategy == "random":
            order = np.random.default_rng(seed).permutation(eligible)
        else:
            order = by_priority
        picks, chosen = [], []
        for i in order:
            if chosen and float((X[chosen] @ X[i]).max()) >= duplicate_threshold:
                continue
            chosen.append(int(i))
            picks.append((int(i), reason(int(i), of=n)))
            if len(picks) >= budget:
                break
        return picks
    pool = by_priority if strategy == "diversity" else by_priority[: max(budget * pool_factor, budget)]
    found = _greedy(
        X[pool], budget, start_dist=start[pool], threshold=duplicate_threshold, order=np.arange(len(pool))
    )
    out = []
    for j, distance in found:
        i = int(pool[j])
        extra = {"distance": round(distance, 4) if distance is not None else None, "of": n}
        if strategy == "mix":
            extra["pool"] = int(len(pool))
        out.append((i, reason(i, **extra)))
    return out


def kmeans(X, k: int, *, seed: int = 0, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means (cosine) with k-means++ seeding: (labels (n,), unit centroids (k, d))."""
    X = unit(X)
    n = len(X)
    k = max(1, min(int(k), n))
    rng = np.random.default_rng(seed)
    centroids = [X[rng.integers(n)]]
    for _ in range(1, k):
        d = np.clip(1.0 - (X @ np.array(centroids).T).max(axis=1), 0.0, None)
        total = d.sum()
        centroids.append(X[rng.choice(n, p=d / total)] if total > 0 else X[rng.integers(n)])
    C = np.array(centroids)
    labels = np.zeros(n, dtype=int)
    for step in range(iterations):
        new = np.argmax(X @ C.T, axis=1)
        if step and np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = X[labels == j]
            if len(members):
                C[j] = members.mean(axis=0)
        C = unit(C)
    return labels, C


def pca_2d(X) -> np.ndarray:
    """The first two principal components of X (n, d) via SVD; zeros when there is too little data."""
    X = np.asarray(X, dtype=np.float64)
    if len(X) < 2:
        return np.zeros((len(X), 2))
    centred = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T
    if coords.shape[1] < 2:
        coords = np.hstack([coords, np.zeros((len(X), 2 - coords.shape[1]))])
    return coords


def coverage(samples, covered: dict, *, k: int, threshold: float = 0.8, seed: int = 0) -> list[dict]:
    """Production samples in k clusters; per cluster, the share of its samples within `threshold`
    cosine of a row of each covered set (e.g. {"reviewed": ..., "training": ...}). Least covered
    first (by the last covered set, then by size). Each cluster: {cluster, size, members (indices),
    <name>: share, <name>_count: covered-set rows nearest to this cluster}."""
    X = unit(samples)
    if len(X) == 0:
        return []
    labels, centroids = kmeans(X, k, seed=seed)
    out = []
    near = {name: max_similarity(X, rows) >= threshold for name, rows in covered.items()}
    owner = {
        name: np.argmax(unit(rows) @ centroids.T, axis=1) if len(rows) else np.zeros(0, int)
        for name, rows in covered.items()
    }
    for j in range(len(centroids)):
        members = np.flatnonzero(labels == j)
        if len(members) == 0:
            continue
        row = {"cluster": j, "size": int(len(members)), "members": members.tolist()}
        for name in covered:
            row[name] = round(float(near[name][members].mean()), 4)
            row[f"{name}_count"] = int((owner[name] == j).sum())
        out.append(row)
    last = list(covered)[-1] if covered else None
    out.sort(key=lambda r: ((r[last] if last else 0.0), -r["size"]))
    return out


def to_bytes(vector) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(blobs) -> np.ndarray:
    """Stored float32 vectors (bytes) -> (n, d) array."""
    blobs = list(blobs)
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
