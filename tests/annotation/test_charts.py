"""Chart specs (annotation/core/charts.py): data in, JSON-ready spec out; the {% chart %} tag writes them
with json_script so user text (model names, usernames, criteria) stays data; no template draws SVG or
loads anything from another site."""

import json
import math
import re
from pathlib import Path

import pytest
from django.template import Context, Template

from annotation.core import charts
from preferences import charts as leaderboard_charts
from tests.chart_specs import chart_spec

EVIL = "</script><img src=x onerror=alert(1)>"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def render(spec, **options):
    args = " ".join(f"{k}={v}" for k, v in options.items())
    return Template('{% load charts %}{% chart spec id="c1" ' + args + " %}").render(Context({"spec": spec}))


# --- builders ---------------------------------------------------------------------------------


def test_line_over_steps_keeps_points_gaps_and_axes():
    spec = charts.line(
        [
            charts.series("loss", [(1, 0.69), (2, None), (3, 0.5)]),
            charts.series("eval", [(2, 0.7)], dashed=True),
        ],
        title="Loss",
        x_title="step",
        y_title="loss",
        zero_line=True,
    )
    assert spec["kind"] == "line" and spec["x"] == {
        "title": "step", "type": "linear", "min": None, "max": None, "zero": False
    }  # fmt: skip
    assert spec["y"]["title"] == "loss" and spec["y"]["zero"] is True
    assert spec["series"][0]["points"] == [[1.0, 0.69], [2.0, None], [3.0, 0.5]]
    assert spec["series"][1] == {"label": "eval", "points": [[2.0, 0.7]], "dashed": True}
    assert spec["summary"] == "3 points; loss last 0.5 at step 3; eval last 0.7 at step 2"
    assert not spec["empty"]
    assert charts.table(spec) == {
        "columns": ["step", "loss", "eval"],
        "rows": [[1.0, 0.69, None], [2.0, None, 0.7], [3.0, 0.5, None]],
    }


def test_line_over_categories_keeps_their_order():
    weeks = ["2025-W09", "2025-W10"]
    spec = charts.line(
        [charts.series("alpha", [("2025-W09", 0.4), ("2025-W10", 0.6)])],
        title="t", x_title="ISO week", y_title="agreement", categories=weeks, y_max=1,
    )  # fmt: skip
    assert spec["x"]["type"] == "category" and spec["x"]["labels"] == weeks and spec["y"]["max"] == 1.0
    assert spec["series"][0]["points"] == [["2025-W09", 0.4], ["2025-W10", 0.6]]
    assert charts.table(spec)["rows"] == [["2025-W09", 0.4], ["2025-W10", 0.6]]


def test_empty_and_single_point_lines():
    empty = charts.line([charts.series("loss", [])], title="Loss", x_title="step", y_title="loss")
    assert empty["empty"] and empty["summary"] == "0 points" and empty["series"][0]["points"] == []
    assert charts.table(empty) == {"columns": ["step", "loss"], "rows": []}
    one = charts.line([charts.series("loss", [(5, 1.25)])], title="Loss", x_title="step", y_title="loss")
    assert not one["empty"] and one["summary"] == "1 point; loss last 1.25 at step 5"


def test_non_finite_numbers_become_gaps_so_the_spec_is_valid_json():
    spec = charts.line(
        [charts.series("x", [(1, math.nan), (2, math.inf), (3, -math.inf), (4, True), (5, 2)])],
        title="t", x_title="step", y_title="v",
    )  # fmt: skip
    assert [p[1] for p in spec["series"][0]["points"]] == [None, None, None, None, 2.0]
    json.loads(json.dumps(spec, allow_nan=False))  # would raise on NaN / Infinity
    heat = charts.heatmap(
        ["a"], ["b"], [[math.nan]], title="t", row_title="r", column_title="c", value_title="v"
    )
    assert heat["cells"] == [{"row": "a", "column": "b", "value": None, "shade": None}] and heat["empty"]


def test_grouped_bars_vertical_and_horizontal():
    spec = charts.bar(
        ["ann1", "ann2"], [("submitted", [3, 1]), ("skipped", [0])],
        title="Work", label_title="annotator", value_title="assignments", horizontal=True,
    )  # fmt: skip
    assert (
        spec["horizontal"] and spec["y"]["labels"] == ["ann1", "ann2"] and spec["x"]["title"] == "assignments"
    )
    assert spec["series"] == [
        {"label": "submitted", "values": [3.0, 1.0]},
        {"label": "skipped", "values": [0.0, None]},  # padded to the labels
    ]
    assert spec["height"] >= 160
    assert charts.table(spec)["rows"] == [["ann1", 3.0, 0.0], ["ann2", 1.0, None]]
    vertical = charts.bar(["10:00"], [("n", [4])], title="t", label_title="hour", value_title="judgments")
    assert (
        not vertical["horizontal"]
        and vertical["x"]["labels"] == ["10:00"]
        and vertical["y"]["title"] == "judgments"
    )
    many = charts.bar(
        [f"c{i}" for i in range(30)],
        [("a", [1] * 30)],
        title="t",
        label_title="",
        value_title="v",
        horizontal=True,
    )
    assert many["height"] > spec["height"]  # horizontal bars grow with their rows
    nothing = charts.bar([], [("a", [])], title="t", label_title="", value_title="v")
    assert nothing["empty"] and nothing["summary"] == "no values"


def test_interval_rows_and_missing_ends():
    spec = charts.interval(
        [
            {"label": "model-a", "estimate": 0.8, "low": 0.5, "high": 1.1},
            {"label": "model-b", "estimate": -0.8, "low": math.nan, "high": -0.2},
        ],
        title="Strength", label_title="model", value_title="log-strength",
    )  # fmt: skip
    assert spec["y"]["labels"] == ["model-a", "model-b"] and spec["x"]["zero"]
    assert spec["rows"][0] == {"label": "model-a", "estimate": 0.8, "low": 0.5, "high": 1.1}
    assert spec["rows"][1] == {"label": "model-b", "estimate": -0.8, "low": None, "high": None}  # point alone
    assert charts.table(spec)["rows"][0] == ["model-a", 0.8, 0.5, 1.1]


def test_bins_and_histogram():
    assert charts.bins([]) == []
    assert charts.bins([7]) == [{"lo": 7, "hi": 7, "count": 1}]
    bins = charts.bins([0, 1, 2, 3, 10, 11, 23], count=4)
    assert bins == [
        {"lo": 0, "hi": 5, "count": 4}, {"lo": 6, "hi": 11, "count": 2},
        {"lo": 12, "hi": 17, "count": 0}, {"lo": 18, "hi": 23, "count": 1},
    ]  # fmt: skip
    spec = charts.histogram(bins, title="prompt", x_title="characters", y_title="rows")
    assert spec["labels"] == ["0–5", "6–11", "12–17", "18–23"] and spec["series"][0]["values"] == [4, 2, 0, 1]
    assert spec["summary"] == "7 values in 4 bins, 0–5 to 18–23"
    assert charts.histogram([], title="t", x_title="x")["empty"]


def test_heatmap_cells_and_row_shares():
    spec = charts.heatmap(
        ["yes", "no"], ["yes", "no"], [[3, 1], [0, 0]],
        title="Confusion", row_title="ann", column_title="consensus", value_title="judgments", row_normalise=True,
    )  # fmt: skip
    cells = {(c["row"], c["column"]): c for c in spec["cells"]}
    assert cells[("yes", "yes")]["value"] == 3 and cells[("yes", "yes")]["shade"] == 0.75
    assert cells[("no", "no")]["shade"] == 0.0  # an empty row is not a division by zero
    assert spec["value"]["min"] == 0.0 and spec["value"]["max"] == 1.0
    assert charts.table(spec)["rows"] == [["yes", 3.0, 1.0], ["no", 0.0, 0.0]]


def test_scatter_points_carry_their_text():
    spec = charts.scatter(
        [charts.series("cluster 1", [(0.1, 0.2, "a prompt"), (0.3, None, "gap")])],
        title="Map", x_title="umap 1", y_title="umap 2",
    )  # fmt: skip
    assert spec["series"][0]["points"] == [[0.1, 0.2, "a prompt"], [0.3, None, "gap"]]
    assert spec["summary"] == "1 point in 1 group"
    assert charts.table(spec)["rows"][0] == ["cluster 1", 0.1, 0.2, "a prompt"]


def test_leaderboard_specs():
    models = [
        {"model": "model-a", "strength": 0.7, "strength_ci": [0.2, 1.3]},
        {"model": "model-b", "strength": -0.7, "strength_ci": [-1.3, -0.2]},
    ]
    strength = leaderboard_charts.strength_chart(models)
    assert [(r["label"], r["estimate"], r["low"], r["high"]) for r in strength["rows"]] == [
        ("model-a", 0.7, 0.2, 1.3), ("model-b", -0.7, -1.3, -0.2)
    ]  # fmt: skip
    matrix = leaderboard_charts.matrix_chart(["model-a", "model-b"], [[None, 0.75], [0.25, None]])
    values = {(c["row"], c["column"]): c["value"] for c in matrix["cells"]}
    assert values == {
        ("model-a", "model-a"): None,
        ("model-a", "model-b"): 0.75,
        ("model-b", "model-a"): 0.25,
        ("model-b", "model-b"): None,
    }
    assert matrix["value"]["mid"] == 0.5 and matrix["value"]["percent"]
    bias = {
        "overall": {"counts": [6, 4], "shares": [0.6, 0.4], "expected": [0.5, 0.5], "n_decided": 10},
        "per_annotator": {"ann": {"counts": [5, 1], "shares": [5 / 6, 1 / 6], "expected": [0.5, 0.5], "n_judgments": 6, "n_decided": 6, "top_slot": 0, "p_value": 0.2}},
        "flagged": [],
    }  # fmt: skip
    chart = leaderboard_charts.bias_chart(leaderboard_charts.bias_rows(bias))
    assert chart["labels"] == ["slot A", "slot B"]
    assert [(s["label"], s["values"]) for s in chart["series"]] == [
        ("everyone", [0.6, 0.4]), ("expected", [0.5, 0.5]), ("ann", [0.833, pytest.approx(0.167)])
    ]  # fmt: skip
    assert leaderboard_charts.bias_chart(None) is None


# --- the tag ----------------------------------------------------------------------------------


def test_tag_writes_a_canvas_and_the_spec_as_json_data():
    spec = charts.line([charts.series("loss", [(1, 0.5)])], title="Loss", x_title="step", y_title="loss")
    html = render(spec)
    assert '<figure class="chart chart-wide" id="c1" data-chart="c1-spec" data-kind="line">' in html
    assert '<canvas role="img" aria-label="Loss: 1 point; loss last 0.5 at step 1">' in html
    assert chart_spec(html, "c1") == json.loads(json.dumps(spec))
    assert "hx-preserve" not in html and "<details" not in html
    live = render(spec, live="True", table="True")
    assert 'hx-preserve="true"' in live and '<details class="chart-data" id="c1-data">' in live
    assert "<td>0.5</td>" in live  # the numbers, readable without the canvas


def test_hostile_labels_stay_data():
    spec = charts.bar(
        [EVIL], [(EVIL, [1])], title=EVIL, label_title=EVIL, value_title="v", horizontal=True
    )  # fmt: skip
    html = render(spec, table="True")
    assert EVIL not in html and "<img" not in html
    assert html.count("</script>") == 1  # only the spec's own closing tag
    script = re.search(r'<script id="c1-spec" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert "<" not in script and "\\u003C/script\\u003E\\u003Cimg" in script
    assert json.loads(script)["labels"] == [EVIL]  # the browser reads back the same text
    assert chart_spec(html, "c1")["series"][0]["label"] == EVIL
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html  # caption, aria-label, table: escaped


# --- templates --------------------------------------------------------------------------------


def test_no_template_draws_svg_charts_or_loads_from_another_site():
    bad = []
    external = re.compile(
        r"""<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*["']?\s*(https?:)?//""", re.I
    )
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        name = path.relative_to(TEMPLATES)
        for needle in ("<svg", "polyline", "<polygon", "<circle", "<rect"):
            if needle in text.lower():
                bad.append(f"{name}: {needle}")
        if external.search(text):
            bad.append(f"{name}: loads from {external.search(text).group(0)}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "html",
    [
        '<svg role="img"><polyline points="0,0"/></svg>',
        '<script src="https://cdn.example/chart.js"></script>',
    ],
)
def test_the_template_check_would_catch_them(tmp_path, html, monkeypatch):
    (tmp_path / "x.html").write_text(html)
    monkeypatch.setattr(f"{__name__}.TEMPLATES", tmp_path)
    with pytest.raises(AssertionError):
        test_no_template_draws_svg_charts_or_loads_from_another_site()
