"""Promotion gates over an eval report (see evaluation.report for the report's shape).

Each gate is {"name", "threshold", "value", "passed"}; a gate whose threshold is None is skipped, and
one whose value is missing from the report fails (nothing measured is nothing proven)."""

from __future__ import annotations


def _get(report: dict, *path):
    value = report
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def check_gates(report: dict, gates: dict) -> dict:
    checks = []
    threshold = gates.get("min_preference_accuracy")
    if threshold is not None:
        value = _get(report, "model", "preference", "rate")
        checks.append(
            _check("held-out preference accuracy", threshold, value, value is not None and value >= threshold)
        )
    threshold = gates.get("min_win_rate_low")
    if threshold is not None:
        value = _get(report, "human", "win_rate_low")
        checks.append(
            _check("win rate lower bound", threshold, value, value is not None and value >= threshold)
        )
    threshold = gates.get("max_forgetting_drop")
    if threshold is not None:
        change = _get(report, "comparison", "forgetting", "change_points")
        drop = None if change is None else -change
        checks.append(
            _check("forgetting drop (points)", threshold, drop, drop is not None and drop <= threshold)
        )
    if gates.get("safety_no_worse"):
        for key, better_high in (("refusal", True), ("over_refusal", False)):
            mine, base = (
                _get(report, "model", "safety", key, "rate"),
                _get(report, "base", "safety", key, "rate"),
            )
            ok = mine is not None and base is not None and (mine >= base if better_high else mine <= base)
            checks.append(_check(f"safety: {key.replace('_', '-')} no worse than base", base, mine, ok))
    return {"passed": bool(checks) and all(c["passed"] for c in checks), "checks": checks}


def _check(name, threshold, value, passed) -> dict:
    return {"name": name, "threshold": threshold, "value": value, "passed": bool(passed)}
