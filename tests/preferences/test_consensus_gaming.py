"""Issue 12: consensus weights that cannot be gamed, on simulated crowds with a known truth
(`tests.crowds`: experts, average annotators, spammers, an adversary, an always-same-answer annotator,
newcomers), with crowd-kit's DawidSkene as the accuracy reference (the `slow` tests).

The fit and weights are `annotation.core.reliability`; the rules are `preferences.consensus`.
"""

import functools
import warnings

import numpy as np
import pytest

from annotation.core.reliability import dawid_skene, information_weights, majority_vote, reliability_weights
from preferences.consensus import Vote, consensus_for_comparison, dawid_skene_consensus
from tests.crowds import simulate

BALANCES = [(1 / 3, 1 / 3, 1 / 3), (0.5, 0.3, 0.2), (0.85, 0.1, 0.05), (0.7, 0.3)]
SEEDS = [0, 1]
CLEAN = (("expert", 3), ("average", 6), ("spammer", 2))  # no adversary, no constant annotator


@functools.cache
def crowd(balance, seed, members=None, n_items=1000):
    kwargs = {"crowd": members} if members else {}
    return simulate(seed, priors=balance, n_items=n_items, **kwargs)


@functools.cache
def fitted(balance, seed, members=None):
    c = crowd(balance, seed, members)
    result = dawid_skene(c.labels, c.n_classes)
    return c, result, reliability_weights(result)


# --------------------------------------------------------------------------- the weights


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("balance", BALANCES)
def test_neither_a_newcomer_nor_a_constant_annotator_outweighs_a_proven_expert(balance, seed):
    c, _, w = fitted(balance, seed)
    experts = [w[j] for j in c.index("expert")]
    assert min(experts) > 1.0
    for n in (1, 2, 3):  # n answers, all right, of n different classes: the best a newcomer can show
        (newcomer,) = c.index(f"newcomer{n}")
        assert w[newcomer] < 0.5 < min(experts), n
    (one,) = c.index("newcomer1")
    assert w[one] < 0.05  # one answer agreeing with the consensus proves nothing
    (const,) = c.index("constant")
    assert w[const] < 0.01
    (adversary,) = c.index("adversary")
    assert w[adversary] == 0.0  # anti-correlated: zeroed, not a positive vote
    for spammer in c.index("spammer"):
        assert w[spammer] < 0.25 * np.mean(experts)
    assert np.mean(experts) > np.mean([w[j] for j in c.index("average")])


@pytest.mark.parametrize("majority", [0.5, 0.7, 0.85, 0.95])
def test_an_always_same_answer_annotator_weighs_nothing_whatever_the_class_balance(majority):
    c = simulate(3, priors=(majority, 1 - majority), n_items=800, crowd=(("expert", 3), ("constant", 1)))
    result = dawid_skene(c.labels, 2)
    (const,) = c.index("constant")
    # its accuracy is the majority share (what the old weight was built on); its information is none
    assert result.accuracy[const] == pytest.approx(majority, abs=0.05)
    assert reliability_weights(result)[const] < 0.01


def test_the_information_weight_is_zero_without_dependence_on_the_truth_and_negative_against_it():
    rng = np.random.default_rng(0)
    for k in (2, 3, 5):
        for _ in range(10):
            priors = rng.dirichlet(np.ones(k))
            answers = rng.dirichlet(np.ones(k))  # the same row whatever the truth
            same_rows = np.tile(answers, (1, k, 1))
            assert information_weights(same_rows, priors)[0] == pytest.approx(0.0, abs=1e-12)
            # an adversary: right 5%, else the next class
            adversary = np.full((1, k, k), 1e-3)
            adversary[0, np.arange(k), np.arange(k)] = 0.05
            adversary[0, np.arange(k), (np.arange(k) + 1) % k] = 0.95
            adversary /= adversary.sum(axis=2, keepdims=True)
            assert information_weights(adversary, priors)[0] < 0


def test_items_judged_once_do_not_fit_the_annotator_who_judged_them():
    """Forty answers nobody else gave (their 'consensus' is themselves) prove nothing about them."""
    c = crowd((0.5, 0.3, 0.2), 0, CLEAN, 400)
    labels = np.full((c.labels.shape[0] + 1, c.labels.shape[1] + 40), -1)
    labels[:-1, :-40] = c.labels
    labels[-1, -40:] = np.arange(40) % 3
    result = dawid_skene(labels, 3)
    assert result.n_labelled[-1] == 40 and result.n_fitted[-1] == 0
    assert not result.fitted_items[-40:].any() and result.fitted_items[:-40].all()
    assert reliability_weights(result)[len(labels) - 1] == 0.0


def test_gold_answers_anchor_the_fit_against_a_majority_of_adversaries():
    c = simulate(0, priors=(0.5, 0.5), crowd=(("expert", 2), ("adversary", 4)), per_item=3, newcomers=0)
    flipped = dawid_skene(c.labels, 2)
    assert (flipped.labels == c.truth).mean() < 0.2  # the adversaries' story wins without gold
    gold = np.full(c.truth.size, -1)
    known = np.random.default_rng(0).choice(c.truth.size, 30, replace=False)  # 5% gold
    gold[known] = c.truth[known]
    anchored = dawid_skene(c.labels, 2, gold=gold)
    assert (anchored.labels == c.truth).mean() > 0.9
    np.testing.assert_array_equal(anchored.posteriors[known], np.eye(2)[c.truth[known]])
    w = reliability_weights(anchored)
    assert min(w[j] for j in c.index("expert")) > 1.0
    assert max(w[j] for j in c.index("adversary")) == 0.0


# --------------------------------------------------------------------------- the dawid_skene rule

OUTCOMES = {0: "left", 1: "right", 2: "tie"}


def pairwise_votes(c):
    """Comparison i shows responses (10 i, 10 i + 1); class 0: the first wins, 1: the second, 2: tie."""
    votes = []
    for j, i in zip(*np.nonzero(c.labels >= 0), strict=True):
        votes.append(
            Vote(comparison_id=int(i), annotator=f"a{j}", left=10 * int(i), right=10 * int(i) + 1,
                 outcome=OUTCOMES[int(c.labels[j, i])], strength=2)
        )  # fmt: skip
    return votes


def rule_accuracy(results, truth) -> float:
    right = 0
    for (i, _), res in results.items():
        said = {10 * i: 0, 10 * i + 1: 1}.get(res.winner, 2 if res.outcome == "tie" else -1)
        right += said == truth[i]
    return right / len(truth)


def test_the_dawid_skene_rule_takes_the_posterior_label_and_its_probability():
    c = crowd((0.5, 0.3, 0.2), 0, CLEAN, 400)
    results = dawid_skene_consensus(pairwise_votes(c))
    fit = dawid_skene(c.labels, 3)  # the rule's classes add both_bad, never used: the same fit
    assert len(results) == c.truth.size
    for (i, criterion), res in results.items():
        assert criterion == "" and res.rule == "dawid_skene"
        post = res.scores["dawid_skene"]
        assert sum(post.values()) == pytest.approx(1.0)
        assert res.confidence == pytest.approx(max(post.values()))
        np.testing.assert_allclose(
            [post[10 * i], post[10 * i + 1], post["tie"]], fit.posteriors[i], atol=2e-3
        )
        if res.outcome == "win":
            assert post[res.winner] == res.confidence and res.order[0] == res.winner
            assert res.pairs[0].winner == res.winner and res.pairs[0].confidence == res.confidence
        else:
            assert res.outcome == "tie" and post["tie"] == res.confidence
    assert rule_accuracy(results, c.truth) > (majority_vote(c.labels, 3).argmax(axis=1) == c.truth).mean()
    assert set(results[(0, "")].params["weights"]) == {f"a{j}" for j in np.nonzero(c.labels[:, 0] >= 0)[0]}


def test_the_dawid_skene_rule_leaves_doubtful_comparisons_without_consensus_and_follows_gold():
    c = crowd((0.5, 0.3, 0.2), 1, CLEAN, 400)
    votes = pairwise_votes(c)
    plain = dawid_skene_consensus(votes)
    doubtful = [key for key, r in plain.items() if r.confidence < 0.9]
    assert doubtful
    strict = dawid_skene_consensus(votes, min_confidence=0.9)
    for key in doubtful:
        assert strict[key].outcome == "none" and strict[key].winner is None
        assert all(p.outcome != "win" for p in strict[key].pairs)
    # a gold answer against every vote: the comparison follows the gold answer with certainty
    i = doubtful[0][0]
    gold = Vote(comparison_id=i, annotator="gold", left=10 * i, right=10 * i + 1, outcome="tie")
    anchored = dawid_skene_consensus(votes, gold=[gold])[(i, "")]
    assert (anchored.outcome, anchored.confidence) == ("tie", 1.0)
    assert anchored.params["dawid_skene"]["gold_items"] == 1


def test_the_dawid_skene_rule_on_rankings_decides_the_winner_and_its_pairs():
    """Three responses: the winner from the posterior, its pairs at the posterior's confidence, the
    pair of the other two from the weighted tally with the fitted weights."""
    rng = np.random.default_rng(5)
    votes, best_of = [], {}
    for i in range(60):
        best, mid, worst = (3 * i + rng.permutation(3)).tolist()  # the best response's position varies
        best_of[i] = best
        for a in ("good1", "good2", "good3"):
            ranking = ((best,), (mid,), (worst,)) if rng.random() < 0.9 else ((mid,), (best,), (worst,))
            votes.append(Vote(comparison_id=i, annotator=a, ranking=ranking))
        votes.append(
            Vote(
                comparison_id=i,
                annotator="spam",
                ranking=tuple((x,) for x in rng.permutation([best, mid, worst]).tolist()),
            )
        )
    results = dawid_skene_consensus(votes, responses={i: [3 * i, 3 * i + 1, 3 * i + 2] for i in range(60)})
    res = results[(0, "")]
    assert res.params["order_by"][0] == "dawid_skene"
    assert res.params["weights"]["spam"] < 0.5 < min(res.params["weights"][f"good{n}"] for n in (1, 2, 3))
    right = sum(results[(i, "")].winner == best_of[i] for i in range(60))
    assert right >= 54  # 90%: three 90%-right annotators and a spammer
    for i in range(60):
        r = results[(i, "")]
        winner_pairs = [p for p in r.pairs if r.winner in (p.a, p.b)]
        assert len(winner_pairs) == 2 and all(
            p.winner == r.winner and p.confidence == r.confidence for p in winner_pairs
        )
        assert r.order[0] == r.winner


def test_consensus_for_comparison_refuses_the_dawid_skene_rule():
    vote = Vote(comparison_id=1, annotator="a", left=1, right=2, outcome="left")
    with pytest.raises(ValueError, match="dawid_skene_consensus"):
        consensus_for_comparison([vote], rule="dawid_skene")


# --------------------------------------------------------------------------- against crowd-kit


def crowdkit_accuracy(c) -> float:
    pd = pytest.importorskip("pandas")
    from crowdkit.aggregation import DawidSkene  # deferred: a test-only dependency, slow to import

    workers, tasks = np.nonzero(c.labels >= 0)
    df = pd.DataFrame({"worker": workers, "task": tasks, "label": c.labels[workers, tasks]})
    with warnings.catch_warnings():  # crowd-kit 1.4.2 uses pandas keywords that pandas 3 deprecates
        warnings.simplefilter("ignore")
        labels = DawidSkene(n_iter=100).fit_predict(df).reindex(range(c.truth.size)).to_numpy()
    return float((labels == c.truth).mean())


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("balance", BALANCES[:3] + [(0.9, 0.1)])
def test_dawid_skene_reaches_crowdkit_accuracy_on_a_gamed_crowd(balance, seed):
    c, result, _ = fitted(balance, seed)
    reference = crowdkit_accuracy(c)
    assert (result.labels == c.truth).mean() >= reference - 0.01
    assert rule_accuracy(dawid_skene_consensus(pairwise_votes(c)), c.truth) >= reference - 0.01


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_the_weighted_rule_reaches_crowdkit_accuracy_on_balanced_classes(seed):
    """Scalar vote weights cannot carry the class prior nor read an adversary backwards (zeroed), so
    the weighted rule is held to crowd-kit's accuracy on balanced classes without an adversary."""
    members = (*CLEAN, ("constant", 1))
    c, _, w = fitted(BALANCES[0], seed, members)
    reference = crowdkit_accuracy(c)
    weights = {f"a{j}": wj for j, wj in w.items()}
    votes = pairwise_votes(c)
    by_item = {}
    for v in votes:
        by_item.setdefault(v.comparison_id, []).append(v)
    results = {
        (i, ""): consensus_for_comparison(
            vs, rule="weighted", weights=weights, responses=[10 * i, 10 * i + 1]
        )
        for i, vs in by_item.items()
    }
    assert rule_accuracy(results, c.truth) >= reference - 0.02
