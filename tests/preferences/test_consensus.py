"""preferences.consensus: rankings, per-comparison consensus, Bradley-Terry, bootstrap, position bias.

Pure numpy; no database. The choix comparisons pin our objective to a reference implementation.
"""

import json

import numpy as np
import pytest

from preferences.consensus import (
    Pair,
    Vote,
    bradley_terry,
    bt_with_bootstrap,
    comparison_counts,
    consensus_by_comparison,
    consensus_for_comparison,
    position_bias,
    ranking_to_pairs,
    win_rate_matrix,
)

# --------------------------------------------------------------------------- rankings


def test_ranking_to_pairs_four_way_with_ties():
    pairs = ranking_to_pairs([["r3"], ["r1", "r2"], ["r4"]])
    assert len(pairs) == 6  # every two of four responses, once
    assert set(pairs) == {
        Pair("r3", "r1"),
        Pair("r3", "r2"),
        Pair("r3", "r4"),
        Pair("r1", "r2", True),
        Pair("r1", "r4"),
        Pair("r2", "r4"),
    }


def test_ranking_to_pairs_all_tied_and_strict():
    assert ranking_to_pairs([[1, 2, 3]]) == [Pair(1, 2, True), Pair(1, 3, True), Pair(2, 3, True)]
    assert ranking_to_pairs([[2], [1]]) == [Pair(2, 1)]
    with pytest.raises(ValueError):
        ranking_to_pairs([[1], [1, 2]])


# --------------------------------------------------------------------------- consensus


def pv(annotator, outcome, strength=0, left=10, right=20, **kw):
    return Vote(
        comparison_id=7, annotator=annotator, left=left, right=right, outcome=outcome, strength=strength, **kw
    )


def test_two_of_three_clearly_prefer_a():
    votes = [pv("ann", "left", 2), pv("bob", "left", 2), pv("cy", "right", 1)]
    res = consensus_for_comparison(votes)
    assert (res.outcome, res.winner, res.order) == ("win", 10, [10, 20])
    assert res.confidence == pytest.approx(2 / 3)
    assert res.margin == pytest.approx((2 + 2 - 1) / 3)
    assert res.n_votes == 3 and res.rule == "majority"


def test_display_order_does_not_change_the_orientation():
    # bob saw the responses swapped and picked the same response (10) from the right slot.
    votes = [pv("ann", "left", 3), pv("bob", "right", 1, left=20, right=10)]
    res = consensus_for_comparison(votes)
    assert res.winner == 10 and res.margin == pytest.approx(2.0) and res.confidence == 1.0


def test_weighted_rule_can_overturn_the_majority_and_records_its_weights():
    votes = [pv("ann", "left", 1), pv("bob", "left", 1), pv("expert", "right", 3)]
    majority = consensus_for_comparison(votes)
    weighted = consensus_for_comparison(votes, rule="weighted", weights={"expert": 3.0})
    assert majority.winner == 10
    assert weighted.winner == 20
    assert weighted.confidence == pytest.approx(3 / 5)
    assert weighted.margin == pytest.approx((1 + 1 - 9) / 5)
    assert weighted.params["weights"] == {"ann": 1.0, "bob": 1.0, "expert": 3.0}
    # vote.weight is the fallback when the mapping does not name the annotator
    votes[0] = pv("ann", "left", 1, weight=4.0)
    assert consensus_for_comparison(votes, rule="weighted", weights={"expert": 3.0}).winner == 10


def test_ties_both_bad_split_and_empty():
    assert consensus_for_comparison([pv("a", "tie"), pv("b", "tie"), pv("c", "left", 1)]).outcome == "tie"
    bad = consensus_for_comparison([pv("a", "both_bad"), pv("b", "both_bad"), pv("c", "tie")])
    assert (bad.outcome, bad.winner, bad.margin) == ("both_bad", None, 0.0)
    assert bad.confidence == pytest.approx(2 / 3)
    split = consensus_for_comparison([pv("a", "left", 2), pv("b", "right", 2)])
    assert (split.outcome, split.winner, split.confidence) == ("none", None, 0.5)
    empty = consensus_for_comparison([])
    assert (empty.outcome, empty.n_votes, empty.confidence) == ("none", 0, 0.0)


def test_min_confidence_turns_a_weak_plurality_into_none():
    votes = [pv("a", "left", 1), pv("b", "left", 1), pv("c", "right", 1)]
    assert consensus_for_comparison(votes, min_confidence=0.75).outcome == "none"
    assert consensus_for_comparison(votes, min_confidence=0.6).outcome == "win"


def test_result_is_json_and_records_rule_and_params():
    res = consensus_for_comparison([pv("a", "A", 2)], rule="weighted")
    data = json.loads(json.dumps(res.as_dict()))
    assert data["rule"] == "weighted" and data["params"]["weights"] == {"a": 1.0}
    assert data["winner"] == 10 and data["pairs"][0]["tallies"]["a"] == 1.0


def rv(annotator, ranking, **kw):
    return Vote(comparison_id=1, annotator=annotator, ranking=ranking, **kw)


NWAY = [rv("a", [[3], [1, 2], [4]]), rv("b", [[3], [2], [1], [4]]), rv("c", [[1], [3], [2, 4]])]


def test_nway_pairwise_winners_copeland_and_confidence():
    res = consensus_for_comparison(NWAY)
    assert (res.outcome, res.winner) == ("win", 3)
    assert res.confidence == pytest.approx(2 / 3)  # a and b put 3 alone on top
    by_pair = {(p.a, p.b): p for p in res.pairs}
    assert len(by_pair) == 6
    assert by_pair[(1, 3)].winner == 3 and by_pair[(1, 3)].confidence == pytest.approx(2 / 3)
    assert by_pair[(1, 2)].outcome == "none"  # one each way and one tie
    assert by_pair[(2, 4)].winner == 2 and by_pair[(2, 4)].tallies["tie"] == 1
    assert res.scores["copeland"] == {1: 0, 2: 0, 3: 3, 4: -3}
    assert res.margin == pytest.approx(1 / 3)  # 3 over runner-up 1: +1, +1, -1


def test_nway_borda_breaks_copeland_ties_not_the_listing_order():
    # 1 and 2 tie on Copeland; Borda (beaten minus beaten-by per ballot) is 1: 0-1+3, 2: 0+1-2.
    res = consensus_for_comparison(NWAY, responses=[4, 3, 2, 1])
    assert res.scores["borda"][1] == 2 and res.scores["borda"][2] == -1
    assert res.order == [3, 1, 2, 4]


def test_bradley_terry_rule_orders_by_strengths_fitted_to_the_implied_pairs():
    res = consensus_for_comparison(NWAY, rule="bradley_terry", responses=[1, 2, 3, 4])
    # the same strengths as a Bradley-Terry fit (alpha 0.01) over every pair the votes imply
    index = {1: 0, 2: 1, 3: 2, 4: 3}
    outcomes = [
        (index[p.winner], index[p.loser], 0.5 if p.tie else 1.0)
        for v in NWAY
        for p in ranking_to_pairs(v.ranking)
    ]
    theta = bradley_terry(outcomes, n_items=4, alpha=0.01)
    assert [res.scores["bradley_terry"][r] for r in (1, 2, 3, 4)] == pytest.approx(theta, abs=1e-8)
    assert res.order == sorted([1, 2, 3, 4], key=lambda r: -theta[index[r]])
    assert (res.outcome, res.winner) == ("win", 3)
    gap = theta[index[3]] - theta[index[res.order[1]]]
    assert res.confidence == pytest.approx(1 / (1 + np.exp(-gap)))
    assert res.rule == "bradley_terry" and res.params["alpha"] == 0.01
    assert res.params["order_by"] == ["bradley_terry"]
    # a three-way cycle: equal strengths, no winner; most say both bad: both bad
    cycle = [rv("a", [[1], [2], [3]]), rv("b", [[2], [3], [1]]), rv("c", [[3], [1], [2]])]
    assert consensus_for_comparison(cycle, rule="bradley_terry").outcome == "none"
    assert consensus_for_comparison(cycle, rule="bradley_terry", min_confidence=0.99).winner is None


def test_bradley_terry_rule_weighs_votes_when_given_weights():
    votes = [rv("a", [[1], [2], [3]]), rv("b", [[2], [1], [3]]), rv("c", [[2], [1], [3]])]
    assert consensus_for_comparison(votes, rule="bradley_terry").winner == 2
    heavy = consensus_for_comparison(votes, rule="bradley_terry", weights={"a": 5.0, "b": 1.0, "c": 1.0})
    assert heavy.winner == 1


def test_nway_condorcet_cycle_has_no_winner_and_all_bad_wins_when_most_say_so():
    cycle = [rv("a", [[1], [2], [3]]), rv("b", [[2], [3], [1]]), rv("c", [[3], [1], [2]])]
    assert consensus_for_comparison(cycle).outcome == "none"
    bad = [rv("a", [[1, 2, 3]], outcome="both_bad"), rv("b", [[1, 2, 3]], outcome="both_bad"), NWAY[0]]
    res = consensus_for_comparison(bad)
    assert res.outcome == "both_bad" and res.confidence == pytest.approx(2 / 3)
    tied = consensus_for_comparison([rv("a", [[1, 2, 3]]), rv("b", [[1, 2, 3]])])
    assert (tied.outcome, tied.confidence) == ("tie", 1.0)


def test_consensus_by_comparison_groups_by_comparison_and_criterion():
    votes = [
        pv("a", "left", 1),
        pv("b", "left", 1),
        Vote(comparison_id=8, annotator="a", left=1, right=2, outcome="right", strength=3),
        pv("a", "right", 1, criterion="safety"),
    ]
    out = consensus_by_comparison(votes)
    assert set(out) == {(7, ""), (8, ""), (7, "safety")}
    assert out[(8, "")].winner == 2 and out[(7, "safety")].winner == 20
    with pytest.raises(ValueError):
        consensus_for_comparison(votes)


def test_vote_from_payload_maps_display_order_to_sides():
    payload = {
        "display_order": [20, 10],
        "outcome": "win",
        "winner": 10,
        "strength": 2,
        "ranking": [[10], [20]],
    }
    vote = Vote.from_payload(payload, comparison_id=7, annotator="x")
    assert (vote.left, vote.right, vote.outcome, vote.strength) == (20, 10, "right", 2)
    nway = {"display_order": [1, 2, 3], "outcome": "ranked", "ranking": [[3], [1, 2]], "strength": 0}
    assert Vote.from_payload(nway, comparison_id=1, annotator="x").ranking == ((3,), (1, 2))


# --------------------------------------------------------------------------- Bradley-Terry


def simulate(true_theta, m, rng, tie_rate=0.0):
    n = len(true_theta)
    i = rng.integers(0, n, m)
    j = (i + rng.integers(1, n, m)) % n
    p = 1 / (1 + np.exp(true_theta[j] - true_theta[i]))
    score = (rng.random(m) < p).astype(float)
    score[rng.random(m) < tie_rate] = 0.5
    return np.column_stack([i, j, score])


def as_choix(rows):
    """choix data (winner, loser); each tie becomes one win each way, so pass 2x the counts."""
    data = []
    for a, b, s in rows:
        a, b = int(a), int(b)
        if s == 1:
            data += [(a, b), (a, b)]
        elif s == 0:
            data += [(b, a), (b, a)]
        else:
            data += [(a, b), (b, a)]
    return data


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_choix_map_estimate(seed):
    import choix  # the reference package, imported where it is used

    rng = np.random.default_rng(seed)
    n = 8
    rows = simulate(rng.normal(size=n), 400, rng, tie_rate=0.15)
    alpha = 0.05
    ours = bradley_terry(rows, n_items=n, alpha=alpha)
    # Ties as half a win each way = choix on doubled data with doubled penalty (same minimiser).
    ref = choix.opt_pairwise(n, as_choix(rows), alpha=2 * alpha, tol=1e-12)
    assert np.abs(ours - ref).max() < 1e-4
    assert abs(ours.mean()) < 1e-12


def test_agrees_with_choix_maximum_likelihood():
    import choix  # the reference package, imported where it is used

    rng = np.random.default_rng(5)
    n = 6
    rows = simulate(rng.normal(size=n), 600, rng)
    ours = bradley_terry(rows, n_items=n, alpha=0)
    data = [(int(a), int(b)) if s == 1 else (int(b), int(a)) for a, b, s in rows]
    ref = choix.ilsr_pairwise(n, data, alpha=0, tol=1e-12, max_iter=1000)
    assert np.abs(ours - (ref - ref.mean())).max() < 1e-4


def test_maximum_likelihood_refuses_an_undefeated_item():
    rows = [(0, 1), (0, 2), (1, 2), (2, 1)]
    with pytest.raises(ValueError, match="alpha > 0"):
        bradley_terry(rows, n_items=3, alpha=0)
    assert np.argmax(bradley_terry(rows, n_items=3, alpha=0.1)) == 0


def test_counts_and_win_rates_treat_ties_as_half():
    rows = [(0, 1, 1), (0, 1, 0.5), (1, 0, 1), (2, 0, 0)]
    w = comparison_counts(rows, 3)
    assert w[0, 1] == 1.5 and w[1, 0] == 1.5 and w[0, 2] == 1 and w[2, 0] == 0
    r = win_rate_matrix(rows, 3)
    assert r[0, 1] == 0.5 and r[0, 2] == 1.0 and r[2, 0] == 0.0
    assert np.isnan(r[1, 2]) and np.isnan(r[0, 0])


def test_recovers_known_strengths_and_intervals_cover_true_win_rates():
    # Three models with fixed true win probabilities: P(1>0) = 2/3, P(2>0) = 4/5, P(2>1) = 2/3.
    true = np.log([1.0, 2.0, 4.0])
    rng = np.random.default_rng(2024)
    rows = simulate(true, 2000, rng)
    res = bt_with_bootstrap(rows, n_items=3, n_boot=500, seed=3, baseline=0)
    assert list(np.argsort(res.strengths)) == [0, 1, 2]
    true_rate = np.array([0.5, 2 / 3, 4 / 5])
    lo, hi = res.win_rate_ci[:, 0], res.win_rate_ci[:, 1]
    assert np.all((lo <= true_rate) & (true_rate <= hi)), (lo, hi)
    assert np.all(hi[1:] - lo[1:] < 0.12)  # informative, not vacuous
    centred = true - true.mean()
    assert np.all((res.strengths_ci[:, 0] <= centred) & (centred <= res.strengths_ci[:, 1]))
    assert res.params["seed"] == 3 and res.n_boot_failed == 0
    json.dumps(res.as_dict())


def test_bootstrap_is_reproducible_and_seed_sensitive():
    rng = np.random.default_rng(9)
    rows = simulate(rng.normal(size=5), 800, rng, tie_rate=0.1)
    a = bt_with_bootstrap(rows, n_items=5, n_boot=200, seed=11, baseline=2)
    b = bt_with_bootstrap(rows, n_items=5, n_boot=200, seed=11, baseline=2)
    c = bt_with_bootstrap(rows, n_items=5, n_boot=200, seed=12, baseline=2)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.win_rate_ci, b.win_rate_ci)
    assert not np.array_equal(a.samples, c.samples)
    # chunking is an implementation detail: it must not change the answer
    d = bt_with_bootstrap(rows, n_items=5, n_boot=200, seed=11, baseline=2, batch_cells=25 * 7)
    np.testing.assert_allclose(d.strengths_ci, a.strengths_ci, atol=1e-6)


def test_bootstrap_refits_match_independent_fits():
    rng = np.random.default_rng(4)
    rows = simulate(rng.normal(size=4), 300, rng)
    res = bt_with_bootstrap(rows, n_items=4, n_boot=3, seed=1, alpha=0.02, tol=1e-12)
    # Redo the first resample by hand: same generator, same unique cells, same multinomial.
    from preferences.consensus.strengths import _outcome_cells

    wins, ties = _outcome_cells(rows, 4)
    flat = np.concatenate([wins.ravel(), ties.ravel()])
    cells = np.flatnonzero(flat)
    draw = np.random.default_rng(1).multinomial(flat.sum(), flat[cells] / flat.sum(), size=3)[0]
    resampled = []
    for cell, k in zip(cells, draw, strict=True):
        if cell < 16:
            resampled += [(cell // 4, cell % 4)] * int(k)
        else:
            resampled += [(cell % 16 // 4, cell % 4, 0.5)] * int(k)
    rows3 = [r if len(r) == 3 else (*r, 1.0) for r in resampled]
    np.testing.assert_allclose(res.samples[0], bradley_terry(rows3, n_items=4, alpha=0.02), atol=1e-8)


def test_elo_scale():
    rows = [(0, 1)] * 10 + [(1, 0)]
    res = bt_with_bootstrap(rows, n_items=2, n_boot=50)
    elo, _ = res.elo()
    assert elo[0] - elo[1] == pytest.approx(400 / np.log(10) * (res.strengths[0] - res.strengths[1]))
    assert res.win_rate[0] == pytest.approx(1 / (1 + np.exp(-res.strengths[0])))  # vs an average model


# --------------------------------------------------------------------------- position bias


def test_position_bias_flags_the_annotator_who_picks_left():
    rng = np.random.default_rng(0)
    records = []
    for _ in range(200):
        records.append({"annotator": "lefty", "winner_slot": int(rng.random() >= 0.9)})
        records.append({"annotator": "fair", "winner_slot": int(rng.random() >= 0.5)})
    records += [{"annotator": "fair", "winner_slot": None}] * 5  # ties: counted, not decided
    records += [("three", 0, 3)] * 10  # too few to judge
    out = position_bias(records)
    assert out.flagged == ["lefty"]
    lefty = out.per_annotator["lefty"]
    assert lefty.counts[0] + lefty.counts[1] == 200 and lefty.shares[0] > 0.85 and lefty.p_value < 1e-6
    assert out.per_annotator["fair"].n_judgments == 205 and out.per_annotator["fair"].n_decided == 200
    assert out.per_annotator["three"].expected == pytest.approx([1 / 3] * 3)
    assert out.overall.n_decided == 410
    json.dumps(out.as_dict())


def test_position_bias_does_not_flag_a_fair_annotator():
    rng = np.random.default_rng(1)
    records = [("a", int(rng.integers(0, 2))) for _ in range(300)]
    assert position_bias(records).flagged == []


def test_ml_bootstrap_drops_resamples_without_a_finite_estimate():
    # Sparse data: some resamples lose every 1->0 win, leaving item 0 unbeaten (no finite ML estimate).
    rows = [(0, 1)] * 5 + [(1, 0)] + [(1, 2)] * 5 + [(2, 1)] + [(2, 0), (0, 2)]
    res = bt_with_bootstrap(rows, n_items=3, n_boot=300, alpha=0, seed=1)
    assert 0 < res.n_boot_failed < 300
    assert res.samples.shape == (300 - res.n_boot_failed, 3)
    assert np.isfinite(res.samples).all() and np.isfinite(res.strengths_ci).all()
