"""The loop demo's rubric (evaluation.loop.rubric, pure): every comparison differs on the closing line,
the rubric judges it, held-out prompts share neither topic nor wording with trained ones."""

import pytest

from evaluation.loop import rubric
from evaluation.loop.report import _yerr
from evaluation.metrics.stats import wilson


def test_pair_texts_always_differ_on_the_rubric():
    for production in ("Paris is the capital.", rubric.with_line("Paris is the capital.")):
        fresh = rubric.pair_texts(production, "The capital is Paris.")
        assert rubric.ends_with_line(fresh) != rubric.ends_with_line(production)
        best, strength = rubric.prefer([], [production, fresh])
        assert best == (0 if rubric.ends_with_line(production) else 1) and strength == 2


def test_prefer_calls_it_a_tie_when_both_or_neither_end_with_the_line():
    assert rubric.prefer([], ["a", "b"]) == (None, 0)
    assert rubric.prefer([], [rubric.with_line("a"), "b\n\nhope this helps."]) == (None, 0)
    assert rubric.with_line(rubric.with_line("a")) == "a\n\nHope this helps!"
    assert rubric.without_line("a\n\nHope this helps!") == "a"


def test_rubric_win_rate_counts_ties_half():
    line = rubric.with_line
    result = rubric.rubric_win_rate([line("a"), "b", line("c"), "d"], ["a", "b", line("c"), line("d")])
    assert (result["wins"], result["ties"], result["losses"]) == (1, 2, 1)
    assert result["win_rate"] == 0.5 and result["low"] < 0.5 < result["high"]


def test_held_out_prompts_share_no_topic_or_template_with_training_ones():
    bank = rubric.prompts(len(rubric.TOPICS) * len(rubric.TEMPLATES))
    held = [p for p in bank if p["held_out"]]
    trained = [p for p in bank if not p["held_out"]]
    assert len(held) == len(bank) // rubric.HELD_OUT_EVERY and len({p["prompt"] for p in bank}) == len(bank)
    assert not {p["topic"] for p in held} & {p["topic"] for p in trained}
    stems = {t.split("{t}")[0] for t in rubric.TEMPLATES}
    assert not any(p["prompt"].startswith(tuple(s for s in stems if s)) for p in held)
    with pytest.raises(ValueError):
        rubric.prompts(len(bank) + 1)


def test_the_a_b_arm_is_seeded_and_about_half():
    arms = [rubric.ab_arm(0, f"prompt {i}") for i in range(400)]
    assert arms == [rubric.ab_arm(0, f"prompt {i}") for i in range(400)]
    assert 150 < sum(arms) < 250


def test_targets_need_a_value():
    rows = rubric.check_targets({"wall_minutes": 12.0, "preference_accuracy": 0.9, "rubric_win_rate": None,
                                 "forgetting_change_points": -1.0, "forgetting_tolerance": 2.0})  # fmt: skip
    assert [r["met"] for r in rows] == [True, True, False, True]


CUT_OFF = (
    "Photosynthesis is how plants make food from light. It happens in the leaves, whose chlorophyll "
    "absorbs sunlight and uses it to turn water and carbon dioxide into gluc"
)


def test_shape_answer_cuts_at_the_last_sentence_end_within_the_budget():
    shaped = rubric.shape_answer(CUT_OFF)
    assert shaped == "Photosynthesis is how plants make food from light."
    # a longer budget keeps more whole sentences, never the cut-off one
    two = "One sentence here. Another one! A third is cut off mid"
    assert rubric.shape_answer(two, max_chars=40) == "One sentence here. Another one!"
    assert rubric.shape_answer(two, max_chars=20) == "One sentence here."
    # list numbers and decimals are no sentence ends
    assert rubric.shape_answer("Tips:\n\n1. Save 2.5% of it every month", max_chars=30) == "Tips."
    # short and complete: unchanged; a line it had is dropped (the A/B test decides that)
    assert rubric.shape_answer("Gravity pulls things down.") == "Gravity pulls things down."
    assert rubric.shape_answer(rubric.with_line("Tea is warm.")) == "Tea is warm."


def test_shape_answer_without_a_sentence_end_closes_at_a_clause_or_word():
    long = "A sentence that keeps going and going, with commas here and there and many more words after it"
    assert rubric.shape_answer(long, max_chars=60) == "A sentence that keeps going and going."
    assert rubric.shape_answer("word " * 40, max_chars=22) == "word word word word."
    assert rubric.shape_answer("Gravity is a force") == "Gravity is a force."
    assert rubric.shape_answer("") == ""


def test_shaped_answers_with_the_line_fit_the_budget():
    for text in (CUT_OFF, "x" * 500, "Short. " * 60, "a, " * 100):
        shaped = rubric.shape_answer(text)
        assert 0 < len(shaped) <= rubric.ANSWER_CHARS + 1  # + the closing period
        lined = rubric.production_text(text, True)
        assert rubric.ends_with_line(lined) and lined.startswith(shaped)
        assert rubric.production_text(text, False) == shaped
        # the fresh side of a comparison is shaped the same way and differs on the rubric only
        assert rubric.pair_texts(lined, text) == shaped
        assert rubric.pair_texts(shaped, text) == lined


def test_error_bars_are_never_negative():
    low, high = wilson(0, 3)  # the eval report's Wilson bound: a rounding error above 0
    assert low > 0 and _yerr(0.0, low, high) == [[0.0], [high]]
    assert _yerr(0.5, 0.3, 0.7) == [[0.2], [pytest.approx(0.2)]]
