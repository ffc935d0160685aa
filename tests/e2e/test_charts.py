"""Charts in a real browser: the vendored Chart.js draws every chart from its JSON spec, and a running
training run's curves update in place (same canvas, same chart) when the htmx poll brings new points.

Set TUNELOOP_CHART_SHOTS=/some/dir to also save a screenshot of each page (for looking at them)."""

import os
from pathlib import Path

import pytest

from annotation.projects import selectors as project_selectors
from annotation.quality.reports import recompute_agreement
from preferences.services import recompute_consensus
from tests.annotation.test_agreement_reports import planted  # noqa: F401 - fixture
from tests.e2e.conftest import login
from tests.preferences.factories import judge, make_cmp_project, make_comparisons
from tests.training.factories import sft_project_data, word_embedder
from training import snapshots
from training.models import RunMetric, RunState, TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DRAWN = """([id, n]) => {
  const canvas = document.querySelector(`#${id} canvas`);
  const chart = canvas && window.Chart && Chart.getChart(canvas);
  return Boolean(chart) && chart.data.datasets[0].data.filter((d) => d !== null).length === n;
}"""


def shot(page, name):
    folder = os.environ.get("TUNELOOP_CHART_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def wait_drawn(page, chart_id, n):
    page.wait_for_function(DRAWN, arg=[chart_id, n])


def first_series(page, chart_id):
    return page.evaluate(
        "(id) => Chart.getChart(document.querySelector(`#${id} canvas`)).data.datasets[0].data", chart_id
    )


@pytest.fixture
def dpo_run(project, users):
    sft_project_data(project, users, n=5)
    snapshot = snapshots.build_snapshot(
        project=project,
        actor=users["lead"],
        kind="sft",
        filters={"val_fraction": 0.2},
        embedder=word_embedder,
    )
    run = TrainingRun.objects.create(
        project=project, snapshot=snapshot, method="dpo", state=RunState.RUNNING, step=2, max_steps=4,
        loss=0.6, config={"beta": 0.1}, created_by=users["lead"],
    )  # fmt: skip
    for step, (loss, margin, acc) in enumerate([(0.69, 0.0, 0.5), (0.6, 0.2, 0.75)], start=1):
        RunMetric.objects.create(run=run, step=step, name="loss", value=loss)
        RunMetric.objects.create(run=run, step=step, name="rewards/margins", value=margin)
        RunMetric.objects.create(run=run, step=step, name="rewards/accuracies", value=acc)
    return run


def test_run_curves_draw_and_update_live_in_place(page, live_server, users, dpo_run):
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/runs/{dpo_run.pk}/")
    for chart_id in ("chart-loss", "chart-margins", "chart-accuracies"):
        wait_drawn(page, chart_id, 2)
    assert first_series(page, "chart-loss") == [{"x": 1, "y": 0.69}, {"x": 2, "y": 0.6}]
    # the chart spans the content width, not half of it
    widths = page.evaluate(
        "() => [document.querySelector('#chart-loss canvas').clientWidth, document.querySelector('main').clientWidth]"
    )
    assert widths[0] > 0.8 * widths[1], widths
    shot(page, "run")
    # mark this canvas and chart: after the poll they must be the same objects, with one more point
    chart_id = page.evaluate(
        "() => { const c = document.querySelector('#chart-loss canvas'); c.$mark = 'kept'; return Chart.getChart(c).id; }"
    )
    RunMetric.objects.create(run=dpo_run, step=3, name="loss", value=0.55)
    RunMetric.objects.create(run=dpo_run, step=3, name="rewards/margins", value=0.4)
    TrainingRun.objects.filter(pk=dpo_run.pk).update(step=3, loss=0.55)
    wait_drawn(page, "chart-loss", 3)  # the htmx poll (every 2 s) brought the new point
    wait_drawn(page, "chart-margins", 3)
    assert first_series(page, "chart-loss")[-1] == {"x": 3, "y": 0.55}
    assert page.evaluate(
        "() => { const c = document.querySelector('#chart-loss canvas'); return [c.$mark, Chart.getChart(c).id]; }"
    ) == ["kept", chart_id]
    assert "loss last 0.55 at step 3" in page.get_attribute("#chart-loss canvas", "aria-label")
    # other scripts can push data through the helper, too
    page.evaluate(
        """() => TuneloopCharts.update('chart-accuracies', {kind: 'line', title: 'acc', summary: 's', height: 280,
            x: {title: 'step', type: 'linear', min: null, max: null, zero: false},
            y: {title: 'share', type: 'linear', min: 0, max: 1, zero: false},
            series: [{label: 'acc', points: [[1, 0.5], [2, 0.7], [3, 0.8], [4, 0.9]], dashed: false}], empty: false})"""
    )
    wait_drawn(page, "chart-accuracies", 4)
    # once the run ends the poll stops, and the last answer still updated the charts
    RunMetric.objects.create(run=dpo_run, step=4, name="loss", value=0.5)
    TrainingRun.objects.filter(pk=dpo_run.pk).update(state=RunState.COMPLETED, step=4)
    wait_drawn(page, "chart-loss", 4)
    page.wait_for_function("() => !document.querySelector('#run-progress[hx-trigger]')")


def test_leaderboard_charts_draw_with_hostile_model_names(page, live_server, users):
    evil = "</script><img src=x onerror=alert(1)>"
    p = make_cmp_project(users)
    make_comparisons(p, users["lead"], 3, models=(evil, "model-b"))
    for _ in range(3):
        judge(p, users["annotator"], prefer=evil)
        judge(p, users["annotator2"], prefer="model-b")
    recompute_consensus(project=p, actor=users["lead"])
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/projects/{p.pk}/leaderboard/")
    wait_drawn(page, "chart-strength", 2)
    wait_drawn(page, "chart-win-matrix", 4)  # 2 x 2 cells, the diagonal blank
    cells = first_series(page, "chart-win-matrix")
    assert sorted(c["v"] for c in cells if c["v"] is not None) == [0.5, 0.5]  # split votes: 50% each way
    rows = page.evaluate(
        """() => { const y = Chart.getChart(document.querySelector('#chart-win-matrix canvas')).scales.y;
                   return [y.getLabels(), y.getPixelForValue(0), y.getPixelForValue(1)]; }"""
    )
    assert rows[0] == [evil, "model-b"] and rows[1] < rows[2], rows  # the first row on top, as in the table
    labels = page.evaluate(
        "() => Chart.getChart(document.querySelector('#chart-strength canvas')).data.labels"
    )
    assert evil in labels  # the name is drawn as text on the canvas
    assert page.evaluate(
        "() => Chart.getChart(document.querySelector('#chart-position-bias canvas')) !== undefined"
    )
    assert page.locator("img").count() == 0 and dialogs == []
    shot(page, "leaderboard")


def test_agreement_and_dashboard_charts_draw(page, live_server, users, planted):  # noqa: F811
    project, _ = planted
    report = recompute_agreement(project=project, actor=users["lead"])
    weeks = [r for r in report.data["weekly"] if r["kind"] == "sft"]
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    wait_drawn(page, "chart-weekly-sft", len([w for w in weeks if w["alpha"] is not None]))
    wait_drawn(page, "chart-annotators-sft", 3)
    page.wait_for_function("() => Chart.getChart(document.querySelector('#chart-criteria canvas'))")
    page.wait_for_function("() => Chart.getChart(document.querySelector('#chart-drift-sft canvas'))")
    assert page.evaluate(
        "() => Chart.getChart(document.querySelector('#chart-weekly-sft canvas')).scales.x.getLabels()"
    ) == [w["week"] for w in weeks]
    shot(page, "agreement")
    # htmx "Recompute" swaps the panel: the new charts are drawn too
    page.locator("button", has_text="Recompute").click()
    page.wait_for_selector("text=Agreement recomputed.")
    wait_drawn(page, "chart-annotators-sft", 3)
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    wait_drawn(page, "chart-throughput", 24)
    total = page.evaluate(
        "() => Chart.getChart(document.querySelector('#chart-throughput canvas')).data.datasets[0].data.reduce((a, b) => a + b, 0)"
    )
    assert total == sum(r["count"] for r in project_selectors.throughput_per_hour(project)) == 12
    shot(page, "dashboard")


def test_snapshot_length_histograms_draw(page, live_server, users, dpo_run):
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/snapshots/{dpo_run.snapshot_id}/")
    ids = page.eval_on_selector_all("figure[data-kind=histogram]", "els => els.map((e) => e.id)")
    assert ids and all(i.startswith("chart-length-") for i in ids)
    for chart_id in ids:
        page.wait_for_function(
            "(id) => { const c = Chart.getChart(document.querySelector(`#${id} canvas`));"
            " return c && c.data.datasets[0].data.reduce((a, b) => a + b, 0) === 5; }",
            arg=chart_id,
        )  # every one of the 5 rows lands in one bin
    shot(page, "snapshot")
