"""Krippendorff's alpha: annotation.agreement against the `krippendorff` package, on the same data.

    .venv/bin/python benchmarks/agreement.py [--items 100000] [--annotators 10] [--missing 0.3] [--repeat 3]
                                             [--wide-items 5000] [--wide-values 101]

Simulates annotators x items ratings 1..5 (a latent true rating per item, 60% of judgments equal to
it, the rest uniform), with a share of judgments missing (nan). For nominal and ordinal alpha prints
the best-of-`repeat` seconds for our implementation and for ``krippendorff.alpha``, both values and
their difference. Also times percent agreement and Dawid-Skene on the same judgments, which have no
package baseline here.

A second table uses a wide scale (0..100, a slider) on fewer items: the package materialises an
items x values x values float array (8 * items * values**2 bytes, 400 MB at the defaults), ours a
values x values matrix. ``--wide-items 0`` skips it.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import krippendorff  # noqa: E402

from annotation.core.reliability import dawid_skene  # noqa: E402
from annotation.quality.agreement import krippendorff_alpha, percent_agreement  # noqa: E402


def best_of(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def simulate(n_annotators, n_items, missing, seed, n_values=5):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, n_values + 1, n_items)
    noise = rng.integers(1, n_values + 1, (n_annotators, n_items))
    data = np.where(rng.random((n_annotators, n_items)) < 0.6, truth, noise).astype(float)
    data[rng.random(data.shape) < missing] = np.nan
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--annotators", type=int, default=10)
    ap.add_argument("--missing", type=float, default=0.3)
    ap.add_argument("--repeat", type=int, default=3, help="runs per timing; the best is printed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--wide-items", type=int, default=5000, help="items for the wide-scale table (0: skip)")
    ap.add_argument("--wide-values", type=int, default=101)
    args = ap.parse_args()
    data = simulate(args.annotators, args.items, args.missing, args.seed)
    n_judgments = int(np.count_nonzero(~np.isnan(data)))
    print(
        f"{args.items:,} items x {args.annotators} annotators, {args.missing:.0%} missing -> "
        f"{n_judgments:,} judgments, values 1..5; best of {args.repeat}\n"
    )
    compare(data, ("nominal", "ordinal"), args.repeat)
    share, t_share = best_of(lambda: percent_agreement(data), args.repeat)
    print(f"\npercent agreement: {share:.4f} in {t_share:.3f} s")
    labels = np.where(np.isnan(data), -1, data - 1).astype(np.int64)
    result, t_ds = best_of(lambda: dawid_skene(labels, 5), args.repeat)
    print(
        f"Dawid-Skene (5 classes): {result.n_iter} iterations in {t_ds:.3f} s, converged={result.converged}"
    )
    if args.wide_items:
        wide = simulate(args.annotators, args.wide_items, args.missing, args.seed, n_values=args.wide_values)
        print(
            f"\nWide scale: {args.wide_items:,} items x {args.annotators} annotators, "
            f"values 1..{args.wide_values}, {int(np.count_nonzero(~np.isnan(wide))):,} judgments"
        )
        compare(wide, ("ordinal", "interval"), args.repeat)


def compare(data, levels, repeat):
    """Print best-of-`repeat` seconds and values of our alpha and the package's, per level."""
    print(
        f"{'level':<9} {'ours (s)':>9} {'krippendorff (s)':>17} {'speed-up':>9} "
        f"{'alpha (ours)':>14} {'alpha (krippendorff)':>21} {'|diff|':>9}"
    )
    for level in levels:
        ours, t_ours = best_of(lambda level=level: krippendorff_alpha(data, level=level), repeat)
        theirs, t_theirs = best_of(
            lambda level=level: krippendorff.alpha(reliability_data=data, level_of_measurement=level), repeat
        )
        print(
            f"{level:<9} {t_ours:>9.3f} {t_theirs:>17.3f} {t_theirs / t_ours:>8.1f}x "
            f"{ours:>14.10f} {theirs:>21.10f} {abs(ours - theirs):>9.1e}"
        )


if __name__ == "__main__":
    main()
