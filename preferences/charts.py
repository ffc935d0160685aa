"""Chart specs and table shapes for the leaderboard page. Pure Python, no Django.

`strength_chart` (Bradley-Terry strengths with their 95% intervals), `matrix_chart` (the win-rate
heatmap) and `bias_chart` (wins by display slot) build specs with annotation.core.charts; `matrix_rows` and
`bias_rows` shape the same figures as tables.
"""

from annotation.core import charts
from annotation.kinds.slots import slot_letter


def strength_chart(rows) -> dict:
    """Rows ({model, strength, strength_ci}) -> an interval chart: each model's Bradley-Terry
    log-strength as a point with its 95% interval, best first. A non-finite end draws the point alone."""
    return charts.interval(
        [
            {
                "label": r["model"],
                "estimate": r["strength"],
                "low": (r.get("strength_ci") or [None, None])[0],
                "high": (r.get("strength_ci") or [None, None])[-1],
            }
            for r in rows or []
        ],
        title="Bradley–Terry log-strength of each model, best first, with 95% intervals",
        label_title="model",
        value_title="log-strength",
    )


def matrix_chart(names, matrix) -> dict:
    """The win-rate matrix (row beat column) as a heatmap: green above 0.5, red below."""
    names = list(names or [])

    def cell(i, j):
        if i == j or not matrix or i >= len(matrix) or j >= len(matrix[i]):
            return None
        return matrix[i][j]

    return charts.heatmap(
        names,
        names,
        [[cell(i, j) for j in range(len(names))] for i in range(len(names))],
        title="Win rate of the row model against the column model",
        row_title="row model",
        column_title="column model",
        value_title="win rate",
        midpoint=0.5,
        percent=True,
    )


def matrix_rows(names, matrix) -> list[dict]:
    """Win-rate matrix (row beat column) -> rows of cells with a value and a percentage."""
    out = []
    for i, name in enumerate(names or []):
        row = matrix[i] if matrix and i < len(matrix) else []
        cells = []
        for j, _ in enumerate(names):
            value = row[j] if j < len(row) else None
            cells.append(
                {
                    "value": value,
                    "pct": None if value is None or i == j else round(100 * value),
                    "diagonal": i == j,
                }
            )
        out.append({"name": name, "cells": cells})
    return out


def _slot_table(counts: dict) -> list[dict]:
    return [
        {
            "slot": slot_letter(s),
            "count": counts["counts"][s],
            "share": round(100 * counts["shares"][s], 1),
            "expected": round(100 * counts["expected"][s], 1),
        }
        for s in range(len(counts["counts"]))
    ]


def bias_rows(bias) -> dict | None:
    """Position-bias figures (PositionBias.as_dict()) -> overall slot shares and one row per annotator."""
    if not bias:
        return None
    flagged = {str(a) for a in bias.get("flagged") or []}
    annotators = []
    for name, counts in sorted((bias.get("per_annotator") or {}).items()):
        top = counts.get("top_slot")
        annotators.append(
            {
                "annotator": name,
                "n_judgments": counts["n_judgments"],
                "n_decided": counts["n_decided"],
                "slots": _slot_table(counts),
                "top_slot": slot_letter(top) if top is not None else "",
                "p_value": counts["p_value"],
                "flagged": name in flagged,
            }
        )
    width = max([len(bias["overall"]["counts"])] + [len(a["slots"]) for a in annotators])
    return {
        "overall": _slot_table(bias["overall"]),
        "overall_decided": bias["overall"]["n_decided"],
        "annotators": annotators,
        "slot_names": [slot_letter(s) for s in range(width)],
        "flagged": sorted(flagged),
        "params": bias.get("params") or {},
    }


def bias_chart(table) -> dict | None:
    """`bias_rows(...)` -> grouped bars of the share of wins by display slot: everyone, the share
    expected without bias, then each annotator."""
    if not table:
        return None
    slots = table["slot_names"]

    def shares(rows, key="share"):
        by_slot = {r["slot"]: r[key] / 100 for r in rows}
        return [by_slot.get(s) for s in slots]

    groups = [("everyone", shares(table["overall"])), ("expected", shares(table["overall"], "expected"))]
    groups += [(a["annotator"], shares(a["slots"])) for a in table["annotators"]]
    return charts.bar(
        [f"slot {s}" for s in slots],
        groups,
        title="Share of wins by display slot (A = left / first)",
        label_title="display slot",
        value_title="share of wins",
        value_min=0,
        value_max=1,
        percent=True,
    )
