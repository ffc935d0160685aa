"""The pages under the Content-Security-Policy in a real browser: a lead opens the main pages (review,
compare, dashboard, agreement, leaderboard, pairs (a bulk approval with its busy indicator), the Items page
with its filters, a training run, an evaluation report, the rubric
builder, the API docs), the charts draw, htmx swaps work, and the browser reports no violation (the
`securitypolicyviolation` events of every page, and console errors naming the policy). A planted
inline style proves the listener hears violations."""

import re

import pytest

from annotation.quality.reports import recompute_agreement
from preferences.models import PairStatus
from preferences.services import recompute_consensus
from tests.annotation.test_agreement_reports import planted  # noqa: F401 - fixture
from tests.conftest import make_items
from tests.e2e.conftest import login
from tests.e2e.test_charts import dpo_run, wait_drawn  # noqa: F401 - fixture
from tests.e2e.test_feedback import BUSY, Held
from tests.evaluation.factories import version
from tests.evaluation.test_pages import report_for
from tests.preferences.factories import judge, make_cmp_project, make_comparisons
from tests.training.factories import make_pairs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push({page: location.pathname, directive: e.violatedDirective, blocked: e.blockedURI,
                     source: e.sourceFile, line: e.lineNumber, sample: e.sample});
});
"""


@pytest.fixture
def violations(page):
    """Every CSP violation the browser reports, on any page of this test, plus console errors about it.
    (Waits here pass functions, never expression strings: Playwright evaluates a string with eval,
    which the policy refuses.)"""
    seen = []
    page.add_init_script(LISTEN)
    page.on(
        "console",
        lambda m: (
            m.type == "error" and "Content Security Policy" in m.text and seen.append({"console": m.text})
        ),
    )
    page.on("pageerror", lambda exc: seen.append({"pageerror": str(exc)}))
    return seen


def collect(page, seen):
    """The current page's violations (its events are gone once the browser leaves it)."""
    seen.extend(page.evaluate("() => window.__csp || []"))


def visit(page, url, seen):
    collect(page, seen)
    response = page.goto(url)
    assert response.ok, (url, response.status)
    assert "script-src 'self'" in response.headers["content-security-policy"]


def test_main_pages_work_under_the_policy(page, live_server, users, planted, dpo_run, violations):  # noqa: F811
    base = live_server.url
    project, _ = planted  # the same project as dpo_run's
    recompute_agreement(project=project, actor=users["lead"])
    make_items(project, users["lead"], 2, start=100)  # something left for the lead to review
    prefs = make_cmp_project(users)
    make_comparisons(prefs, users["lead"], 3, models=("model-a", "model-b"))
    for _ in range(3):
        judge(prefs, users["annotator"], prefer="model-a")
        judge(prefs, users["annotator2"], prefer="model-b")
    recompute_consensus(project=prefs, actor=users["lead"])
    make_comparisons(prefs, users["admin"], 1, prefix="Triple", models=("m1", "m2", "m3"))
    bulk_pair = make_pairs(prefs, users["lead"], ["Bulk under the policy?"], status=PairStatus.CANDIDATE)[0]
    model = version(project)
    report_for(model)

    login(page, live_server, "lead")

    # review: an htmx submit swaps in the next task
    visit(page, f"{base}/projects/{project.pk}/review/", violations)
    page.click("#annotate-myself")  # a lead's first view is a preview (no lease): annotate instead
    page.wait_for_selector("#task-form:not([inert])")
    first = page.locator("#progress").inner_text()
    page.locator("body").focus()
    for key in ["a", "4", "y"]:
        page.keyboard.press(key)
    page.keyboard.press("Control+Enter")
    page.wait_for_function("(t) => document.querySelector('#progress').innerText !== t", arg=first)
    assert page.locator(".notice").inner_text().startswith("Saved item")

    # compare: the ranking of three responses (its height from --slots, set by compare.js)
    visit(page, f"{base}/projects/{prefs.pk}/compare/", violations)
    page.click("#annotate-myself")
    page.wait_for_selector("#compare-form:not([inert])")
    page.wait_for_selector(".response-card")
    assert page.locator(".response-card").count() == 3  # the triple: the annotators took the pairs
    page.wait_for_function(
        "() => { const z = document.querySelector('.rank-zones');"
        " return !z.hidden && getComputedStyle(z).getPropertyValue('--slots').trim() === '3'; }"
    )

    visit(page, f"{base}/projects/{project.pk}/dashboard/", violations)
    wait_drawn(page, "chart-throughput", 24)
    # the chart's box has the spec's height (set by charts.js: no inline style in the template)
    assert page.evaluate(
        "() => document.querySelector('#chart-throughput .chart-box').style.height"
    ).endswith("px")

    visit(page, f"{base}/projects/{project.pk}/agreement/", violations)
    wait_drawn(page, "chart-annotators-sft", 3)
    page.wait_for_function("() => Chart.getChart(document.querySelector('#chart-criteria canvas'))")
    # the pairwise table's shading comes from classes now
    assert page.locator("td.heat").count() > 0
    page.locator("button", has_text="Recompute").click()  # an htmx swap of the panel
    page.wait_for_selector("text=Agreement recomputed.")
    wait_drawn(page, "chart-annotators-sft", 3)

    visit(page, f"{base}/projects/{prefs.pk}/leaderboard/", violations)
    wait_drawn(page, "chart-strength", 2)
    visit(page, f"{base}/projects/{prefs.pk}/pairs/", violations)
    page.wait_for_selector("#id_recompute_min_confidence.input-narrow")
    # the bulk bar: select a pair, approve it (htmx); the button shows 'Working…' while the POST is held
    page.wait_for_function("() => Boolean(document.querySelector('#pairs-bulk')['htmx-internal-data'])")
    page.locator(f"#select-{bulk_pair.pk}").click()
    page.wait_for_function("() => document.querySelector('#selected-count').innerText === '1 selected'")
    held = Held(page, re.compile(r"/pairs/bulk/"))
    page.click("#bulk-approve")
    page.wait_for_function(BUSY, arg="#bulk-approve")
    held.release()
    page.wait_for_function("() => (document.querySelector('.notice') || {}).innerText === '1 pair approved.'")
    page.unroute(re.compile(r"/pairs/bulk/"))

    # the Items page with every filter in the address, then a search swapped in place
    visit(page, f"{base}/projects/{project.pk}/items/?q=Question&gold=no&disputed=no&active_learning=no&size=25",
          violations)  # fmt: skip
    page.wait_for_function("() => document.querySelector('#item-count') !== null")
    page.fill("#item-search", "Answer")
    page.click("#item-filters button[type=submit]")
    page.wait_for_function("() => location.search.includes('q=Answer')")
    page.wait_for_function("() => document.querySelectorAll('#items tbody tr').length > 0")

    visit(page, f"{base}/runs/{dpo_run.pk}/", violations)
    wait_drawn(page, "chart-loss", 2)

    visit(page, f"{base}/models/{model.pk}/report/", violations)
    page.wait_for_function("() => Chart.getChart(document.querySelector('#chart-rates canvas'))")

    visit(page, f"{base}/projects/{project.pk}/rubric/", violations)
    page.wait_for_selector("#add-criterion:visible")  # the builder's script has run
    rows = page.locator("[data-criterion]").count()
    page.locator("#add-criterion").click()  # rubric_builder.js clones the template
    page.wait_for_function("(n) => document.querySelectorAll('[data-criterion]').length === n + 1", arg=rows)

    visit(page, f"{base}/api/docs/", violations)
    page.wait_for_function("() => document.querySelectorAll('#swagger-ui .opblock').length > 50")
    visit(page, f"{base}/api/redoc/", violations)
    page.wait_for_function("() => document.querySelectorAll('[data-section-id^=\"operation/\"]').length > 50")

    collect(page, violations)
    # ReDoc's "API docs by Redocly" footer asks its CDN for a logo (no option turns it off) and drops the
    # image when that fails: the policy now blocks the one outside request (tests/e2e/test_api_docs.py).
    redocly_logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert [v for v in violations if redocly_logo not in str(v)] == []

    # the listener does hear a violation: an inline style on one of our pages is refused and reported
    visit(page, f"{base}/projects/{project.pk}/dashboard/", violations)
    page.evaluate(
        "() => document.body.insertAdjacentHTML('beforeend', '<p id=planted style=\"color: red\">x</p>')"
    )
    page.wait_for_function("() => getComputedStyle(document.getElementById('planted')).color !== ''")
    assert (
        page.evaluate("() => getComputedStyle(document.getElementById('planted')).color") != "rgb(255, 0, 0)"
    )
    page.wait_for_function("() => window.__csp.some((v) => v.directive.startsWith('style-src'))")
