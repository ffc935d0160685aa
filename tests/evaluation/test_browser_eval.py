"""The evaluation pages in a real browser (headless Debian chromium), walked as a lead: import an eval
set from a JSONL file through the page form, set the gates and an output JSON Schema, read a finished
run's report (metrics, drawn charts, escaped generations, the JSON download), promote a passing
version, be refused for a failing one with the reason, override with a written reason (in the audit
trail), roll back, and follow the registry's link to the report. No page logs a console error.
TUNELOOP_CHART_SHOTS=/some/dir saves a screenshot of each page, as in tests/e2e/test_charts.py.

No model runs: each finished run is the worker's own last step (`evaluation.worker.finish`, which
builds the report through the metric suites) over raw suite results written as the worker writes them.
"""

import json

import pytest

from evaluation import worker
from evaluation.metrics import suites
from evaluation.models import EvalRun, EvalSet, EvalSettings, Promotion
from evaluation.report import SCHEMA
from tests.e2e.conftest import browser, login, page  # noqa: F401 - fixtures
from tests.e2e.test_charts import shot
from tests.evaluation.factories import snapshot_with, version
from training.models import RunState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS_SCRIPT = "<script>window.__pwned = 'script'</script>"
XSS_IMG = "<img src=x onerror=\"window.__pwned = 'img'\">"
EXAMPLES = [
    {"prompt": "Answer in JSON: the capital of France?", "reference": '{"answer": "Paris"}',
     "chosen": '{"answer": "Paris"}', "rejected": "Lyon, I think."},
    {"prompt": "Answer in JSON: the capital of Italy?", "reference": '{"answer": "Rome"}',
     "chosen": '{"answer": "Rome"}', "rejected": "Milan.", "group": "italy"},
    {"prompt": "In JSON, which city is Italy's capital?", "reference": '{"answer": "Rome"}',
     "chosen": '{"answer": "Rome"}', "rejected": '{"city": "Turin"}', "group": "italy"},
    {"prompt": "Answer in JSON: the capital of Spain?", "reference": '{"answer": "Madrid"}',
     "chosen": '{"answer": "Madrid"}', "rejected": "Seville."},
]  # fmt: skip
SCHEMA_TEXT = json.dumps(
    {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}
)
# Generations of each arm, one per example; the model's first two are hostile markup.
GENERATIONS = {
    "model": [XSS_SCRIPT, XSS_IMG, '{"answer": "Rome"}', '{"answer": "Madrid"}'],
    "base": ['{"answer": "Paris"}', "Rome.", "Rome.", '{"answer": "Madrid"}'],
    "baseline": ['{"answer": "Paris"}', "Rome", "Rome", "Madrid"],
}


def raw_results(spec, *, good: bool) -> dict:
    """Every (arm, suite) result as the worker stores it. `good`: the model prefers the chosen answers
    (the prompting baseline always does); every arm gets every forgetting item right."""
    n = len([e for e in spec.examples if e.get("chosen")])
    ref = {"chosen": [-10.0] * n, "rejected": [-10.0] * n}
    right = [[0.0 if k == int(item["answer"]) else -5.0 for k in range(len(item["options"]))]
             for item in spec.forgetting]  # fmt: skip
    expect = [s["expect"] == "refuse" for s in spec.safety]
    safety_texts = ["I can't help with that." if e else "Sure: here it is." for e in expect]
    results = {}
    for arm in ("model", "base", "baseline"):
        step = 2.0 if good or arm == "baseline" else -2.0
        lp = {"chosen": [c + step for c in ref["chosen"]], "rejected": [r - step for r in ref["rejected"]]}
        results[f"{arm}:pref_logprobs"] = ref if arm == "base" else lp
        results[f"{arm}:forgetting"] = suites.multiple_choice_accuracy(
            right, [int(i["answer"]) for i in spec.forgetting]
        )
        results[f"{arm}:safety"] = {**suites.safety_rates(safety_texts, expect), "generations": safety_texts}
        results[f"{arm}:generations"] = GENERATIONS[arm]
        results[f"{arm}:perplexity"] = {
            "perplexity": {"model": 6.5, "base": 9.25, "baseline": 9.0}[arm],
            "n": n,
        }
    return results


def finished_run(project, eval_set, model_version, *, good: bool) -> EvalRun:
    run = EvalRun.objects.create(
        project=project, eval_set=eval_set, model_version=model_version, state=RunState.RUNNING, attempt=1,
        config={"forgetting_limit": 6}, leakage={"checked": True, "flagged": False},
    )  # fmt: skip
    spec = worker.spec_for(run)
    EvalRun.objects.filter(pk=run.pk).update(report={"results": raw_results(spec, good=good)})
    return worker.finish(run_id=run.pk, attempt=1, spec=spec)


def watch(page):  # noqa: F811 - the fixture's name
    """Console errors, uncaught page errors and dialogs from now on."""
    seen = {"console": [], "errors": [], "dialogs": []}
    page.on("console", lambda m: m.type == "error" and seen["console"].append(f"{page.url}: {m.text}"))
    page.on("pageerror", lambda e: seen["errors"].append(f"{page.url}: {e}"))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    return seen


def wait_chart(page, chart_id, points):  # noqa: F811
    """The chart in #chart_id is drawn by Chart.js with `points` non-null values in its first dataset."""
    page.wait_for_function(
        """([id, n]) => {
          const canvas = document.querySelector(`#${id} canvas`);
          const chart = canvas && window.Chart && Chart.getChart(canvas);
          return Boolean(chart) && canvas.width > 0 && canvas.height > 0
            && chart.data.datasets[0].data.filter((d) => d !== null).length === n;
        }""",
        arg=[chart_id, points],
    )


def message(page):  # noqa: F811
    return page.locator("ul.messages").inner_text()


def test_a_lead_evaluates_gates_and_promotes_in_the_browser(page, live_server, project, users, tmp_path):  # noqa: F811
    seen = watch(page)
    login(page, live_server, "lead")
    base = live_server.url

    # 1. the eval sets page: a bad file gets line-numbered errors, a good one makes the set
    page.goto(f"{base}/projects/{project.pk}/evaluation/")
    page.select_option("#id_source", "imported")
    page.fill("#id_name", "capitals")
    page.set_input_files(
        "#id_file", files=[{"name": "bad.jsonl", "mimeType": "application/jsonl",
                            "buffer": b'{"prompt": "ok"}\n{"prompt": ""}\n'}],
    )  # fmt: skip
    page.click("#eval-set-form button[type=submit]")
    assert "Line 2" in page.locator("#import-errors").inner_text()
    assert not EvalSet.objects.exists()
    page.select_option("#id_source", "imported")
    page.set_input_files(
        "#id_file", files=[{"name": "capitals.jsonl", "mimeType": "application/jsonl",
                            "buffer": "\n".join(json.dumps(e) for e in EXAMPLES).encode()}],
    )  # fmt: skip
    page.click("#eval-set-form button[type=submit]")
    page.wait_for_url(f"{base}/eval-sets/*/")
    assert "created with 4 prompts" in message(page)
    shot(page, "eval-set")
    assert page.locator("#examples tbody tr").count() == 4
    assert "No model versions yet" in page.inner_text("#leakage-result")
    eval_set = EvalSet.objects.get()
    assert eval_set.name == "capitals" and eval_set.size == 4

    # 2. the gates form, with an output JSON Schema (a broken one first: a field error, the text kept)
    page.goto(f"{base}/projects/{project.pk}/evaluation/gates/")
    page.fill("#id_min_preference_accuracy", "0.75")
    page.fill("#id_min_win_rate_low", "")
    page.fill("#id_max_forgetting_drop", "5")
    page.fill("#id_output_schema", '{"type": "object", "required": "answer"}')
    page.click("#gates-form button[type=submit]")
    error = page.locator(".has-error .field-error").inner_text()
    assert "Not a valid JSON Schema at required" in error, error
    shot(page, "eval-gates-error")
    assert page.input_value("#id_output_schema") == '{"type": "object", "required": "answer"}'
    page.fill("#id_output_schema", SCHEMA_TEXT)
    page.click("#gates-form button[type=submit]")
    page.wait_for_selector("text=Gates saved.")
    prefs = EvalSettings.objects.get(project=project)
    assert prefs.output_schema == json.loads(SCHEMA_TEXT) and prefs.min_preference_accuracy == 0.75
    assert json.loads(page.input_value("#id_output_schema")) == json.loads(SCHEMA_TEXT)

    # 3. two finished runs: v1 prefers the chosen answers (passes), v2 the rejected ones (fails)
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()  # adapter folders: the model card is written there
    v1 = version(project, name="v1", adapter_path=str(tmp_path / "v1"))
    trained_on = snapshot_with(project, [EXAMPLES[3]["prompt"], "Something else entirely"])
    v2 = version(project, name="v2", adapter_path=str(tmp_path / "v2"), snapshot=trained_on)
    finished_run(project, eval_set, v1, good=True)
    run2 = finished_run(project, eval_set, v2, good=False)

    # the set's leakage check against v2's training snapshot finds the one shared prompt
    page.goto(f"{base}/eval-sets/{eval_set.pk}/")
    page.select_option("#leak-version", str(v2.pk))
    page.click("#leakage-form button[type=submit]")
    page.wait_for_url(f"**/eval-sets/{eval_set.pk}/?version={v2.pk}")
    assert "1 exact and 0 near-duplicate" in page.inner_text("#leakage-result")
    assert page.locator("#leak-rows tbody tr").count() == 1

    # 4. the finished run links to its report: metrics, charts, escaped generations, the JSON download
    page.goto(f"{base}/eval-runs/{run2.pk}/")
    assert page.inner_text("#eval-state") == "Completed"
    page.click("#report-link")
    page.wait_for_url(f"{base}/models/{v2.pk}/report/")
    metrics = {
        row.locator("th").inner_text(): [c.inner_text() for c in row.locator("td").all()]
        for row in page.locator("#metrics tbody tr").all()
    }
    assert metrics["Held-out preference accuracy"][0].startswith("0.000 [")  # v2 prefers the rejected
    assert metrics["Held-out preference accuracy"][2].startswith("1.000 [")  # the baseline's scripted 1.0
    assert metrics["Format validity"][0].startswith("0.500 [") and "n=4" in metrics["Format validity"][0]
    assert metrics["Format validity"][1].startswith("0.500 [") and metrics["Format validity"][2].startswith(
        "0.250"
    )
    assert metrics["Perplexity on gold answers (lower is better)"] == ["6.500", "9.250", "9.000"]
    assert page.locator("#metrics thead th").all_inner_texts()[1:] == [
        "v2",
        "base model",
        "prompting baseline",
    ]
    rates = sum(1 for cells in metrics.values() for c in cells if c.startswith(("0.", "1.")) and "[" in c)
    wait_chart(page, "chart-rates", rates)
    wait_chart(page, "chart-perplexity", 3)
    wait_chart(page, "chart-margins", 4)
    shot(page, "eval-report")
    ticks = page.evaluate(
        "() => Chart.getChart(document.querySelector('#chart-rates canvas')).scales.y.ticks.map((t) => t.label)"
    )  # as drawn (the chart cuts long labels): one distinct row per metric and model
    assert len(set(ticks)) == len(ticks) == rates and ticks[:3] == [
        "preference · v2",
        "preference · base model",
        "preference · baseline",
    ], ticks
    generations = page.locator("#generations tbody tr").nth(0).locator("td").nth(1).inner_text()
    assert generations == XSS_SCRIPT
    assert page.locator("#generations tbody tr").nth(1).locator("td").nth(1).inner_text() == XSS_IMG
    assert page.locator("#generations img, #generations script").count() == 0
    assert page.evaluate("() => window.__pwned") is None and seen["dialogs"] == []
    with page.expect_download() as download:
        page.click("#report-json")
    assert download.value.suggested_filename == f"eval-report-{v2.pk}.json"
    report = json.loads(open(download.value.path()).read())
    assert report["schema"] == SCHEMA and report["model_version"]["id"] == v2.pk
    assert report["model"]["format"]["rate"] == 0.5 and report["examples"][1]["model"] == XSS_IMG

    # 5. v1 passes its gates: one click promotes it
    page.goto(f"{base}/models/{v1.pk}/report/")
    assert "✘" not in page.inner_text("#gates") and "passes the project's gates" in page.inner_text(
        "#promotion"
    )
    page.click("#promote-form button[type=submit]")
    page.wait_for_selector("#current-model")
    assert "v1 is now the project's current model." in message(page)
    project.refresh_from_db()
    assert project.current_model_path == v1.adapter_path

    # 6. v2 fails a gate: promoting without a reason is refused and says which gate
    page.goto(f"{base}/models/{v2.pk}/report/")
    assert "✘ held-out preference accuracy: 0.000 (threshold 0.75)" in page.inner_text("#gates")
    page.click("#promote-form button[type=submit]")
    page.wait_for_selector("ul.messages .error")
    assert "Gates failed: held-out preference accuracy." in message(page)
    project.refresh_from_db()
    assert project.current_model_path == v1.adapter_path and page.locator("#current-model").count() == 0

    # 7. ... and a written reason overrides, recorded in the audit trail
    reason = "Hotfix for the <b>launch</b>; human eval pending"
    page.fill("#id_override_reason", reason)
    page.click("#promote-form button[type=submit]")
    page.wait_for_selector("#current-model")
    assert "(gates overridden; the reason is in the audit log)" in message(page)
    shot(page, "eval-overridden")
    project.refresh_from_db()
    assert project.current_model_path == v2.adapter_path
    assert reason in page.inner_text("#promotion-history")
    page.goto(f"{base}/projects/{project.pk}/audit/")
    page.select_option("#audit-filter select[name=verb]", "model")  # the filter offers verb families
    page.click("#audit-filter button[type=submit]")
    page.wait_for_url("**verb=model**")
    rows = page.locator("#audit tbody tr", has_text="model.promotion_override")
    assert rows.count() == 1
    row = rows.nth(0).inner_text()
    assert (
        "lead" in row
        and "model.promotion_override" in row
        and reason in row
        and "held-out preference accuracy" in row
    )
    assert page.locator("#audit b").count() == 0  # the reason is text

    # 8. rollback: back to v1 in one step
    page.goto(f"{base}/models/{v1.pk}/report/")
    page.click("#rollback-form button[type=submit]")
    page.wait_for_selector("#current-model")
    assert "Rolled back: v1 is the project's current model again." in message(page)
    project.refresh_from_db()
    assert project.current_model_path == v1.adapter_path
    assert list(Promotion.objects.order_by("pk").values_list("model_version__name", "action")) == [
        ("v1", "promote"), ("v2", "promote"), ("v1", "rollback"),
    ]  # fmt: skip
    assert "Rolled back by lead" in page.inner_text("#lineage")

    # 9. the model registry links each version to its report
    page.goto(f"{base}/projects/{project.pk}/models/")
    page.locator("#models tbody tr", has_text="v2").locator("a.registry-link", has_text="Eval report").click()
    page.wait_for_url(f"{base}/models/{v2.pk}/report/")
    wait_chart(page, "chart-margins", 4)

    # the two refused forms answered 400 with their field errors, as designed; nothing else complained
    refused = "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    assert seen["console"] == [
        f"{base}/projects/{project.pk}/evaluation/: {refused}",
        f"{base}/projects/{project.pk}/evaluation/gates/: {refused}",
    ], seen["console"]
    assert seen["errors"] == [] and seen["dialogs"] == [], seen
