"""The loop demo's rubric (evaluation.loop.rubric, pure): every comparison differs on the closing line,
the rubric judges it, held-out prompts share neither topic nor wording with trained ones."""

import pytest

from evaluation.loop import rubric


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
