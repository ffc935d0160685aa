"""Drift on the agreement page: each annotator's agreement with the others' consensus by ISO week, from a
stored report's `annotator_weekly` rows. Pure: no Django.

Annotators x weeks grows with both (100 annotators over a year: 5,200 cells a kind). Up to
`pairwise.FULL_TABLE_MAX` annotators the page shows a line per annotator and the full table; above,
a compact heatmap (annotators x weeks, drawn by static/js/charts.js from the values as rows of
numbers) and the table of the falling annotators only; drift.csv has every row.
"""

from annotation.core import charts
from annotation.quality.pairwise import FULL_TABLE_MAX


def drift_chart(table):
    """One line per annotator: agreement with the others' consensus per ISO week."""
    return charts.line(
        [
            charts.series(
                r["username"],
                [(w, c["agree"] if c else None) for w, c in zip(table["weeks"], r["cells"], strict=True)],
            )
            for r in table["rows"]
        ],
        title=f"{table['kind']}: each annotator's agreement with the others, by week",
        x_title="ISO week",
        y_title="share agreeing",
        categories=table["weeks"],
        y_min=0.0,
        y_max=1.0,
    )


DRIFT_DROP = 0.2  # a fall of this much from an annotator's first week to their last is flagged


def drift_tables(annotator_weekly: dict) -> list[dict]:
    """Per kind: annotators x ISO weeks of agreement with the others' consensus, and who drifts
    (their latest week at least DRIFT_DROP below their first)."""
    tables = []
    for kind, rows in sorted((annotator_weekly or {}).items()):
        weeks = sorted({r["week"] for r in rows})
        people = {}
        for r in rows:
            people.setdefault(r["username"], {})[r["week"]] = r
        body = []
        for name, by_week in sorted(people.items()):
            series = [by_week[w]["agree"] for w in weeks if w in by_week and by_week[w]["agree"] is not None]
            falling = len(series) >= 2 and series[-1] <= series[0] - DRIFT_DROP
            cells = [
                {
                    "agree": by_week[w]["agree"],
                    "items": by_week[w]["items"],
                    # alpha in hundredths, at most .40: the dark text on it stays readable (WCAG AA)
                    "shade": round(40 * by_week[w]["agree"]),
                }
                if w in by_week
                else None
                for w in weeks
            ]
            body.append({"username": name, "cells": cells, "falling": falling})
        tables.append({"kind": kind, "weeks": weeks, "rows": body})
    return tables


def drift_heatmap(table):
    """Annotators (rows) x ISO weeks (columns) of the share agreeing, 0..1; blank: no answer that week."""
    return charts.heatmap(
        [r["username"] for r in table["rows"]],
        table["weeks"],
        [[c["agree"] if c else None for c in r["cells"]] for r in table["rows"]],
        title=f"{table['kind']}: each annotator's agreement with the others, by week",
        row_title="annotator",
        column_title="ISO week",
        value_title="share agreeing",
        compact=True,
    )


def sections(annotator_weekly: dict) -> list[dict]:
    """`drift_tables` with, per kind, the chart ("chart": lines, or a heatmap above FULL_TABLE_MAX
    annotators), the rows the table lists ("shown": all, or the falling ones above it) and
    "full" (whether every annotator is listed)."""
    out = []
    for t in drift_tables(annotator_weekly):
        full = len(t["rows"]) <= FULL_TABLE_MAX
        chart = drift_chart(t) if full else drift_heatmap(t)
        out.append(
            {
                **t,
                "chart": chart,
                "full": full,
                "shown": t["rows"] if full else [r for r in t["rows"] if r["falling"]],
            }
        )
    return out
