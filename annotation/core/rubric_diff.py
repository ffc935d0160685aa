"""Compare two rubric versions criterion by criterion. Pure Python: no Django.

Criteria are matched by `key` (the key is what scores are stored under, so a renamed key is a
removed criterion plus an added one). `diff_criteria(old, new)` returns one row per key, in the new
version's order with removed criteria at their old position, each row::

    {"key": "tone", "status": "changed", "old": {...} | None, "new": {...} | None,
     "fields": ["labels", "required"], "moved": False}

`status` is "added", "removed", "changed" or "same"; `fields` names the attributes that differ
(`FIELDS`, in that order); `moved` says the criterion changed position among the criteria both
versions share.
"""

FIELDS = ("label", "type", "labels", "instructions", "required")
STATUSES = ("added", "removed", "changed", "same")


def _value(criterion: dict, field: str):
    if field == "labels":
        return list(criterion.get("labels") or []) if criterion.get("type") == "labels" else []
    if field == "required":
        return bool(criterion.get("required", True))
    return criterion.get(field, "")


def changed_fields(old: dict, new: dict) -> list[str]:
    """The attributes (of `FIELDS`) whose values differ between two criteria."""
    return [field for field in FIELDS if _value(old, field) != _value(new, field)]


def diff_criteria(old: list[dict], new: list[dict]) -> list[dict]:
    """One row per criterion key of either version (see the module docstring)."""
    old_by_key = {c["key"]: c for c in old}
    new_by_key = {c["key"]: c for c in new}
    shared_old = [c["key"] for c in old if c["key"] in new_by_key]
    shared_new = [c["key"] for c in new if c["key"] in old_by_key]
    old_rank = {key: i for i, key in enumerate(shared_old)}
    new_rank = {key: i for i, key in enumerate(shared_new)}

    rows = []
    for criterion in new:
        key = criterion["key"]
        before = old_by_key.get(key)
        if before is None:
            rows.append(
                {"key": key, "status": "added", "old": None, "new": criterion, "fields": [], "moved": False}
            )
            continue
        fields = changed_fields(before, criterion)
        rows.append(
            {
                "key": key,
                "status": "changed" if fields else "same",
                "old": before,
                "new": criterion,
                "fields": fields,
                "moved": old_rank[key] != new_rank[key],
            }
        )
    # a removed criterion goes after the row of the criterion that preceded it in the old version
    for index, criterion in enumerate(old):
        key = criterion["key"]
        if key in new_by_key:
            continue
        row = {"key": key, "status": "removed", "old": criterion, "new": None, "fields": [], "moved": False}
        position = 0
        for previous in reversed(old[:index]):
            keys = [r["key"] for r in rows]
            if previous["key"] in keys:
                position = keys.index(previous["key"]) + 1
                break
        rows.insert(position, row)
    return rows


def diff_summary(rows: list[dict]) -> dict[str, int]:
    """How many rows of each status, plus "moved": `{"added": 1, "removed": 0, ...}`."""
    summary = {status: sum(1 for r in rows if r["status"] == status) for status in STATUSES}
    summary["moved"] = sum(1 for r in rows if r["moved"])
    return summary
