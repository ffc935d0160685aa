"""Bradley-Terry fit and bootstrap: preferences.consensus against choix, on the same simulated data.

    .venv/bin/python benchmarks/consensus.py [--judgments 100000] [--models 20] [--boot 1000]

Prints seconds for our fit and our bootstrap, for choix's fits on the same judgments, and for a naive
choix bootstrap (resample the judgment list, refit from scratch) timed for a few rounds and
extrapolated; plus the max abs difference between our strengths and choix's. No ties in the data,
because choix's pairwise data cannot express them.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import choix  # noqa: E402

from preferences.consensus import bradley_terry, bt_with_bootstrap, comparison_counts  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def simulate(n_models, n_judgments, seed):
    rng = np.random.default_rng(seed)
    true = rng.normal(0.0, 0.8, n_models)
    i = rng.integers(0, n_models, n_judgments)
    j = (i + rng.integers(1, n_models, n_judgments)) % n_models
    i_won = rng.random(n_judgments) < 1.0 / (1.0 + np.exp(true[j] - true[i]))
    winners, losers = np.where(i_won, i, j), np.where(i_won, j, i)
    return true, np.column_stack([winners, losers])


def centred(x):
    return x - x.mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--judgments", type=int, default=100_000)
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--naive-rounds", type=int, default=3, help="choix bootstrap rounds actually run")
    ap.add_argument("--alpha", type=float, default=0.01, help="L2 penalty for the MAP comparison")
    ap.add_argument("--skip-opt-pairwise", action="store_true", help="skip choix.opt_pairwise (slowest)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n, m = args.models, args.judgments
    _, rows = simulate(n, m, args.seed)
    data = [tuple(r) for r in rows.tolist()]
    print(f"{m:,} judgments among {n} models, no ties; bootstrap {args.boot} rounds\n")

    print("Fit (maximum likelihood, alpha=0)")
    ours_ml, t_ours_ml = timed(lambda: bradley_terry(rows, n_items=n, alpha=0))
    ref_ilsr, t_ilsr = timed(lambda: choix.ilsr_pairwise(n, data, alpha=0, tol=1e-10, max_iter=1000))
    counts = comparison_counts(rows, n)
    ref_dense, t_dense = timed(lambda: choix.ilsr_pairwise_dense(counts, tol=1e-10, max_iter=1000))
    print(f"  ours (counts + Newton)          {t_ours_ml:8.3f} s")
    print(
        f"  choix.ilsr_pairwise (list)      {t_ilsr:8.3f} s   max |diff| {np.abs(ours_ml - centred(ref_ilsr)).max():.2e}"
    )
    print(
        f"  choix.ilsr_pairwise_dense       {t_dense:8.3f} s   max |diff| {np.abs(ours_ml - centred(ref_dense)).max():.2e}"
    )

    print(f"\nFit (MAP, L2 penalty alpha={args.alpha})")
    ours_map, t_ours_map = timed(lambda: bradley_terry(rows, n_items=n, alpha=args.alpha))
    print(f"  ours                            {t_ours_map:8.3f} s")
    if not args.skip_opt_pairwise:
        ref_opt, t_opt = timed(lambda: choix.opt_pairwise(n, data, alpha=args.alpha, tol=1e-10))
        print(
            f"  choix.opt_pairwise (list)       {t_opt:8.3f} s   max |diff| {np.abs(ours_map - ref_opt).max():.2e}"
        )

    print(f"\nBootstrap, {args.boot} rounds (alpha={args.alpha})")
    res, t_boot = timed(
        lambda: bt_with_bootstrap(
            rows, n_items=n, n_boot=args.boot, seed=args.seed, baseline=0, alpha=args.alpha
        )
    )
    print(f"  ours (multinomial counts, batched warm Newton)   {t_boot:8.3f} s")

    rng = np.random.default_rng(args.seed)
    k = args.naive_rounds

    def naive():
        for _ in range(k):
            sample = rows[rng.integers(0, m, m)]
            choix.ilsr_pairwise(n, [tuple(r) for r in sample.tolist()], alpha=0, tol=1e-8, max_iter=1000)

    _, t_naive = timed(naive)
    per_naive = t_naive / k
    print(
        f"  choix.ilsr_pairwise, resampled list (naive)      {per_naive * args.boot:8.1f} s"
        f"   (extrapolated from {k} rounds, {per_naive:.2f} s each)"
    )

    def dense_boot():
        flat = counts.ravel()
        cells = np.flatnonzero(flat)
        draws = rng.multinomial(m, flat[cells] / m, size=k_dense)
        for d in draws:
            w = np.zeros(n * n)
            w[cells] = d
            choix.ilsr_pairwise_dense(w.reshape(n, n), tol=1e-8, max_iter=1000)

    k_dense = min(args.boot, 50)
    _, t_dense_boot = timed(dense_boot)
    per_dense = t_dense_boot / k_dense
    print(
        f"  choix.ilsr_pairwise_dense, resampled counts      {per_dense * args.boot:8.1f} s"
        f"   (extrapolated from {k_dense} rounds, {per_dense * 1000:.1f} ms each)"
    )
    print(
        f"\n  speed-up vs naive: {per_naive * args.boot / t_boot:,.0f}x; vs dense choix: {per_dense * args.boot / t_boot:,.1f}x"
    )
    width = res.win_rate_ci[:, 1] - res.win_rate_ci[:, 0]
    print(
        f"  95% win-rate interval width vs model 0: median {np.median(width[1:]):.3f}, max {width.max():.3f}"
    )


if __name__ == "__main__":
    main()
