"""Bradley-Terry fit and bootstrap: preferences.consensus against choix, on the same simulated data;
then the consensus rules on a simulated gamed crowd against crowd-kit's DawidSkene.

    .venv/bin/python benchmarks/consensus.py [--judgments 100000] [--models 20] [--boot 1000]
    .venv/bin/python benchmarks/consensus.py --crowd-only [--crowd-items 2000]

Prints seconds for our fit and our bootstrap, for choix's fits on the same judgments, and for a naive
choix bootstrap (resample the judgment list, refit from scratch) timed for a few rounds and
extrapolated; plus the max abs difference between our strengths and choix's. No ties in the data,
because choix's pairwise data cannot express them. The crowd part (`tests/crowds.py`: experts,
average annotators, spammers, an adversary, an always-same-answer annotator, newcomers; three classes
0.5 / 0.3 / 0.2) prints each rule's accuracy against the known truth, the fits' seconds, and the vote
weights by annotator type, now and with the accuracy-based weights used before issue 12.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import choix  # noqa: E402

from annotation.core.reliability import dawid_skene, majority_vote, reliability_weights  # noqa: E402
from preferences.consensus import (  # noqa: E402
    Vote,
    bradley_terry,
    bt_with_bootstrap,
    comparison_counts,
    dawid_skene_consensus,
)
from tests.crowds import simulate as simulate_crowd  # noqa: E402


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


def weighted_labels(labels, n_classes, weights):
    """The weighted rule on class labels: each annotator adds their weight to the class they chose."""
    shares = np.zeros((labels.shape[1], n_classes))
    for j, w in weights.items():
        seen = labels[j] >= 0
        shares[np.flatnonzero(seen), labels[j, seen]] += w
    return shares.argmax(axis=1)


def crowd(args):
    here = Path(__file__).resolve().parent  # benchmarks/queue.py would shadow the stdlib's queue
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    import pandas as pd  # deferred: only this part needs pandas and crowd-kit
    from crowdkit.aggregation import DawidSkene  # deferred: as above

    c = simulate_crowd(args.seed, priors=(0.5, 0.3, 0.2), n_items=args.crowd_items)
    k, labels, truth = c.n_classes, c.labels, c.truth
    print(f"\nCrowd: {truth.size:,} items, 4 of {len(c.kinds) - 3} annotators each, classes 0.5/0.3/0.2")
    ours, t_ours = timed(lambda: dawid_skene(labels, k))
    workers, tasks = np.nonzero(labels >= 0)
    df = pd.DataFrame({"worker": workers, "task": tasks, "label": labels[workers, tasks]})
    ref, t_ref = timed(lambda: DawidSkene(n_iter=100).fit_predict(df).reindex(range(truth.size)).to_numpy())
    outcome = {0: "left", 1: "right", 2: "tie"}
    votes = [
        Vote(comparison_id=int(i), annotator=int(j), left=10 * int(i), right=10 * int(i) + 1,
             outcome=outcome[int(labels[j, i])])
        for j, i in zip(workers, tasks, strict=True)
    ]  # fmt: skip
    rule, t_rule = timed(lambda: dawid_skene_consensus(votes))
    rule_labels = np.array(
        [
            {0: 0, 1: 1}.get(r.winner % 10, -1) if r.winner is not None else (2 if r.outcome == "tie" else -1)
            for (_, _), r in sorted(rule.items())
        ]
    )
    new_w = reliability_weights(ours)
    # before issue 12: no prior, every item fitted, weight = log-odds of the accuracy
    before = dawid_skene(labels, k, prior_strength=0, min_item_judgments=1)
    acc = np.clip(before.accuracy, 1e-12, 1 - 1e-12)
    old_w = dict(enumerate(np.clip(np.log((k - 1) * acc / (1 - acc)), 0.0, 10.0)))

    def share(x):
        return f"{(np.asarray(x) == truth).mean():.3f}"

    print(f"  majority vote                                {share(majority_vote(labels, k).argmax(axis=1))}")
    print(f"  weighted, accuracy weights (before issue 12) {share(weighted_labels(labels, k, old_w))}")
    print(f"  weighted, information weights (now)          {share(weighted_labels(labels, k, new_w))}")
    print(f"  Dawid-Skene, ours                            {share(ours.labels)}   {t_ours:6.3f} s")
    print(f"  dawid_skene rule (pairwise votes)            {share(rule_labels)}   {t_rule:6.3f} s")
    print(f"  crowd-kit DawidSkene (n_iter=100)            {share(ref)}   {t_ref:6.3f} s")
    print("  vote weight by annotator type (mean): now / before issue 12")
    for kind in dict.fromkeys(c.kinds):
        idx = c.index(kind)
        now, before = np.mean([new_w[j] for j in idx]), np.mean([old_w[j] for j in idx])
        print(f"    {kind:10s} {now:5.2f} / {before:5.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--judgments", type=int, default=100_000)
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--naive-rounds", type=int, default=3, help="choix bootstrap rounds actually run")
    ap.add_argument("--alpha", type=float, default=0.01, help="L2 penalty for the MAP comparison")
    ap.add_argument("--skip-opt-pairwise", action="store_true", help="skip choix.opt_pairwise (slowest)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crowd-items", type=int, default=2000)
    ap.add_argument("--crowd-only", action="store_true", help="only the gamed-crowd comparison")
    args = ap.parse_args()
    if args.crowd_only:
        return crowd(args)
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
    crowd(args)


if __name__ == "__main__":
    main()
