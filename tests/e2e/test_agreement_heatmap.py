"""The agreement page's pairwise heatmap in a real browser: drawn by static/js/charts.js from the compact
spec (the values as rows of numbers), one cell per pair, a hostile username drawn as canvas text and
never run as markup."""

import pytest

from annotation.quality.reports import recompute_agreement
from tests.annotation.test_agreement_pairwise import synthetic_report
from tests.annotation.test_agreement_reports import planted  # noqa: F401 - fixture
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVIL = "</script><img src=x onerror=alert(1)>"

CELLS = """(id) => {
  const canvas = document.querySelector(`#${id} canvas`);
  const chart = canvas && window.Chart && Chart.getChart(canvas);
  if (!chart) return null;
  const data = chart.data.datasets[0].data;
  return { cells: chart.getDatasetMeta(0).data.length, values: data.filter((d) => d.v !== null).length,
           rows: chart.scales.y.getLabels(), columns: chart.scales.x.getLabels() };
}"""


def drawn(page, chart_id, cells):
    page.wait_for_function(f"([id, n]) => {{ const r = ({CELLS})(id); return r !== null && r.cells === n; }}",
                           arg=[chart_id, cells])  # fmt: skip
    return page.evaluate(CELLS, chart_id)


def test_heatmap_of_twenty_annotators_with_a_hostile_name(page, live_server, users, project):
    synthetic_report(project, 20, names={7: EVIL})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    out = drawn(page, "chart-pairwise-sft", 20 * 20)
    assert out["values"] == 20 * 19  # the diagonal is blank
    assert EVIL in out["rows"] and out["rows"] == out["columns"]
    drift = drawn(page, "chart-drift-sft", 20 * 4)  # annotators x weeks, above FULL_TABLE_MAX
    assert drift["values"] == 80 and drift["columns"] == ["2025-W01", "2025-W02", "2025-W03", "2025-W04"]
    first = page.locator("#pairs-sft tbody tr").first
    assert first.locator("td").nth(2).inner_text() == str(min(r for r in _kappas(20)))
    assert page.locator("img").count() == 0 and dialogs == []


def _kappas(n):
    ids = range(1, n + 1)
    return [round(((a + b) % 7) / 7 - 0.3, 4) for a in ids for b in ids if a < b]


def test_heatmap_of_a_small_project_after_a_recompute(page, live_server, users, planted):  # noqa: F811
    project, _ = planted
    recompute_agreement(project=project, actor=users["lead"])
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    out = drawn(page, "chart-pairwise-sft", 9)
    assert out["values"] == 6 and len(out["rows"]) == 3
    assert page.locator("#pairs-sft tbody tr.pair-low").count() == 3
    # htmx "Recompute" swaps the panel: the heatmap of the new report is drawn too
    page.locator("button", has_text="Recompute").click()
    page.wait_for_selector("text=Agreement recomputed.")
    assert drawn(page, "chart-pairwise-sft", 9)["values"] == 6
