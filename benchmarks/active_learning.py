"""Active learning against random sampling, the ingest rate and the scoring throughput.

    .venv/bin/python benchmarks/active_learning.py [--seeds 5] [--pool 3000] [--test 1000]
        [--start 20] [--step 20] [--rounds 15] [--ingest 20000] [--score 32]
        [--parts curves,ingest,scoring] [--plot PATH]

1. A generated labelled dataset (`make_dataset`; benchmarks/README.md says how): reviewers are
   simulated by its labels (which include 5% flipped, like people who disagree); the quality model
   is annotation.active_learning.learner (calibrated logistic regression, the app's own) on a hashed
   bag-of-words embedding, chosen so this runs in minutes on 2 CPU cores. Each strategy
   (annotation.active_learning.selection.choose, the same code the app runs; random is its uniform
   control) starts from the same random seed labels and adds `--step` labels a round; held-out
   accuracy on a separate test set, averaged over the seeds. Printed as a table, saved as a PNG, and
   the verdict: the fewest labels with which each strategy reaches random's final accuracy, as a
   share of random's labels (the aim: at most 60%).
2. Ingest: annotation.active_learning.ingest in batches of 1,000 on a fresh SQLite file, and on
   DATABASE_URL when it points at PostgreSQL (in a subprocess: Django is configured once per
   process): samples/s.
3. Scoring: mean token entropy and log-probability of `--score` samples under the bundled model on
   this CPU (llm.response_stats): samples/s.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not benchmarks/: its queue.py would shadow the standard library

from annotation.active_learning import learner, scoring, selection  # noqa: E402

DIM = 1024  # hashed bag-of-words dimensions
TOPIC_SIZES = (0.30, 0.20, 0.15, 0.10, 0.10, 0.07, 0.05, 0.03)  # production traffic is uneven
CONTENT_WORDS = 30  # each topic's own vocabulary
CONTENT_PER_TEXT = 6
CUES_PER_POLARITY = 2  # each topic's own words that mark a response good, and bad
CUE_AGREEMENT = 0.85  # a cue agrees with the response's latent quality with this probability
LABEL_NOISE = 0.05  # reviewers disagree with the rubric this often


def make_dataset(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """A learnable, imbalanced review task with ambiguous cases.

    Each response belongs to one of 8 topics of unequal size (30% down to 3%) and has 6 words of
    its topic's vocabulary (its content). Quality is judged by a rubric that differs per topic: each
    topic has 2 words that mark a good response and 2 that mark a bad one (so a learner has to see
    every topic, rare ones included). A response has a latent quality (good or bad, 50/50) and 1-3
    cue words, each agreeing with that quality with probability 0.85; the rubric's label is the
    majority of the cues (a tie, one of each, is bad), so responses with conflicting cues are the
    hard cases. 5% of labels are then flipped (reviewer disagreement). Nothing here knows about the
    strategies; the constants above were chosen so that a logistic regression on all 3,000 pool
    labels reaches ~0.93 and on 320 random labels ~0.86 (measured before any strategy was run)."""
    rng = np.random.default_rng(seed)
    topics = rng.choice(len(TOPIC_SIZES), size=n, p=np.array(TOPIC_SIZES) / sum(TOPIC_SIZES))
    texts, labels = [], []
    for t in topics:
        words = [f"t{t}w{j}" for j in rng.integers(CONTENT_WORDS, size=CONTENT_PER_TEXT)]
        latent = int(rng.random() < 0.5)
        cues = []
        for _ in range(int(rng.integers(1, 4))):
            polarity = latent if rng.random() < CUE_AGREEMENT else 1 - latent
            cues.append((polarity, f"t{t}{'good' if polarity else 'bad'}{rng.integers(CUES_PER_POLARITY)}"))
        y = int(2 * sum(p for p, _ in cues) > len(cues))
        if rng.random() < LABEL_NOISE:
            y = 1 - y
        body = words + [w for _, w in cues]
        rng.shuffle(body)
        texts.append(" ".join(body))
        labels.append(y)
    return texts, np.array(labels)


def hashed_bow(texts: list[str]) -> np.ndarray:
    """A cheap embedder: words hashed (crc32) into DIM dimensions, unit rows."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.split():
            out[i, zlib.crc32(word.encode()) % DIM] += 1.0
    return selection.unit(out)


def run_strategy(strategy, X, y, X_test, y_test, *, seed, start, step, rounds):
    rng = np.random.default_rng(seed)
    labelled = list(rng.choice(len(X), size=start, replace=False))
    curve = []
    for r in range(rounds + 1):
        model, _, _ = learner.fit(X[labelled], y[labelled], seed=seed, calibrate=True)
        curve.append((len(labelled), learner.accuracy(model, X_test, y_test)))
        if r == rounds:
            break
        rest = np.setdiff1d(np.arange(len(X)), labelled)
        priority = scoring.quality_uncertainty(learner.predict(model, X[rest]))
        picks = selection.choose(
            strategy,
            budget=step,
            embeddings=X[rest],
            priority=priority,
            reference=X[labelled],
            duplicate_threshold=0.999,
            seed=seed * 1000 + r,
        )
        labelled += [int(rest[i]) for i, _ in picks]
    return curve


def learning_curves(args):
    results = {s: [] for s in selection.STRATEGIES}
    ceilings = []
    for seed in range(args.seeds):
        texts, y = make_dataset(args.pool + args.test, seed=100 + seed)
        X = hashed_bow(texts)
        X_pool, y_pool, X_test, y_test = X[: args.pool], y[: args.pool], X[args.pool :], y[args.pool :]
        everything, _, _ = learner.fit(X_pool, y_pool, seed=seed, calibrate=True)
        ceilings.append(learner.accuracy(everything, X_test, y_test))
        for strategy in selection.STRATEGIES:
            results[strategy].append(
                run_strategy(
                    strategy,
                    X_pool,
                    y_pool,
                    X_test,
                    y_test,
                    seed=seed,
                    start=args.start,
                    step=args.step,
                    rounds=args.rounds,
                )
            )
    labels = [n for n, _ in results["random"][0]]
    mean = {s: np.mean([[a for _, a in c] for c in curves], axis=0) for s, curves in results.items()}
    return labels, mean, float(np.mean(ceilings))


def report_curves(labels, mean, ceiling, args):
    print(
        f"\nQuality-model held-out accuracy vs labels ({args.seeds} seeds, pool {args.pool}, test {args.test})"
    )
    print("labels  " + "  ".join(f"{s:>11}" for s in mean))
    for i, n in enumerate(labels):
        print(f"{n:>6}  " + "  ".join(f"{mean[s][i]:>11.3f}" for s in mean))
    target = mean["random"][-1]
    print(f"\nceiling (all {args.pool} pool labels): {ceiling:.3f}")
    print(f"random's final accuracy: {target:.3f} with {labels[-1]} labels")
    for s in mean:
        reached = [n for n, a in zip(labels, mean[s], strict=True) if a >= target]
        if reached:
            share = reached[0] / labels[-1]
            verdict = "meets the aim (<= 60%)" if share <= 0.6 else "misses the aim (> 60%)"
            print(f"  {s:>11}: reaches it with {reached[0]} labels = {share:.0%} of random's  {verdict}")
        else:
            print(f"  {s:>11}: does not reach it within {labels[-1]} labels")
    try:
        import matplotlib  # deferred: an optional (dev) dependency

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # deferred: an optional (dev) dependency
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in mean:
        ax.plot(labels, mean[s], marker="o", markersize=3, label=s)
    ax.axhline(target, color="grey", linestyle="--", linewidth=0.8, label="random's final")
    ax.set_xlabel("labels")
    ax.set_ylabel("held-out accuracy")
    ax.set_title(f"Active learning vs random ({args.seeds} seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f"plot saved to {args.plot}")


def setup_django(database_url: str):
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django  # deferred: Django only for the ingest figure
    from django.core.management import call_command  # deferred: as above

    django.setup()
    call_command("migrate", verbosity=0)


def ingest_rate(n: int, label: str):
    from django.contrib.auth import get_user_model  # deferred: after django.setup()

    from annotation.active_learning import ingest, records  # deferred: after django.setup()
    from annotation.projects import services as project_services  # deferred: after django.setup()

    user, _ = get_user_model().objects.get_or_create(username="al-bench", defaults={"is_superuser": True})
    project = project_services.create_project(name="al-bench", created_by=user)
    rows = [
        {"prompt": f"Question {i} about topic {i % 97}?", "output": f"Answer {i}, with some text to store.",
         "model_version": "v1", "thumbs": "down" if i % 11 == 0 else "", "metadata": {"user": i % 1000}}
        for i in range(n)
    ]  # fmt: skip
    started = time.perf_counter()
    created = 0
    for start in range(0, n, 1000):
        batch = records.parse_rows(rows[start : start + 1000])
        created += ingest.ingest(project=project, records=batch, actor=user, source="bench").created
    elapsed = time.perf_counter() - started
    again = time.perf_counter()
    dup = ingest.ingest(project=project, records=records.parse_rows(rows[:1000]), actor=user).duplicates
    dup_elapsed = time.perf_counter() - again
    print(
        f"ingest ({label}): {created} samples in {elapsed:.2f}s = {created / elapsed:,.0f} samples/s "
        f"(batches of 1,000, parse + validate + hash + insert); a batch of 1,000 duplicates: {dup} skipped in {dup_elapsed * 1000:.0f} ms"
    )
    project.delete()


def scoring_throughput(n: int):
    from llm import load_model, response_stats  # deferred: torch loads only here

    texts, _ = make_dataset(n, seed=7)
    convs = [[{"role": "user", "content": f"Say something about {t.split()[0]}."}] for t in texts]
    outputs = [f"Here is a short answer that mentions {t.split()[1]} and {t.split()[2]}." for t in texts]
    started = time.perf_counter()
    model, tokenizer = load_model()
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    response_stats(model, tokenizer, convs, outputs, batch_size=8)
    elapsed = time.perf_counter() - started
    print(
        f"scoring (bundled model, this CPU): {n} samples in {elapsed:.2f}s = {n / elapsed:.1f} samples/s (model load {loaded:.1f}s)"
    )


def ingest_part(args):
    """SQLite here; PostgreSQL (DATABASE_URL) in a subprocess, since Django is set up once a process."""
    pg = os.environ.get("DATABASE_URL", "")
    if args.ingest_db:
        setup_django(args.ingest_db)
        ingest_rate(args.ingest, "PostgreSQL" if args.ingest_db.startswith("postgres") else args.ingest_db)
        return
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TUNELOOP_DATA_DIR": tmp}
        os.environ["TUNELOOP_DATA_DIR"] = tmp
        if pg.startswith(("postgres://", "postgresql://")):
            command = [sys.executable, __file__, "--parts", "ingest", "--ingest", str(args.ingest)]
            subprocess.run([*command, "--ingest-db", pg], env=env, check=True)
        setup_django(f"sqlite:///{tmp}/bench.sqlite3")
        ingest_rate(args.ingest, "SQLite")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--pool", type=int, default=3000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--start", type=int, default=20)
    parser.add_argument("--step", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--ingest", type=int, default=20000)
    parser.add_argument("--score", type=int, default=32)
    parser.add_argument(
        "--parts", default="curves,ingest,scoring", help="comma-separated: curves, ingest, scoring"
    )
    parser.add_argument("--ingest-db", default="", help=argparse.SUPPRESS)  # the PostgreSQL subprocess
    parser.add_argument("--plot", default=str(ROOT / "var" / "active_learning.png"))
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - {"curves", "ingest", "scoring"}
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if "curves" in parts:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        labels, mean, ceiling = learning_curves(args)
        report_curves(labels, mean, ceiling, args)
        print(f"(learning curves took {time.perf_counter() - started:.0f}s)\n")
    if "ingest" in parts:
        ingest_part(args)
    if "scoring" in parts:
        scoring_throughput(args.score)


if __name__ == "__main__":
    main()
