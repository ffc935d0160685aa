"""Pure metric functions: known inputs, known outcomes."""

import pytest

from evaluation.metrics import gates, suites
from evaluation.metrics.engine import forgetting_items, limit_safety, safety_items
from evaluation.metrics.stats import wilson


def test_wilson_matches_the_textbook_values():
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)


def test_preference_accuracy_and_the_both_fall_flag():
    out = suites.preference_accuracy([-1, -2], [-5, -1], [-2, -2], [-2, -2], beta=1.0)
    assert out["rate"] == 0.5 and out["margins"] == [4.0, -1.0]
    assert not out["both_fall_flag"]
    # both fall under the policy, the rejected one faster: margin positive, flagged
    falling = suites.preference_accuracy([-6, -7], [-20, -22], [-3, -3], [-4, -4], beta=1.0)
    assert falling["rate"] == 1.0 and falling["both_fall_flag"]


def test_multiple_choice_and_forgetting_change():
    out = suites.multiple_choice_accuracy([[-1, -3], [-4, -2], [-1, -2]], [0, 1, 1])
    assert out["picks"] == [0, 1, 0] and out["rate"] == pytest.approx(2 / 3)
    assert suites.forgetting_change(0.70, 0.75, tolerance=2.0) == {
        "change_points": -5.0,
        "flag": True,
        "tolerance": 2.0,
    }
    assert not suites.forgetting_change(0.74, 0.75, tolerance=2.0)["flag"]


def test_refusal_detector_and_safety_rates():
    assert suites.is_refusal("I'm sorry, but I can't help with that.")
    assert suites.is_refusal("I cannot provide instructions for that.")
    assert not suites.is_refusal("To boil an egg, put it in boiling water.")
    # first person or impersonal "not able/allowed/appropriate" is a refusal; advice to the reader is not
    assert suites.is_refusal("It's not appropriate for me to answer that.")
    assert suites.is_refusal("I'm not allowed to share that.")
    assert suites.is_refusal("That is not allowed to be shared here.")
    assert not suites.is_refusal(
        "If you're not able to assist them yourself, you can call 911 and stay on the line."
    )
    assert not suites.is_refusal("Children are not allowed to swim alone; an adult should watch them.")
    out = suites.safety_rates(
        ["I can't help with that.", "Sure, here's how", "I won't do that", "Paris."],
        [True, True, False, False],
    )
    assert out["refusal"]["rate"] == 0.5 and out["over_refusal"]["rate"] == 0.5


def test_consistency_over_paraphrase_groups():
    out = suites.consistency(
        {"g1": ["Paris.", "paris", "Paris!"], "g2": ["Rome", "Madrid is the answer"], "single": ["x"]}
    )
    assert out["n"] == 2 and out["rate"] == 0.5


def test_perplexity_and_format_validity():
    assert suites.perplexity([-2.0, -2.0], [2, 2]) == pytest.approx(2.718281828, rel=1e-6)
    schema = {"type": "object", "required": ["answer"]}
    out = suites.format_validity(['{"answer": 1}', '{"x": 1}', "nope"], schema=schema)
    assert out["rate"] == pytest.approx(1 / 3) and out["checker"] == "json-schema"
    assert suites.format_validity(["ID-12", "id 3"], regex=r"ID-\d+")["rate"] == 0.5
    assert suites.format_validity(["x"]) is None


def test_gates_pass_fail_and_missing_values_fail():
    report = {
        "model": {
            "preference": {"rate": 0.9},
            "safety": {"refusal": {"rate": 0.8}, "over_refusal": {"rate": 0.1}},
        },
        "base": {"safety": {"refusal": {"rate": 0.7}, "over_refusal": {"rate": 0.1}}},
        "comparison": {"forgetting": {"change_points": -1.0}},
        "human": {"win_rate_low": 0.55},
    }
    g = {
        "min_preference_accuracy": 0.8,
        "min_win_rate_low": 0.5,
        "max_forgetting_drop": 2.0,
        "safety_no_worse": True,
    }
    assert gates.check_gates(report, g)["passed"]
    report["comparison"]["forgetting"]["change_points"] = -3.0
    failed = gates.check_gates(report, g)
    assert not failed["passed"] and [c["name"] for c in failed["checks"] if not c["passed"]] == [
        "forgetting drop (points)"
    ]
    assert not gates.check_gates({**report, "human": None}, {"min_win_rate_low": 0.5})["passed"]


def test_shipped_suites_are_well_formed():
    items = forgetting_items()
    assert len(items) >= 200
    assert all(
        0 <= it["answer"] < len(it["options"]) and len(set(it["options"])) == len(it["options"])
        for it in items
    )
    safety = safety_items()
    kinds = {s["expect"] for s in safety}
    assert kinds == {"refuse", "comply"} and len(safety) >= 30


def test_a_shortened_safety_suite_keeps_both_kinds():
    safety = safety_items()
    assert limit_safety(safety, None) == safety == limit_safety(safety, len(safety) + 5)
    two = limit_safety(safety, 2)
    assert [s["expect"] for s in two] == ["refuse", "comply"]  # the file lists every refusal first
    six = limit_safety(safety, 6)
    assert len(six) == 6 and sum(s["expect"] == "refuse" for s in six) == 3
    assert len({s["prompt"] for s in six}) == 6
    uneven = [{"expect": "refuse", "prompt": str(i)} for i in range(3)] + [
        {"expect": "comply", "prompt": "c"}
    ]
    assert [s["prompt"] for s in limit_safety(uneven, 3)] == ["0", "c", "1"]
