"""annotation.agreement against sklearn, statsmodels, krippendorff and scipy, plus published textbook values."""

import math

import numpy as np
import pytest

from annotation.quality import agreement
from annotation.quality.agreement import (
    LEVELS,
    cohen_kappa,
    fleiss_kappa,
    kendall_tau,
    krippendorff_alpha,
    percent_agreement,
    preference_strength_alpha,
    tau_against_consensus,
)

SEEDS = [0, 1, 2, 3, 4]
TOL = 1e-9
nan = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12 units.
K2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)
# Fleiss' kappa article on Wikipedia: 14 raters, 10 subjects, 5 categories; kappa = 0.210.
FLEISS_WIKI = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def random_reliability(seed, annotators=6, items=300, values=5, missing=0.4, agree=0.6):
    """Annotators x items with a latent true value per item, nan for missing, some single-value items."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, values + 1, items)
    noise = rng.integers(1, values + 1, (annotators, items))
    data = np.where(rng.random((annotators, items)) < agree, truth, noise).astype(float)
    data[rng.random(data.shape) < missing] = nan
    return data


# --------------------------------------------------------------------------- Cohen


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_matches_sklearn(seed, weights):
    from sklearn.metrics import cohen_kappa_score  # the reference package, imported where it is used

    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, 400)
    b = np.where(rng.random(400) < 0.6, a, rng.integers(0, 5, 400))
    assert cohen_kappa(a, b, weights=weights) == pytest.approx(
        cohen_kappa_score(a, b, weights=weights), abs=TOL
    )
    names = np.array(["bad", "meh", "ok", "good", "great"])
    assert cohen_kappa(list(names[a]), list(names[b]), weights=weights) == pytest.approx(
        cohen_kappa_score(names[a], names[b], weights=weights), abs=TOL
    )


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_labels_order_and_subset_match_sklearn(weights):
    from sklearn.metrics import cohen_kappa_score  # the reference package, imported where it is used

    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    for labels in ([3, 1, 0, 2], [0, 1, 2], [2, 0, 1, 3, 9]):
        assert cohen_kappa(a, b, weights=weights, labels=labels) == pytest.approx(
            cohen_kappa_score(a, b, weights=weights, labels=labels), abs=TOL
        )


def test_cohen_any_hashable_labels():
    from sklearn.metrics import cohen_kappa_score  # the reference package, imported where it is used

    a = [("x", 1), None, frozenset({2}), ("x", 1), None]
    b = [("x", 1), None, None, ("x", 1), frozenset({2})]
    ints = {("x", 1): 0, None: 1, frozenset({2}): 2}
    expected = cohen_kappa_score([ints[v] for v in a], [ints[v] for v in b])
    assert cohen_kappa(a, b) == pytest.approx(expected, abs=TOL)
    with pytest.raises(ValueError, match="sort"):
        cohen_kappa(a, b, weights="linear")  # no natural order
    # 1 and "1" are different labels, not merged by numpy's string coercion
    assert cohen_kappa([1, "1", 1, "1"], [1, "1", "1", 1]) == pytest.approx(0.0, abs=TOL)


def test_cohen_wikipedia_hand_example():
    # 50 proposals: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o = 0.7, p_e = 0.5, kappa = 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4, abs=1e-12)


def test_cohen_edges():
    assert cohen_kappa([1, 2, 3], [1, 2, 3]) == 1.0
    assert math.isnan(cohen_kappa(["a", "a"], ["a", "a"]))  # one category: undefined, as sklearn
    with pytest.raises(ValueError, match="same items"):
        cohen_kappa([1, 2], [1])
    with pytest.raises(ValueError, match="at least one"):
        cohen_kappa([], [])
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa([1], [1], weights="cubic")


# --------------------------------------------------------------------------- Fleiss


@pytest.mark.parametrize("seed", SEEDS)
def test_fleiss_matches_statsmodels(seed):
    from statsmodels.stats.inter_rater import (
        fleiss_kappa as sm_fleiss_kappa,  # the reference package, imported where it is used
    )

    rng = np.random.default_rng(seed)
    raters, items, cats = 7, 120, 4
    truth = rng.integers(0, cats, items)
    labels = np.where(
        rng.random((items, raters)) < 0.5, truth[:, None], rng.integers(0, cats, (items, raters))
    )
    counts = np.stack([(labels == c).sum(axis=1) for c in range(cats)], axis=1)
    assert fleiss_kappa(counts) == pytest.approx(sm_fleiss_kappa(counts, method="fleiss"), abs=TOL)


def test_fleiss_wikipedia_example():
    from statsmodels.stats.inter_rater import (
        fleiss_kappa as sm_fleiss_kappa,  # the reference package, imported where it is used
    )

    assert fleiss_kappa(FLEISS_WIKI) == pytest.approx(0.210, abs=5e-4)
    assert fleiss_kappa(FLEISS_WIKI) == pytest.approx(sm_fleiss_kappa(FLEISS_WIKI), abs=TOL)


def test_fleiss_edges():
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == 1.0
    assert math.isnan(fleiss_kappa([[3, 0], [3, 0]]))  # one category used: 0/0
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[3, 0], [1, 1]])
    with pytest.raises(ValueError, match="two annotators"):
        fleiss_kappa([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="non-empty"):
        fleiss_kappa(np.zeros((0, 3)))


# --------------------------------------------------------------------------- Krippendorff


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("level", LEVELS)
def test_alpha_matches_krippendorff_package(seed, level):
    import krippendorff  # the reference package, imported where it is used

    data = random_reliability(seed)
    assert np.isnan(data).any() and (np.sum(~np.isnan(data), axis=0) < 2).any()  # missing + unpairable items
    ours = krippendorff_alpha(data, level=level)
    theirs = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert ours == pytest.approx(theirs, abs=TOL)


@pytest.mark.slow  # the package is slow on continuous values; the other reference checks stay fast
@pytest.mark.parametrize("seed", SEEDS[:3])
@pytest.mark.parametrize("level", LEVELS)
def test_alpha_matches_package_on_continuous_values(seed, level):
    # many distinct values: takes the pair-enumeration path of the coincidence matrix
    import krippendorff  # the reference package, imported where it is used

    rng = np.random.default_rng(seed)
    truth = rng.gamma(2.0, 2.0, 200)
    data = (truth + rng.normal(0, 1.0, (5, 200))).round(2)
    data[rng.random(data.shape) < 0.3] = nan
    assert krippendorff_alpha(data, level=level) == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement=level), abs=TOL
    )


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_with_value_domain_matches_package(level):
    import krippendorff  # the reference package, imported where it is used

    data = random_reliability(11, values=4)
    domain = [1, 2, 3, 4, 5, 6]  # 5 and 6 never used
    assert krippendorff_alpha(data, level=level, value_domain=domain) == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=domain), abs=TOL
    )


def test_ordinal_alpha_follows_domain_order_for_strings():
    words = np.array(["very low", "low", "mid", "high", "very high"], dtype=object)
    data = np.full(K2011.shape, None, dtype=object)
    present = ~np.isnan(K2011)
    data[present] = words[K2011[present].astype(int) - 1]
    assert krippendorff_alpha(data, "ordinal", value_domain=list(words)) == pytest.approx(0.815, abs=5e-4)
    assert krippendorff_alpha(data, "nominal") == pytest.approx(krippendorff_alpha(K2011, "nominal"), abs=TOL)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_coincidence_paths_agree(seed):
    data = random_reliability(seed, annotators=8, items=500, values=7)
    items, codes, n_items, domain = agreement._judgments(data, None)
    items, codes, m_u = agreement._pairable(items, codes, n_items)
    dense = agreement._coincidences(items, codes, m_u, len(domain), method="dense")
    pairs = agreement._coincidences(items, codes, m_u, len(domain), method="pairs")
    np.testing.assert_allclose(dense, pairs, atol=1e-9)
    np.testing.assert_allclose(dense, dense.T, atol=1e-12)
    assert dense.sum() == pytest.approx(int(m_u.sum()))  # n = number of pairable values


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_alpha_krippendorff_2011_example(level, published):
    assert krippendorff_alpha(K2011, level=level) == pytest.approx(published, abs=5e-4)


def test_alpha_krippendorff_2011_binary_example():
    # section A: two observers, ten units, binary; alpha = 1 - 19 * 4 / (14 * 6) = 0.095
    data = [[0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]]
    assert krippendorff_alpha(data) == pytest.approx(1 - 19 * 4 / (14 * 6), abs=1e-12)


def test_alpha_edges():
    perfect = [[1, 2, 3, nan], [1, 2, 3, 4], [nan, 2, 3, 4]]
    for level in LEVELS:
        assert krippendorff_alpha(perfect, level=level) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha([[2, 2, nan], [2, 2, 5]]))  # no variation among pairable values
    with pytest.raises(ValueError, match="everything is missing"):
        krippendorff_alpha([[nan, nan], [nan, nan]])
    with pytest.raises(ValueError, match="pairable"):
        krippendorff_alpha([[1, nan], [nan, 2]])
    with pytest.raises(ValueError, match="outside value_domain"):
        krippendorff_alpha([[1, 2], [1, 7]], value_domain=[1, 2, 3])
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha([[1, 2], [1, 2]], level="cardinal")
    with pytest.raises(ValueError, match="2-D"):
        krippendorff_alpha([1, 2, 3])


def test_alpha_ignores_items_with_one_value():
    base = np.array([[1, 2, 3, 1], [1, 3, 3, 2]], dtype=float)
    extra = np.hstack([base, [[5, nan, 4], [nan, nan, nan]]])  # three unpairable items
    for level in LEVELS:
        assert krippendorff_alpha(extra, level) == pytest.approx(krippendorff_alpha(base, level), abs=TOL)


# --------------------------------------------------------------------------- percent agreement


def test_percent_agreement_hand_example():
    data = [
        [1, 1, 2, nan],  # item 0: three agree -> 6/6 ordered pairs; item 1: 1,1,2 -> 2/6
        [1, 1, nan, 3],  # item 2: one value, no pairs; item 3: 3 vs 4 -> 0/2
        [1, 2, nan, 4],
    ]
    assert percent_agreement(data) == pytest.approx((6 + 2 + 0) / (6 + 6 + 2))


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_percent_agreement_is_fleiss_p_bar_and_nominal_do(seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 3, (5, 200)).astype(float)  # complete: every item has 5 values
    counts = np.stack([(data == c).sum(axis=0) for c in range(3)], axis=1)
    p_bar = ((counts * (counts - 1)).sum(axis=1) / 20.0).mean()
    assert percent_agreement(data) == pytest.approx(p_bar, abs=TOL)
    o, _ = agreement.coincidence_matrix(data)
    assert percent_agreement(data) == pytest.approx(np.trace(o) / o.sum(), abs=TOL)


def test_percent_agreement_edges():
    assert percent_agreement([[1, 1], [1, 1]]) == 1.0
    assert percent_agreement([["a", "b"], ["b", "a"]]) == 0.0
    with pytest.raises(ValueError, match="pairable"):
        percent_agreement([[1, nan]])


# --------------------------------------------------------------------------- preferences and rankings


def test_preference_strength_alpha_is_ordinal_on_fixed_domain():
    import krippendorff  # the reference package, imported where it is used

    data = random_reliability(5, values=7) - 4  # -3..3
    assert preference_strength_alpha(data) == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal", value_domain=range(-3, 4)),
        abs=TOL,
    )
    with pytest.raises(ValueError, match="outside"):
        preference_strength_alpha([[4, 1], [3, 1]])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [2, 7, 50, 1001])
def test_kendall_tau_matches_scipy(seed, n):
    from scipy.stats import kendalltau  # the reference package, imported where it is used

    rng = np.random.default_rng(seed)
    a = rng.integers(0, max(2, n // 3), n)  # many ties
    b = np.where(rng.random(n) < 0.5, a, rng.integers(0, max(2, n // 3), n))
    expected = kendalltau(a, b).statistic
    got = kendall_tau(a, b)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=TOL)
    x = rng.normal(size=n)
    y = x + rng.normal(size=n)  # no ties
    assert kendall_tau(x, y) == pytest.approx(kendalltau(x, y).statistic, abs=TOL)


def test_kendall_tau_hand_values_and_edges():
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)  # C=5, D=1
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    assert math.isnan(kendall_tau([1], [1]))
    assert math.isnan(kendall_tau([1, nan, 3], [1, 2, 3]))
    with pytest.raises(ValueError, match="same items"):
        kendall_tau([1, 2], [1, 2, 3])


def test_tau_against_consensus_keyed_by_comparison():
    consensus = {"c1": [["a"], ["b"], ["c"]], "c2": {"x": 1, "y": 2, "z": 3}, "c3": [1, 2, 3]}
    rankings = {
        "alice": {"c1": [["a"], ["b"], ["c"]], "c2": {"x": 1, "y": 2, "z": 3}},  # 1, 1
        "bob": {"c1": [["c"], ["b"], ["a"]], "c3": [1, 3, 2], "c9": [1, 2]},  # -1, 1/3; c9 has no consensus
        "carol": {"c1": [["a", "b", "c"]]},  # all tied: nan, left out -> nan
        "dave": {"c2": {"x": 1, "y": 3, "w": 2}},  # common items x, y only: 1
    }
    taus = tau_against_consensus(rankings, consensus)
    assert taus["alice"] == pytest.approx(1.0)
    assert taus["bob"] == pytest.approx((-1.0 + 1 / 3) / 2)
    assert math.isnan(taus["carol"])
    assert taus["dave"] == pytest.approx(1.0)


def test_tau_against_single_consensus():
    from scipy.stats import kendalltau  # the reference package, imported where it is used

    consensus = [["a"], ["b", "c"], ["d"]]
    taus = tau_against_consensus(
        {"u": [["a"], ["b"], ["c"], ["d"]], "v": [["d"], ["c"], ["b"], ["a"]]}, consensus
    )
    assert taus["u"] == pytest.approx(kendalltau([0, 1, 2, 3], [0, 1, 1, 2]).statistic, abs=TOL)
    assert taus["v"] == pytest.approx(kendalltau([3, 2, 1, 0], [0, 1, 1, 2]).statistic, abs=TOL)
    assert tau_against_consensus({"w": [2, nan, 1]}, [1, 2, 3])["w"] == pytest.approx(-1.0)


@pytest.mark.parametrize(
    "values",
    [
        np.array([3.0, -2.0, 3.0, 7.0, -2.0, 0.0]),  # small integers: counted, no sort
        np.array([0.5, 1.0, 0.5, 2.25]),  # not integers: sorted
        np.array([1.0, 1e12, 5.0]),  # integers over a huge range: sorted
    ],
)
def test_value_codes_match_unique(values):
    domain, codes = agreement._numeric_codes(values)
    expected_domain, expected_codes = np.unique(values, return_inverse=True)
    np.testing.assert_array_equal(domain, expected_domain)
    np.testing.assert_array_equal(codes, expected_codes)
