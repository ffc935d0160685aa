"""Display slots map to the responses each annotator actually saw."""

import pytest

from preferences.payload import PayloadError, normalise, parse_ranking, to_display


def test_left_maps_to_the_response_shown_on_the_left():
    # response 11 was shown on the left (slot A), response 7 on the right
    out = normalise({"choice": "left", "strength": "clearly"}, [11, 7])
    assert out["winner"] == 11 and out["winner_slot"] == 0
    assert out["ranking"] == [[11], [7]] and out["strength"] == 2
    out = normalise({"choice": "B", "strength": 3}, [11, 7])
    assert out["winner"] == 7 and out["ranking"] == [[7], [11]] and out["strength"] == 3


def test_same_choice_differs_with_display_order():
    assert normalise({"choice": "A", "strength": 1}, [1, 2])["winner"] == 1
    assert normalise({"choice": "A", "strength": 1}, [2, 1])["winner"] == 2


@pytest.mark.parametrize("choice", ["tie", "both_bad", "both bad"])
def test_tie_and_both_bad_need_no_strength(choice):
    out = normalise({"choice": choice}, [5, 6])
    assert out["winner"] is None and out["strength"] == 0
    assert out["outcome"] == choice.replace(" ", "_") and out["ranking"] == [[5, 6]]


def test_ranking_with_ties_for_three_responses():
    out = normalise({"ranking": "C>A=B", "harmful": ["b"]}, [10, 20, 30])
    assert out["ranking"] == [[30], [10, 20]]
    assert out["harmful"] == [20]
    assert parse_ranking([["B"], ["A", "C"]], 3) == [[1], [0, 2]]


@pytest.mark.parametrize(
    "raw, field",
    [
        ({}, "choice"),
        ({"choice": "A"}, "strength"),
        ({"choice": "A", "strength": 7}, "strength"),
        ({"choice": "Z", "strength": 1}, "choice"),
        ({"choice": "A", "strength": 1, "harmful": ["Q"]}, "harmful"),
        ({"choice": "A", "strength": 1, "criteria": {"nope": "A"}}, "criteria.nope"),
    ],
)
def test_errors_name_the_field(raw, field):
    with pytest.raises(PayloadError) as exc:
        normalise(raw, [1, 2], criteria_keys=("helpfulness",))
    assert field in exc.value.errors


@pytest.mark.parametrize("ranking", ["A>B", "A>B>B", "A>B>C>D", [["A"]], 5])
def test_incomplete_or_repeated_rankings_refused(ranking):
    with pytest.raises(PayloadError) as exc:
        normalise({"ranking": ranking}, [1, 2, 3])
    assert "ranking" in exc.value.errors


def test_per_criterion_preferences_map_too():
    out = normalise(
        {"choice": "A", "strength": 1, "criteria": {"helpfulness": "B", "tone": "tie"}},
        [4, 9],
        criteria_keys=("helpfulness", "tone"),
    )
    assert out["criteria"]["helpfulness"]["winner"] == 9
    assert out["criteria"]["tone"]["outcome"] == "tie"


@pytest.mark.parametrize(
    "raw, order",
    [
        ({"choice": "B", "strength": "2", "harmful": ["A"], "improved_text": "Better."}, [7, 3]),
        ({"choice": "tie", "criteria": {"helpfulness": "A"}}, [7, 3]),
        ({"choice": "both_bad"}, [3, 7]),
        ({"ranking": "C>A=B", "criteria": {"helpfulness": "B>A>C"}}, [9, 7, 3]),
    ],
)
def test_to_display_gives_back_the_answer_in_the_annotators_slots(raw, order):
    stored = normalise(raw, order, criteria_keys=("helpfulness",))
    again = to_display(stored, order)
    assert normalise(again, order, criteria_keys=("helpfulness",)) == stored
