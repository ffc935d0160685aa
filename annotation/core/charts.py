"""Chart specs from plain data: the one place pages describe a chart. Pure Python, no Django.

Every builder returns a JSON-ready dict `{"kind", "title", "summary", "height", ...}` that the
`{% chart %}` tag (annotation/templatetags/charts.py) writes with `json_script` and `static/js/charts.js`
draws with the vendored Chart.js. Specs hold data and axis titles only, never markup or code: labels
are user text (model names, usernames, criteria) and are drawn on a canvas as text. Non-finite numbers
become None (a gap), since JSON has no NaN. `table(spec)` gives the same numbers as rows for the
accessible fallback.

Kinds: `line` (several series; numeric x, or categories such as ISO weeks), `bar` (grouped, vertical or
horizontal), `interval` (an estimate with a low..high range per label, e.g. Bradley-Terry strengths),
`histogram` (bins computed here or by the caller), `heatmap` (rows x columns of values: a cell each,
or `compact`, the values as rows of numbers) and `scatter`
(2-D maps, points with an optional text label).
"""

import math
from collections.abc import Iterable, Sequence

PALETTE_SIZE = 8  # charts.js cycles through this many colours


def _num(value):
    """A finite float, or None (gaps, missing values, NaN and infinities)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _text(value) -> str:
    return "" if value is None else str(value)


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4g}"


def _axis(
    title, *, lo=None, hi=None, kind="linear", labels=None, zero=False, percent=False, integer=False
) -> dict:
    axis = {"title": _text(title), "type": kind, "min": _num(lo), "max": _num(hi), "zero": bool(zero)}
    if labels is not None:
        axis["labels"] = [_text(label) for label in labels]
    if percent:
        axis["percent"] = True
    if integer:
        axis["integer"] = True  # whole-number ticks (steps, counts)
    return axis


def _bar_height(rows: int, groups: int = 1) -> int:
    return max(160, 56 + rows * max(22, 14 * groups + 8))


def series(label, points: Iterable, *, dashed: bool = False) -> dict:
    """One line or scatter series: `points` are (x, y) pairs, or (x, y, text) for scatter tooltips;
    y None = a gap."""
    out = []
    for point in points or []:
        x, y = point[0], point[1]
        x = _text(x) if isinstance(x, str) else _num(x)
        row = [x, _num(y)]
        if len(point) > 2:
            row.append(_text(point[2]))
        out.append(row)
    return {"label": _text(label), "points": out, "dashed": bool(dashed)}


def line(
    series_list: Sequence[dict],
    *,
    title: str,
    x_title: str,
    y_title: str,
    categories: Sequence | None = None,
    y_min=None,
    y_max=None,
    zero_line: bool = False,
    x_integer: bool = False,
    height: int = 300,
) -> dict:
    """Lines over a numeric x (steps; `x_integer` for whole-number ticks), or over `categories` (ISO
    weeks, hours) given in order: then each point's x is one of the categories."""
    series_list = [s for s in series_list if s is not None]
    n = sum(1 for s in series_list for p in s["points"] if p[1] is not None)
    parts = []
    for s in series_list:
        last = next((p for p in reversed(s["points"]) if p[1] is not None), None)
        if last is not None:
            x = _fmt(last[0]) if isinstance(last[0], float) else last[0]
            parts.append(f"{s['label']} last {_fmt(last[1])} at {x_title.lower() or 'x'} {x}")
    summary = f"{n} point{'' if n == 1 else 's'}" + (f"; {'; '.join(parts)}" if parts else "")
    return {
        "kind": "line",
        "title": _text(title),
        "summary": summary,
        "height": int(height),
        "x": _axis(
            x_title,
            kind="category" if categories is not None else "linear",
            labels=categories,
            integer=x_integer,
        ),
        "y": _axis(y_title, lo=y_min, hi=y_max, zero=zero_line),
        "series": list(series_list),
        "empty": n == 0,
    }


def bar(
    labels: Sequence,
    groups: Sequence[tuple[str, Sequence]],
    *,
    title: str,
    label_title: str,
    value_title: str,
    horizontal: bool = False,
    value_min=None,
    value_max=None,
    percent: bool = False,
    counts: bool = False,
    height: int | None = None,
) -> dict:
    """Bars: one bar per label for each (group name, values) pair, grouped side by side.
    Horizontal bars suit long labels (criteria, usernames); the height grows with the rows.
    `counts`: whole-number ticks on the value axis."""
    labels = [_text(label) for label in labels or []]
    datasets = [
        {"label": _text(name), "values": [_num(v) for v in list(values)[: len(labels)]]}
        for name, values in groups
    ]
    for d in datasets:
        d["values"] += [None] * (len(labels) - len(d["values"]))
    if height is None:
        height = _bar_height(len(labels), len(datasets)) if horizontal else 300
    n = sum(1 for d in datasets for v in d["values"] if v is not None)
    summary = "; ".join(
        f"{d['label']}: " + ", ".join(f"{lab} {_fmt(v)}" for lab, v in zip(labels, d["values"], strict=True))
        for d in datasets
    )
    value_axis = _axis(value_title, lo=value_min, hi=value_max, percent=percent, integer=counts)
    label_axis = _axis(label_title, kind="category", labels=labels)
    return {
        "kind": "bar",
        "title": _text(title),
        "summary": summary if n else "no values",
        "height": int(height),
        "horizontal": bool(horizontal),
        "x": value_axis if horizontal else label_axis,
        "y": label_axis if horizontal else value_axis,
        "labels": labels,
        "series": datasets,
        "empty": n == 0,
    }


def interval(
    rows: Iterable[dict], *, title: str, label_title: str, value_title: str, zero_line: bool = True
) -> dict:
    """Rows {label, estimate, low, high} -> a point per label with a floating bar from low to high,
    labels top to bottom in the given order. A missing or non-finite end draws the point alone."""
    out = []
    for r in rows or []:
        low, high = _num(r.get("low")), _num(r.get("high"))
        if low is None or high is None:
            low = high = None
        out.append(
            {"label": _text(r.get("label")), "estimate": _num(r.get("estimate")), "low": low, "high": high}
        )
    summary = "; ".join(
        f"{r['label']} {_fmt(r['estimate'])}"
        + (f" [{_fmt(r['low'])}, {_fmt(r['high'])}]" if r["low"] is not None else "")
        for r in out
    )
    return {
        "kind": "interval",
        "title": _text(title),
        "summary": summary or "no values",
        "height": _bar_height(len(out)),
        "x": _axis(value_title, zero=zero_line),
        "y": _axis(label_title, kind="category", labels=[r["label"] for r in out]),
        "rows": out,
        "empty": not out,
    }


def bins(values: Iterable, *, count: int = 12) -> list[dict]:
    """Integer values (lengths) -> up to `count` equal-width bins {lo, hi, count}, hi inclusive."""
    values = sorted(int(v) for v in values or [])
    if not values:
        return []
    lo, hi = values[0], values[-1]
    width = max(1, -(-(hi - lo + 1) // count))
    counts = [0] * ((hi - lo) // width + 1)
    for v in values:
        counts[(v - lo) // width] += 1
    return [{"lo": lo + i * width, "hi": lo + (i + 1) * width - 1, "count": n} for i, n in enumerate(counts)]


def histogram(bin_rows: Iterable[dict], *, title: str, x_title: str, y_title: str = "count") -> dict:
    """Bins {lo, hi, count} (computed in Python, e.g. by `bins`) -> touching bars labelled lo–hi."""
    rows = list(bin_rows or [])
    labels = [f"{b['lo']}–{b['hi']}" if b["lo"] != b["hi"] else f"{b['lo']}" for b in rows]
    counts = [_num(b["count"]) for b in rows]
    total = int(sum(c for c in counts if c is not None))
    return {
        "kind": "histogram",
        "title": _text(title),
        "summary": f"{total} values in {len(rows)} bins" + (f", {labels[0]} to {labels[-1]}" if rows else ""),
        "height": 240,
        "x": _axis(x_title, kind="category", labels=labels),
        "y": _axis(y_title, lo=0, integer=True),
        "labels": labels,
        "series": [{"label": _text(y_title), "values": counts}],
        "empty": not rows,
    }


def heatmap(
    row_labels: Sequence,
    column_labels: Sequence,
    values: Sequence[Sequence],
    *,
    title: str,
    row_title: str,
    column_title: str,
    value_title: str,
    value_min=0.0,
    value_max=1.0,
    midpoint=None,
    percent: bool = False,
    row_normalise: bool = False,
    compact: bool = False,
) -> dict:
    """A matrix: values[i][j] for row i, column j (None = no value, drawn blank). Colour runs from
    value_min to value_max; with a `midpoint` it diverges (red below, green above). `row_normalise`
    colours each cell by its share of the row (confusion matrices) while tooltips show the value.

    `compact` (large matrices, e.g. 100 annotators' pairwise agreement): the labels once and the
    values as rows of numbers rounded to `COMPACT_DIGITS` places (`"values"`, no `"cells"`), no
    number printed in the cells (tooltips only), a cell height that shrinks with the rows: about
    5 bytes a cell instead of ~80."""
    rows = [_text(r) for r in row_labels or []]
    cols = [_text(c) for c in column_labels or []]
    if compact:
        scale = {"title": _text(value_title), "min": _num(value_min), "max": _num(value_max)}
        scale.update(mid=_num(midpoint), percent=bool(percent))
        return _compact_heatmap(rows, cols, values, title, (row_title, column_title), scale)
    cells = []
    for i, row_name in enumerate(rows):
        row = list(values[i]) if values and i < len(values) and values[i] is not None else []
        row_total = sum(v for v in (_num(x) for x in row) if v is not None)
        for j, col_name in enumerate(cols):
            v = _num(row[j]) if j < len(row) else None
            shade = v
            if row_normalise and v is not None:
                shade = v / row_total if row_total else 0.0
            cells.append({"row": row_name, "column": col_name, "value": v, "shade": shade})
    n = sum(1 for c in cells if c["value"] is not None)
    return {
        "kind": "heatmap",
        "title": _text(title),
        "summary": f"{len(rows)} × {len(cols)} matrix of {value_title}, {n} values",
        "height": max(200, 90 + 40 * len(rows)),
        "x": _axis(column_title, kind="category", labels=cols),
        "y": _axis(row_title, kind="category", labels=rows),
        "value": {
            "title": _text(value_title),
            "min": 0.0 if row_normalise else _num(value_min),
            "max": 1.0 if row_normalise else _num(value_max),
            "mid": _num(midpoint),
            "percent": bool(percent),
        },
        "cells": cells,
        "empty": n == 0,
    }


COMPACT_DIGITS = 2  # a compact heatmap's values: enough for a colour and a tooltip
COMPACT_CELL = (8, 36)  # a compact heatmap's row height in px, least and most


_SCALE = 10**COMPACT_DIGITS


def _compact_value(x):
    """x rounded to COMPACT_DIGITS places (half up; floor + divide: round(x, n) is ~10x slower and
    a 100 x 100 matrix has 10,000 cells), None when not a finite number."""
    if type(x) is not float:
        x = _num(x)
        if x is None:
            return None
    elif not math.isfinite(x):
        return None
    return math.floor(x * _SCALE + 0.5) / _SCALE


def _compact_heatmap(rows, cols, values, title, axis_titles, scale) -> dict:
    grid = []
    for i in range(len(rows)):
        row = list(values[i]) if values and i < len(values) and values[i] is not None else []
        row = (row + [None] * len(cols))[: len(cols)]
        grid.append([_compact_value(x) for x in row])
    n = sum(1 for row in grid for v in row if v is not None)
    cell = max(COMPACT_CELL[0], min(COMPACT_CELL[1], 800 // max(1, len(rows))))
    return {
        "kind": "heatmap",
        "title": _text(title),
        "summary": f"{len(rows)} × {len(cols)} matrix of {scale['title']}, {n} values",
        "height": max(200, 110 + cell * len(rows)),
        "x": _axis(axis_titles[1], kind="category", labels=cols),
        "y": _axis(axis_titles[0], kind="category", labels=rows),
        "value": scale,
        "values": grid,
        "cell_text": False,
        "empty": n == 0,
    }


def scatter(
    series_list: Sequence[dict], *, title: str, x_title: str, y_title: str, height: int = 420
) -> dict:
    """Points (2-D maps of embeddings, say), one colour per series; build each with `series(...)`,
    a point's optional third element is its tooltip text."""
    n = sum(1 for s in series_list for p in s["points"] if p[0] is not None and p[1] is not None)
    return {
        "kind": "scatter",
        "title": _text(title),
        "summary": f"{n} point{'' if n == 1 else 's'} in {len(series_list)} group{'' if len(series_list) == 1 else 's'}",
        "height": int(height),
        "x": _axis(x_title),
        "y": _axis(y_title),
        "series": list(series_list),
        "empty": n == 0,
    }


def table(spec: dict) -> dict:
    """The numbers of a spec as {"columns": [...], "rows": [[...], ...]} for the text fallback."""
    kind = spec["kind"]
    if kind in ("line", "scatter"):
        xs = []
        for s in spec["series"]:
            for p in s["points"]:
                if p[0] not in xs:
                    xs.append(p[0])
        if kind == "line" and spec["x"]["type"] == "linear":
            xs.sort(key=lambda x: (x is None, x))
        if kind == "line" and spec["x"].get("labels"):
            order = {label: i for i, label in enumerate(spec["x"]["labels"])}
            xs.sort(key=lambda x: order.get(x, len(order)))
        if kind == "scatter":
            rows = [[s["label"], p[0], p[1], *(p[2:3] or [""])] for s in spec["series"] for p in s["points"]]
            return {"columns": ["group", spec["x"]["title"], spec["y"]["title"], "label"], "rows": rows}
        by_series = [{p[0]: p[1] for p in s["points"]} for s in spec["series"]]
        rows = [[x, *(values.get(x) for values in by_series)] for x in xs]
        return {"columns": [spec["x"]["title"], *(s["label"] for s in spec["series"])], "rows": rows}
    if kind in ("bar", "histogram"):
        label_title = (spec["y"] if spec.get("horizontal") else spec["x"])["title"]
        rows = [[label, *(d["values"][i] for d in spec["series"])] for i, label in enumerate(spec["labels"])]
        return {"columns": [label_title, *(d["label"] for d in spec["series"])], "rows": rows}
    if kind == "interval":
        rows = [[r["label"], r["estimate"], r["low"], r["high"]] for r in spec["rows"]]
        return {"columns": [spec["y"]["title"], spec["x"]["title"], "low", "high"], "rows": rows}
    if kind == "heatmap":
        cols = spec["x"]["labels"]
        if "values" in spec:  # compact
            rows = [[r, *spec["values"][i]] for i, r in enumerate(spec["y"]["labels"])]
            return {"columns": [f"{spec['y']['title']} ↓ / {spec['x']['title']} →", *cols], "rows": rows}
        values = {(c["row"], c["column"]): c["value"] for c in spec["cells"]}
        rows = [[r, *(values.get((r, c)) for c in cols)] for r in spec["y"]["labels"]]
        return {"columns": [f"{spec['y']['title']} ↓ / {spec['x']['title']} →", *cols], "rows": rows}
    raise ValueError(f"unknown chart kind {kind!r}")
