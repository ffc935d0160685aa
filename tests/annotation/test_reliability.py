"""annotation.core.reliability: Dawid-Skene recovers planted annotator accuracies and beats majority vote.
The gaming properties of its weights (newcomers, constant answers, gold) are in test_consensus_gaming.py."""

import numpy as np
import pytest

from annotation.core.reliability import (
    EVIDENCE_JUDGMENTS,
    dawid_skene,
    information_weights,
    majority_vote,
    reliability_weights,
)

ACCURACIES = np.array([0.95, 0.9, 0.8, 0.7, 0.55])
K = 3


def simulate(seed, accuracies=ACCURACIES, n_items=2000, k=K, priors=(0.5, 0.3, 0.2), missing=0.2):
    """Symmetric annotators: right with probability a, else a uniformly chosen wrong class."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(k, n_items, p=priors)
    labels = np.empty((len(accuracies), n_items), dtype=np.int64)
    for j, acc in enumerate(accuracies):
        wrong = (truth + rng.integers(1, k, n_items)) % k
        labels[j] = np.where(rng.random(n_items) < acc, truth, wrong)
    labels[rng.random(labels.shape) < missing] = -1
    return truth, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_planted_accuracies_and_ranks_them(seed):
    truth, labels = simulate(seed)
    result = dawid_skene(labels, K)
    assert result.converged
    np.testing.assert_allclose(result.accuracy, ACCURACIES, atol=0.05)
    assert list(np.argsort(-result.accuracy)) == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(result.priors, [0.5, 0.3, 0.2], atol=0.04)
    np.testing.assert_allclose(result.confusion.sum(axis=2), 1.0)
    np.testing.assert_allclose(result.posteriors.sum(axis=1), 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beats_majority_vote(seed):
    truth, labels = simulate(seed)
    votes = majority_vote(labels, K)
    labelled = votes.sum(axis=1) > 0
    majority_acc = (votes.argmax(axis=1) == truth)[labelled].mean()
    ds_acc = (dawid_skene(labels, K).labels == truth)[labelled].mean()
    assert ds_acc > majority_acc


def test_beats_majority_vote_when_bad_annotators_outnumber():
    # two reliable annotators and three near-random ones: majority vote is mostly noise, DS weights it out
    truth, labels = simulate(3, accuracies=[0.9, 0.85, 0.4, 0.4, 0.4], missing=0.0)
    majority_acc = (majority_vote(labels, K).argmax(axis=1) == truth).mean()
    ds_acc = (dawid_skene(labels, K).labels == truth).mean()
    assert ds_acc > majority_acc + 0.05


def test_reliability_weights_follow_accuracy():
    _, labels = simulate(0, accuracies=[0.95, 0.8, 0.6, 1 / 3])
    result = dawid_skene(labels, K)
    weights = reliability_weights(result)
    assert set(weights) == {0, 1, 2, 3}
    assert weights[0] > weights[1] > weights[2] > weights[3] >= 0.0
    assert weights[3] < 0.2  # a chance-level annotator carries (almost) no weight
    # the weight is the information measure, discounted for little evidence (n / (n + 10)) and clipped;
    # it was the log-odds of the accuracy before issue 12
    n = result.n_fitted[1]
    info = information_weights(result.confusion, result.priors)[1]
    assert weights[1] == pytest.approx(info * n / (n + EVIDENCE_JUDGMENTS))
    # ... which for a symmetric annotator of accuracy a is log((K - 1) a / (1 - a)), whatever the priors
    a = 0.8
    conf = np.full((1, K, K), (1 - a) / (K - 1))
    conf[0, range(K), range(K)] = a
    assert information_weights(conf, np.array([0.6, 0.3, 0.1]))[0] == pytest.approx(
        np.log((K - 1) * a / (1 - a))
    )
    assert max(reliability_weights(result, max_weight=0.5).values()) == 0.5


def test_unlabelled_items_and_silent_annotators():
    labels = np.array([[0, 1, -1, 1, 0], [0, 1, -1, 1, 1], [-1, -1, -1, -1, -1]])
    result = dawid_skene(labels, 2)
    assert result.labels[2] == -1
    np.testing.assert_allclose(result.posteriors[2], result.priors)
    assert list(result.n_labelled) == [4, 4, 0]
    assert reliability_weights(result)[2] == 0.0
    assert list(result.labels[[0, 1, 3]]) == [0, 1, 1]


def test_class_relabelling_permutes_the_result():
    _, labels = simulate(4, n_items=600)
    perm = np.array([2, 0, 1])
    relabelled = np.where(labels >= 0, perm[np.maximum(labels, 0)], -1)
    a, b = dawid_skene(labels, K), dawid_skene(relabelled, K)
    np.testing.assert_allclose(b.priors[perm], a.priors, atol=1e-6)
    np.testing.assert_allclose(b.accuracy, a.accuracy, atol=1e-6)
    np.testing.assert_array_equal(b.labels, perm[a.labels])


def test_input_validation():
    with pytest.raises(ValueError, match="everything is missing"):
        dawid_skene(-np.ones((2, 3), dtype=int), 2)
    with pytest.raises(ValueError, match="in 0..1"):
        dawid_skene([[0, 2]], 2)
    with pytest.raises(ValueError, match="2-D"):
        dawid_skene([0, 1], 2)
    with pytest.raises(ValueError, match="at least 2"):
        dawid_skene([[0, 0]], 1)
    with pytest.raises(ValueError, match="integer"):
        dawid_skene([[0.5, 1.0]], 2)


def test_max_iter_is_respected():
    _, labels = simulate(0, n_items=300)
    result = dawid_skene(labels, K, max_iter=2)
    assert result.n_iter == 2 and not result.converged


def test_the_agreement_report_anchors_its_fit_on_gold_answers():
    """Two experts and four adversaries: without gold the report believes the adversaries; a 5% share
    of gold items turns the weights around (annotation.quality.figures passes them to the fit)."""
    from annotation.quality.figures import annotator_section
    from tests.crowds import simulate as simulate_crowd

    c = simulate_crowd(0, priors=(0.5, 0.5), crowd=(("expert", 2), ("adversary", 4)), per_item=3, newcomers=0)
    names = ("no", "yes")
    cells = {(j, i): names[c.labels[j, i]] for j, i in zip(*np.nonzero(c.labels >= 0), strict=True)}
    known = np.random.default_rng(0).choice(c.truth.size, 30, replace=False)
    gold = {int(i): names[c.truth[i]] for i in known}
    fooled = {r["user_id"]: r["weight"] for r in annotator_section(cells, {})}
    anchored = {r["user_id"]: r["weight"] for r in annotator_section(cells, {}, gold)}
    experts, adversaries = c.index("expert"), c.index("adversary")
    assert max(fooled[j] for j in experts) == 0.0 < min(fooled[j] for j in adversaries)
    assert min(anchored[j] for j in experts) > 1.0 and max(anchored[j] for j in adversaries) == 0.0
