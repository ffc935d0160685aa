"""Near-duplicate prompts: training.pipeline.near_duplicates against the all-pairs method it
replaced (the greedy loop that compared every text with every kept text, in Python), same data; then
how the candidate search scales: SimHash bands (what near_duplicates uses above EXACT_UP_TO texts)
against the exact blocked all-pairs search, at growing sizes, same data, same threshold.

    .venv/bin/python benchmarks/near_duplicates.py [--prompts 5000] [--dup-share 0.2] [--dim 384]
        [--scaling 10000,20000,40000]

The data: unit vectors in `--dim` dimensions (MiniLM's size), of which `--dup-share` are noisy
copies (cosine about 0.98) of earlier ones. Prints seconds for both methods and whether they drop
the same texts with the same partners.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.pipeline import dedupe  # noqa: E402
from training.pipeline.dedupe import near_duplicates  # noqa: E402


def all_pairs(embeddings, threshold: float, *, block: int = 1024) -> dict[int, tuple[int, float]]:
    """The previous implementation (training/embeddings.py before the split), kept as the baseline."""
    x = np.asarray(embeddings, dtype=np.float32)
    if len(x) == 0:
        return {}
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms == 0, 1.0, norms)
    kept: list[int] = []
    kept_vecs = np.zeros((0, x.shape[1]), dtype=np.float32)
    dropped: dict[int, tuple[int, float]] = {}
    for start in range(0, len(x), block):
        chunk = x[start : start + block]
        inner = chunk @ chunk.T
        outer = chunk @ kept_vecs.T if len(kept) else None
        chunk_kept: list[int] = []
        for i in range(len(chunk)):
            best, best_j = -2.0, -1
            if outer is not None and outer.shape[1]:
                j = int(np.argmax(outer[i]))
                best, best_j = float(outer[i, j]), kept[j]
            for k in chunk_kept:
                if inner[i, k] > best:
                    best, best_j = float(inner[i, k]), start + k
            if best_j >= 0 and best >= threshold:
                dropped[start + i] = (best_j, round(best, 4))
            else:
                chunk_kept.append(i)
        kept.extend(start + k for k in chunk_kept)
        kept_vecs = np.concatenate([kept_vecs, chunk[chunk_kept]]) if chunk_kept else kept_vecs
    return dropped


def make_data(n: int, dup_share: float, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    n_dup = int(n * dup_share)
    for i in rng.choice(np.arange(1, n), size=n_dup, replace=False):
        source = int(rng.integers(0, i))
        noisy = x[source] + rng.standard_normal(dim).astype(np.float32) * 0.01
        x[i] = noisy / np.linalg.norm(noisy)
    return x


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=5000)
    parser.add_argument("--dup-share", type=float, default=0.2)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument(
        "--scaling", default="10000,20000,40000", help="sizes for the scaling table ('' skips it)"
    )
    args = parser.parse_args()
    x = make_data(args.prompts, args.dup_share, args.dim)
    ours, t_ours = timed(lambda: near_duplicates(x, args.threshold))
    old, t_old = timed(lambda: all_pairs(x, args.threshold))
    same = ours.keys() == old.keys() and all(ours[i][0] == old[i][0] for i in ours)
    print(f"{args.prompts} prompts, {args.dim} dims, threshold {args.threshold}")
    print(f"  ours (near_duplicates):          {t_ours:8.3f} s   dropped {len(ours)}")
    print(f"  old  (all-pairs greedy loop):    {t_old:8.3f} s   dropped {len(old)}")
    print(f"  speed-up {t_old / max(t_ours, 1e-9):.1f}x; same result: {same}")
    ok = same
    sizes = [int(v) for v in args.scaling.split(",") if v.strip()]
    if sizes:
        print(
            f"\ncandidate search, threshold {args.threshold} ({dedupe.lsh_bands(args.threshold)} bands of {dedupe.LSH_BITS} bits)"
        )
        print(f"  {'texts':>7} {'LSH s':>8} {'exact s':>8} {'pairs':>7} {'missed':>7}")
        for n in sizes:
            xn = dedupe.normalise(make_data(n, args.dup_share, args.dim, seed=n))
            (lsh_later, lsh_earlier, _), t_lsh = timed(
                lambda xn=xn: dedupe.lsh_candidate_pairs(xn, args.threshold)
            )
            (ex_later, ex_earlier, _), t_exact = timed(
                lambda xn=xn: dedupe.candidate_pairs(xn, args.threshold)
            )
            exact = set(zip(ex_later.tolist(), ex_earlier.tolist(), strict=True))
            missed = len(exact - set(zip(lsh_later.tolist(), lsh_earlier.tolist(), strict=True)))
            print(f"  {n:>7} {t_lsh:>8.2f} {t_exact:>8.2f} {len(exact):>7} {missed:>7}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
