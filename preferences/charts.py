"""Geometry and table shapes for the leaderboard page, computed on the server. Pure Python, no Django.

`interval_chart` lays out an inline SVG dot-and-whisker chart of Bradley-Terry strengths with their
95% intervals; `matrix_rows` shades the win-rate matrix; `bias_rows` flattens the position-bias figures.
"""

import math

from annotation.kinds.slots import slot_letter


def _finite(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    first = math.ceil(lo / step) * step
    ticks, t = [], first
    while t <= hi + 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def interval_chart(rows, *, width: int = 640, row_height: int = 28, label_width: int = 200) -> dict:
    """Rows ({model, strength, strength_ci}) -> points and whiskers in SVG coordinates.

    Non-finite interval ends (a bootstrap with no estimate) are drawn as the point alone.
    """
    rows = list(rows or [])
    top, bottom, right = 10, 30, 16
    values = []
    for r in rows:
        values.append(r["strength"])
        values.extend(x for x in r.get("strength_ci") or [] if _finite(x))
    values = [v for v in values if _finite(v)] or [0.0]
    lo, hi = min(values + [0.0]), max(values + [0.0])
    pad = (hi - lo) * 0.05 or 0.5
    lo, hi = lo - pad, hi + pad
    plot_w = width - label_width - right

    def x_of(v):
        return round(label_width + (v - lo) / (hi - lo) * plot_w, 1)

    points = []
    for i, r in enumerate(rows):
        ci = [x for x in (r.get("strength_ci") or []) if _finite(x)]
        y = top + i * row_height + row_height // 2
        x = x_of(r["strength"]) if _finite(r["strength"]) else x_of(0.0)
        points.append(
            {
                "model": r["model"],
                "y": y,
                "text_y": y + 4,
                "x": x,
                "x_lo": x_of(ci[0]) if len(ci) == 2 else x,
                "x_hi": x_of(ci[1]) if len(ci) == 2 else x,
                "strength": r["strength"],
                "ci": r.get("strength_ci"),
            }
        )
    height = top + len(rows) * row_height + bottom
    axis_y = top + len(rows) * row_height
    ticks = [{"x": x_of(t), "label": f"{t:g}"} for t in _nice_ticks(lo, hi)]
    return {
        "width": width,
        "height": height,
        "axis_y": axis_y,
        "tick_label_y": axis_y + 16,
        "label_x": label_width - 8,
        "plot_left": label_width,
        "plot_right": width - right,
        "zero_x": x_of(0.0),
        "points": points,
        "ticks": ticks,
    }


def shade(value) -> str:
    """Background for a win rate: green above 0.5, red below, stronger further from 0.5."""
    if value is None or not _finite(value):
        return ""
    alpha = round(min(1.0, abs(value - 0.5) * 2) * 0.75, 3)
    rgb = "46, 160, 67" if value >= 0.5 else "215, 58, 73"
    return f"background-color: rgba({rgb}, {alpha})"


def matrix_rows(names, matrix) -> list[dict]:
    """Win-rate matrix (row beat column) -> rows of cells with a value, a percentage and a shade."""
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
                    "style": "" if i == j else shade(value),
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
