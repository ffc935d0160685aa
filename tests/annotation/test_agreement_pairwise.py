"""The agreement page's pairwise agreement (annotation.quality.pairwise): a heatmap drawn from a compact
chart spec, the lowest and highest agreeing pairs, each annotator's mean pairwise kappa; the full
table in pairwise.csv; hostile usernames escaped; the page's markup not growing as annotators²."""

import csv
import io
import json
import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from annotation.core import charts
from annotation.models import AgreementReport
from annotation.quality import pairwise
from annotation.quality.agreement import cohen_kappa
from annotation.quality.reports import recompute_agreement
from tests.annotation.test_agreement_reports import PLANT, planted  # noqa: F401 - fixture
from tests.chart_specs import chart_spec

pytestmark = pytest.mark.django_db

EVIL = "<script>alert(1)</script>&\"'"


def kappa(a, b):
    return round(cohen_kappa([d for d, _ in PLANT[a]], [d for d, _ in PLANT[b]]), 4)


def lead_client(users):
    web = Client()
    web.force_login(users["lead"])
    return web


def test_heatmap_pairs_and_means_on_a_known_project(planted, users):  # noqa: F811
    project, people = planted
    recompute_agreement(project=project, actor=users["lead"])
    known = {
        frozenset(("annotator1", "annotator2")): kappa("annotator1", "annotator2"),
        frozenset(("annotator1", "third")): kappa("annotator1", "third"),
        frozenset(("annotator2", "third")): kappa("annotator2", "third"),
    }
    names = {"annotator1": users["annotator"].username, "annotator2": users["annotator2"].username}
    names["third"] = "third"
    mean = {
        n: round(sum(k for pair, k in known.items() if n in pair) / 2, 4)
        for n in ("annotator1", "annotator2", "third")
    }
    html = lead_client(users).get(reverse("annotation:agreement", args=[project.pk])).content.decode()
    spec = chart_spec(html, "chart-pairwise-sft")
    order = sorted(mean, key=lambda n: (mean[n], names[n]))  # lowest mean first
    assert spec["kind"] == "heatmap" and "cells" not in spec and spec["cell_text"] is False
    assert spec["y"]["labels"] == spec["x"]["labels"] == [names[n] for n in order]
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            expected = None if a == b else round(known[frozenset((a, b))], 2)
            assert spec["values"][i][j] == expected, (a, b)
    # every pair (3 <= 2 x TOP_N), lowest kappa first, with its shared items
    table = html.split('id="pairs-sft"')[1].split("</table>")[0]
    cells = re.findall(
        r"<tr class=\"pair-low\">.*?<td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(\d+)</td>", table
    )
    assert [float(k) for _, _, k, _ in cells] == sorted(known.values())
    assert all(items == "4" for *_, items in cells) and "pair-high" not in table
    assert {frozenset((a, b)) for a, b, _, _ in cells} == {frozenset(names[n] for n in p) for p in known}
    # mean pairwise kappa per annotator in the annotators table; a small project keeps every pair too
    annotators = html.split('class="table compact annotators"')[1].split("</table>")[0]
    for n in order:
        row = annotators.split(f"<tr><td>{names[n]}</td>")[1].split("</tr>")[0]
        assert f"<td>{mean[n]} <span" in row and "(2)" in row
    assert "Pairwise kappa</th>" in annotators
    # the full table in pairwise.csv, both directions, linked from the page
    url = reverse("annotation:agreement-csv", args=[project.pk, "pairwise"])
    assert f'href="{url}"' in html
    rows = list(csv.DictReader(io.StringIO(lead_client(users).get(url).content.decode())))
    by_name = {v: k for k, v in names.items()}
    assert len(rows) == 6
    for r in rows:
        pair = frozenset((by_name[r["username"]], by_name[r["other"]]))
        assert float(r["kappa"]) == known[pair] and r["items"] == "4" and r["kind"] == "sft"


def row(user_id, name, others):
    """A stored report's annotator row with pairwise kappas to `others` ({id: kappa})."""
    return {
        "user_id": user_id,
        "username": name,
        "judgments": 100,
        "kappa_consensus": 0.5,
        "agree_consensus": 0.75,
        "kappa_gold": None,
        "gold_accuracy": None,
        "gold_items": 0,
        "reliability": 0.8,
        "weight": 1.2,
        "pairwise": {str(b): {"kappa": k, "items": 10 + b} for b, k in others.items()},
        "confusion": {"labels": ["accept", "reject"], "matrix": [[40, 10], [5, 45]]},
    }


def synthetic_report(project, n, names=None):
    """A stored report of `n` annotators of one kind, every pair with a kappa (k(a, b) = (a + b) % 7 / 7),
    four weeks of drift each: what the page renders, without judging n x items through the queue."""
    names = names or {}
    ids = list(range(1, n + 1))
    kappa_of = {(a, b): round(((a + b) % 7) / 7 - 0.3, 4) for a in ids for b in ids if a != b}
    rows = [
        row(a, names.get(a, f"annotator{a:03d}"), {b: kappa_of[a, b] for b in ids if b != a}) for a in ids
    ]
    weeks = ["2025-W01", "2025-W02", "2025-W03", "2025-W04"]
    falling = [0.9, 0.8, 0.6, 0.5]  # annotator 2 falls by 0.4 (DRIFT_DROP: 0.2); the others hold at 0.7
    drift = [
        {
            "user_id": a,
            "username": r["username"],
            "week": w,
            "agree": falling[i] if a == 2 else 0.7,
            "items": 25,
        }
        for a, r in zip(ids, rows, strict=True)
        for i, w in enumerate(weeks)
    ]
    data = {
        "judgments": 100 * n,
        "items_judged": 40 * n,
        "decisions": [{"kind": "sft", "version": "all", "alpha": 0.4, "fleiss": 0.4, "percent": 0.7,
                       "items": 40 * n, "judgments": 100 * n}],
        "weekly": [{"kind": "sft", "week": w, "alpha": 0.4, "percent": 0.7, "items": 10 * n} for w in weeks],
        "annotators": {"sft": rows},
        "annotator_weekly": {"sft": drift},
    }  # fmt: skip
    return AgreementReport.objects.create(project=project, data=data), kappa_of


def test_lowest_and_highest_pairs_beyond_twice_top_n(project, users):
    report, kappa_of = synthetic_report(project, 20)  # 190 pairs
    html = lead_client(users).get(reverse("annotation:agreement", args=[project.pk])).content.decode()
    table = html.split('id="pairs-sft"')[1].split("</table>")[0]
    low = [float(k) for k in re.findall(r'class="pair-low">.*?</td><td>.*?</td><td>(.*?)</td>', table)]
    high = [float(k) for k in re.findall(r'class="pair-high">.*?</td><td>.*?</td><td>(.*?)</td>', table)]
    every = sorted(kappa_of.values())[::2]  # each unordered pair once (both directions are equal)
    assert len(low) == len(high) == pairwise.TOP_N
    assert low == sorted(every)[: pairwise.TOP_N] and high == sorted(every, reverse=True)[: pairwise.TOP_N]
    annotators = html.split('class="table compact annotators"')[1].split("</table>")[0]
    assert "Pairwise kappa</th>" not in annotators  # above FULL_TABLE_MAX: no per-annotator list
    spec = chart_spec(html, "chart-pairwise-sft")
    assert len(spec["values"]) == 20 and all(len(r) == 20 for r in spec["values"])
    assert sum(v is not None for r in spec["values"] for v in r) == 20 * 19
    # drift above FULL_TABLE_MAX: a heatmap of annotators x weeks, the table lists the falling one only
    drift = chart_spec(html, "chart-drift-sft")
    assert drift["kind"] == "heatmap" and drift["x"]["labels"] == [
        "2025-W01",
        "2025-W02",
        "2025-W03",
        "2025-W04",
    ]
    assert drift["values"][1] == [0.9, 0.8, 0.6, 0.5] and drift["values"][0] == [0.7] * 4
    table = html.split('id="drift-sft"')[1].split("</table>")[0]
    assert table.count('<tr><th scope="row">') == 1 and "annotator002" in table and "falling" in table
    assert "(1 of 20)" in table


def test_extremes_split_and_ties():
    pairs = [{"a": f"a{i}", "b": f"b{i}", "kappa": i / 10, "items": 5} for i in range(5)]
    pairs.append({"a": "x", "b": "y", "kappa": None, "items": 3})  # no kappa: left out
    assert pairwise.extremes(pairs, n=3) == {"lowest": pairs[:5], "highest": []}
    out = pairwise.extremes(pairs, n=2)
    assert [p["kappa"] for p in out["lowest"]] == [0.0, 0.1]
    assert [p["kappa"] for p in out["highest"]] == [0.4, 0.3]
    tied = [{"a": "a", "b": "b", "kappa": 0.5, "items": 3}, {"a": "c", "b": "d", "kappa": 0.5, "items": 9}]
    assert pairwise.extremes(tied, n=5)["lowest"][0]["items"] == 9  # more shared items first


def test_compact_heatmap_spec_and_table():
    spec = charts.heatmap(
        ["a", "b"], ["a", "b"], [[None, 0.123456], [float("nan"), 1]], title="t", row_title="r",
        column_title="c", value_title="v", value_min=-1, value_max=1, midpoint=0, compact=True,
    )  # fmt: skip
    assert spec["values"] == [[None, 0.12], [None, 1.0]] and not spec["empty"] and "cells" not in spec
    assert spec["value"] == {"title": "v", "min": -1.0, "max": 1.0, "mid": 0.0, "percent": False}
    assert charts.table(spec)["rows"] == [["a", None, 0.12], ["b", None, 1.0]]
    big = charts.heatmap([str(i) for i in range(100)], [str(i) for i in range(100)], [], title="t",
                         row_title="r", column_title="c", value_title="v", compact=True)  # fmt: skip
    assert big["empty"] and big["height"] == 110 + 8 * 100  # rows shrink to COMPACT_CELL's least


def test_hostile_usernames_are_escaped_in_html_and_plain_text_in_the_spec(project, users):
    synthetic_report(project, 14, names={3: EVIL, 5: "</script><img src=x onerror=alert(2)>"})
    html = lead_client(users).get(reverse("annotation:agreement", args=[project.pk])).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#x27;" in html  # the tables, escaped
    script = html.split('id="chart-pairwise-sft-spec"')[1].split("</script>")[0]
    assert "<" not in script.split(">", 1)[1]  # json_script: no markup inside the script element
    spec = chart_spec(html, "chart-pairwise-sft")
    assert EVIL in spec["x"]["labels"] and "</script><img src=x onerror=alert(2)>" in spec["y"]["labels"]
    table = html.split('id="pairs-sft"')[1].split("</table>")[0]
    assert "<img" not in table and "<script>" not in table


# The page at 60 annotators of one kind (the synthetic report above: four drift weeks and a confusion
# matrix each) stays under this many bytes: 91 KB with the heatmaps (pairwise, drift), 275 KB with the
# pairwise lists, drift table and confusion charts they replaced (the pairwise markup grew as
# annotators²). benchmarks/README.md, "The agreement page's size".
PAGE_BYTES_60 = 120_000


def markup_outside_scripts(html: str) -> int:
    return len(re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S))


def test_page_size_grows_with_annotators_not_their_square(project, users):
    web = lead_client(users)
    url = reverse("annotation:agreement", args=[project.pk])
    sizes = {}
    for n in (30, 60):
        AgreementReport.objects.filter(project=project).delete()
        cache.clear()
        synthetic_report(project, n)
        html = web.get(url).content.decode()
        sizes[n] = (len(html.encode()), markup_outside_scripts(html))
        spec = json.loads(
            html.split('id="chart-pairwise-sft-spec"')[1].split(">", 1)[1].split("</script>")[0]
        )
        assert len(spec["values"]) == n
    assert sizes[60][0] < PAGE_BYTES_60, sizes
    # markup (the chart specs aside) doubles at most when the annotators double; annotators² would be 4x
    assert sizes[60][1] < 2.1 * sizes[30][1], sizes
