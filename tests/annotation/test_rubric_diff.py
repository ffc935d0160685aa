"""The pure comparison of two rubric versions (annotation.core.rubric_diff)."""

from annotation.core.rubric_diff import changed_fields, diff_criteria, diff_summary
from annotation.core.rubrics import validate_criteria

OLD = validate_criteria(
    [
        {"key": "helpfulness", "type": "likert", "instructions": "How much does it help?"},
        {"key": "safe", "type": "binary"},
        {"key": "tone", "type": "labels", "labels": ["formal", "casual"], "required": False},
        {"key": "length", "type": "likert"},
    ]
)


def rows_by_key(rows):
    return {r["key"]: r for r in rows}


def test_identical_versions_are_all_same():
    rows = diff_criteria(OLD, OLD)
    assert [r["status"] for r in rows] == ["same"] * 4
    assert diff_summary(rows) == {"added": 0, "removed": 0, "changed": 0, "same": 4, "moved": 0}


def test_added_removed_and_changed_criteria_with_the_fields_that_differ():
    new = validate_criteria(
        [
            {"key": "helpfulness", "type": "likert", "instructions": "How much does it **really** help?"},
            {"key": "safe", "type": "binary", "required": False, "label": "Safe?"},
            {"key": "tone", "type": "labels", "labels": ["formal", "casual", "rude"], "required": False},
            {"key": "clarity", "type": "binary"},
        ]
    )
    rows = diff_criteria(OLD, new)
    by_key = rows_by_key(rows)
    assert by_key["helpfulness"]["status"] == "changed" and by_key["helpfulness"]["fields"] == [
        "instructions"
    ]
    assert by_key["safe"]["fields"] == ["label", "required"]
    assert by_key["tone"]["fields"] == ["labels"]
    assert by_key["clarity"] == {
        "key": "clarity",
        "status": "added",
        "old": None,
        "new": new[3],
        "fields": [],
        "moved": False,
    }
    assert by_key["length"]["status"] == "removed" and by_key["length"]["new"] is None
    # new order, the removed criterion where it stood: after "tone", its predecessor in the old version
    assert [r["key"] for r in rows] == ["helpfulness", "safe", "tone", "length", "clarity"]
    assert diff_summary(rows) == {"added": 1, "removed": 1, "changed": 3, "same": 0, "moved": 0}


def test_a_reordered_criterion_is_moved_not_changed():
    new = [OLD[1], OLD[0], OLD[2], OLD[3]]
    rows = diff_criteria(OLD, new)
    assert [(r["key"], r["status"], r["moved"]) for r in rows] == [
        ("safe", "same", True),
        ("helpfulness", "same", True),
        ("tone", "same", False),
        ("length", "same", False),
    ]
    assert diff_summary(rows)["moved"] == 2


def test_a_type_change_and_a_renamed_key():
    new = validate_criteria(
        [{"key": "helpful", "type": "likert", "instructions": "How much does it help?"}] + OLD[1:]
    )
    new[1] = {**new[1], "type": "labels", "labels": ["yes", "partly", "no"]}
    by_key = rows_by_key(diff_criteria(OLD, new))
    # scores are stored under the key: a new key is a new criterion
    assert by_key["helpfulness"]["status"] == "removed" and by_key["helpful"]["status"] == "added"
    assert by_key["safe"]["fields"] == ["type", "labels"]


def test_a_removed_first_criterion_stays_first_and_labels_of_other_types_are_ignored():
    rows = diff_criteria(OLD, OLD[1:])
    assert [(r["key"], r["status"]) for r in rows][:2] == [("helpfulness", "removed"), ("safe", "same")]
    assert (
        changed_fields({"key": "a", "type": "binary", "labels": ["x"]}, {"key": "a", "type": "binary"}) == []
    )
    assert (
        changed_fields({"key": "a", "type": "likert"}, {"key": "a", "type": "likert", "required": True}) == []
    )


def test_from_nothing_everything_is_added_and_to_nothing_everything_removed():
    assert {r["status"] for r in diff_criteria([], OLD)} == {"added"}
    assert [r["key"] for r in diff_criteria(OLD, [])] == [c["key"] for c in OLD]
    assert {r["status"] for r in diff_criteria(OLD, [])} == {"removed"}
