"""Every page passes axe-core (vendored in tests/e2e/vendor/) with no serious or critical violation,
visited in a real browser as the role that uses it, over a project with data on every page.

One project is seeded once for the module and served by the module's own live server (pytest-django's
`live_server` would flush the database after every test); each role logs in once, through the form.
The module flushes the database when it is done, as a transactional test would.
"""

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import browser, login  # noqa: F401 - fixture

# Not transactional: the data is the module's (committed before any test); what a page view writes
# (a lease, say) is kept on PostgreSQL and rolled back after the test on SQLite, either is fine.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Overrides tests/conftest.py's per-test cache.clear() in this module: the default cache is a table
    in the database, and on PostgreSQL that DELETE, inside the test's open transaction, locks the rows
    the live server's page views then update (the pairs page's counts): a page visited twice by the
    module hung until the test ended. The module's pages only read the seeded project."""


BLOCKING = {"serious", "critical"}

# (role, name, path with {placeholders} filled from the seeded ids)
PAGES = [
    (None, "login", "/login/"),
    (None, "invitation", "/invite/{invite}/"),
    ("annotator1", "project list", "/"),
    ("annotator1", "review", "/projects/{project}/review/"),
    ("annotator1", "compare", "/projects/{project}/compare/"),
    ("annotator1", "password change", "/account/password/"),
    ("lead", "dashboard", "/projects/{project}/dashboard/"),
    ("lead", "members", "/projects/{project}/members/"),
    ("lead", "rubric", "/projects/{project}/rubric/"),
    ("lead", "items", "/projects/{project}/items/"),
    ("lead", "import", "/projects/{project}/import/"),
    ("lead", "audit", "/projects/{project}/audit/"),
    ("lead", "settings", "/projects/{project}/settings/"),
    ("lead", "agreement", "/projects/{project}/agreement/"),
    ("lead", "disagreements", "/projects/{project}/disagreements/"),
    ("lead", "adjudicate", "/items/{disputed}/adjudicate/"),
    ("lead", "leaderboard", "/projects/{project}/leaderboard/"),
    ("lead", "pairs", "/projects/{project}/pairs/"),
    ("lead", "production explorer", "/projects/{project}/production/"),
    ("lead", "production sample", "/projects/{project}/production/{sample}/"),
    ("lead", "coverage", "/projects/{project}/coverage/"),
    ("lead", "snapshots", "/projects/{project}/snapshots/"),
    ("lead", "snapshot", "/snapshots/{snapshot}/"),
    ("lead", "snapshot diff", "/snapshots/{snapshot}/diff/?against={snapshot2}"),
    ("lead", "export", "/exports/{export}/"),
    ("lead", "runs", "/projects/{project}/runs/"),
    ("lead", "new run", "/projects/{project}/runs/new/"),
    ("lead", "run", "/runs/{run}/"),
    ("lead", "models", "/projects/{project}/models/"),
    ("lead", "evaluation", "/projects/{project}/evaluation/"),
    ("lead", "new eval run", "/projects/{project}/evaluation/runs/new/"),
    ("lead", "gates", "/projects/{project}/evaluation/gates/"),
    ("lead", "eval set", "/eval-sets/{eval_set}/"),
    ("lead", "eval run", "/eval-runs/{eval_run}/"),
    ("lead", "eval report", "/models/{version}/report/"),
    ("lead", "not found", "/projects/999999/dashboard/"),
]
STATUS = {"not found": 404}  # the rest answer 200

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 5), summary: v.nodes[0].failureSummary,
  }));
}"""


def seed(tmp: Path) -> dict:
    """A project with items, judgments (two disputed), comparisons and pairs, an agreement report,
    production samples, a snapshot, a finished training run with metrics, its model version, an eval
    set and a finished eval run with its report. Returns the ids the pages need."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from annotation.active_learning.models import ProductionSample
    from annotation.models import Invitation
    from annotation.people import tokens
    from annotation.projects import services as project_services
    from annotation.quality import tasks as quality_tasks
    from annotation.queue import services as queue_services
    from evaluation import sets
    from preferences import services as preference_services
    from tests.conftest import CRITERIA, GOOD_SCORES, make_items
    from tests.evaluation.factories import snapshot_with, version
    from tests.evaluation.test_browser_eval import EXAMPLES, finished_run
    from tests.preferences.factories import judge as judge_comparison
    from tests.preferences.factories import make_comparisons
    from training.models import ExportJob, RunMetric, RunState, TrainingRun

    make = get_user_model().objects.create_user
    admin, lead, ann1, ann2 = (make(n, password="pw") for n in ("admin1", "lead", "annotator1", "annotator2"))
    project = project_services.create_project(
        name="Demo", created_by=admin, overlap=2, guidelines="Be *kind*."
    )
    for user, role in ((lead, "lead"), (ann1, "annotator"), (ann2, "annotator")):
        project_services.set_membership(project=project, actor=admin, user=user, role=role)
    project_services.create_rubric_version(
        project=project, actor=lead, criteria=CRITERIA, instructions="Score it."
    )

    make_items(project, lead, 6)
    disputed = None
    for _ in range(2):  # accept vs edit: disputed
        for user, decision, text in ((ann1, "accept", ""), (ann2, "edit", "A <b>better</b> answer.")):
            a = queue_services.next_assignment(project=project, user=user)
            j = queue_services.submit_judgment(
                assignment=a, user=user, decision=decision, scores=GOOD_SCORES, edited_text=text, comment="ok"
            )
            disputed = disputed or j.item_id
    make_comparisons(project, lead, 3)
    for user in (ann1, ann2):
        judge_comparison(project, user, prefer="model-a")
    preference_services.recompute_consensus(project=project, actor=lead)
    quality_tasks.refresh_agreement_reports()

    for i in range(3):
        sample = ProductionSample.objects.create(
            project=project, messages=[{"role": "user", "content": f"Production question {i}?"}],
            prompt=f"Production question {i}?", output=f"Production answer {i}.", content_hash=str(i) * 64,
        )  # fmt: skip

    token, token_hash = tokens.new_token()
    Invitation.objects.create(
        project=project, role="annotator", username="newcomer", token_hash=token_hash, created_by=lead,
        expires_at=timezone.now() + timedelta(days=7),
    )  # fmt: skip
    snapshot = snapshot_with(project, ["Question 0?", "Question 1?"])
    snapshot2 = snapshot_with(project, ["Question 1?", "Question 2?"])
    export = ExportJob.objects.create(
        project=project, snapshot=snapshot, layout="trl-messages", format="jsonl", state=RunState.COMPLETED,
        rows_done=2, rows_total=2, created_by=lead,
    )  # fmt: skip
    run = TrainingRun.objects.create(
        project=project, snapshot=snapshot, method="sft", state=RunState.COMPLETED, step=4, max_steps=4,
        epoch=1.0, loss=1.25, created_by=lead,
    )  # fmt: skip
    RunMetric.objects.bulk_create(
        [RunMetric(run=run, step=s, name="loss", value=2.0 - 0.25 * s) for s in range(1, 5)]
    )
    (tmp / "v1").mkdir()
    model_version = version(project, snapshot=snapshot, adapter_path=str(tmp / "v1"))
    model_version.run = run
    model_version.save(update_fields=["run"])
    eval_set = sets.import_eval_set(
        project=project, actor=lead, text="\n".join(json.dumps(e) for e in EXAMPLES), name="capitals"
    )
    eval_run = finished_run(project, eval_set, model_version, good=True)
    return {
        "project": project.pk, "disputed": disputed, "invite": token, "snapshot2": snapshot2.pk, "export": export.pk, "sample": sample.pk, "snapshot": snapshot.pk, "run": run.pk,
        "version": model_version.pk, "eval_set": eval_set.pk, "eval_run": eval_run.pk,
    }  # fmt: skip


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, tmp_path_factory):
    """The seeded ids and a live server of the module's own; the database is flushed at the end."""
    from django.core.management import call_command
    from django.db import connections
    from pytest_django.live_server_helper import LiveServer

    with django_db_blocker.unblock():
        ids = seed(tmp_path_factory.mktemp("axe"))
        server = LiveServer("localhost")
        server._live_server_modified_settings.enable()
        try:
            yield server.url, ids
        finally:
            server._live_server_modified_settings.disable()
            server.stop()
            call_command("flush", interactive=False, verbosity=0)
            connections.close_all()  # this context's connection too, or dropping the test database fails


@pytest.fixture(scope="module")
def pages(browser, site, django_db_blocker):  # noqa: F811 - the fixture's name
    """One browser context per role, each logged in once, through the form, before any test (the
    session is committed, whatever a test's transaction does)."""

    class Server:
        url = site[0]

    opened = {}
    with django_db_blocker.unblock():
        for role in dict.fromkeys(p[0] for p in PAGES):
            # bypass_csp: axe is injected as an inline script
            context = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)
            context.set_default_timeout(30_000)
            opened[role] = context.new_page()
            if role is not None:
                login(opened[role], Server, role)
    yield opened
    for page in opened.values():
        page.context.close()


@pytest.mark.parametrize(("role", "name", "path"), PAGES, ids=[p[1] for p in PAGES])
def test_page_has_no_serious_accessibility_violation(site, pages, role, name, path):
    base, ids = site
    page = pages[role]
    response = page.goto(base + path.format(**ids))
    assert response.status == STATUS.get(name, 200), f"{name}: HTTP {response.status} at {page.url}"
    page.wait_for_load_state("load")
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(AXE_RUN)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"{name} ({page.url}) as {role or 'anonymous'}:\n" + "\n".join(
        f"  [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})\n    at {v['targets']}\n    {v['summary']}"
        for v in blocking
    )


FOCUS_RING = """() => {
  const el = document.activeElement, style = getComputedStyle(el);
  const ring = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  return {tag: el.tagName, text: (el.innerText || el.value || el.name || '').slice(0, 40),
          ring: ring || style.boxShadow !== 'none'};
}"""


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("lead", "/projects/{project}/settings/"),
        ("annotator1", "/projects/{project}/review/"),
        ("lead", "/projects/{project}/pairs/"),
        ("lead", "/projects/{project}/items/"),
    ],
)
def test_keyboard_focus_is_always_visible(site, pages, role, path):
    """Tab through the first controls of a page: every focused element draws a focus ring."""
    base, ids = site
    page = pages[role]
    page.goto(base + path.format(**ids))
    page.locator("body").focus()
    seen = []
    for _ in range(25):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUS_RING)
        if focused["tag"] == "BODY":
            break
        seen.append(focused)
    assert len(seen) >= 10, seen
    invisible = [f for f in seen if not f["ring"]]
    assert not invisible, f"focused without a visible ring: {invisible}"


def blocking_violations(page) -> list:
    page.add_script_tag(path=str(AXE))
    return [v for v in page.evaluate(AXE_RUN) if v["impact"] in BLOCKING]


def describe(blocking) -> str:
    return "\n".join(
        f"  [{v['impact']}] {v['id']}: {v['help']} at {v['targets']}\n    {v['summary']}" for v in blocking
    )


def test_pairs_page_with_a_selection_and_the_help_open(site, pages):
    """The bulk curation states: rows selected by keyboard (a cursor, checked boxes, the count) and the
    shortcuts help open; then the counts line after a bulk approve swapped the panel in."""
    base, ids = site
    page = pages["lead"]
    page.goto(base + "/projects/{project}/pairs/".format(**ids))
    page.wait_for_function("() => Boolean(document.querySelector('#pairs-bulk')['htmx-internal-data'])")
    page.locator("body").focus()
    for key in ("j", "x"):  # the seed's one pair
        page.keyboard.press(key)
    page.wait_for_function("() => document.querySelector('#selected-count').innerText === '1 selected'")
    page.keyboard.press("?")
    page.wait_for_function("() => !document.getElementById('pairs-help').hidden")
    assert not (blocking := blocking_violations(page)), "pairs, selected, help open:\n" + describe(blocking)
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.getElementById('pairs-help').hidden")
    page.reload()  # axe's script goes with the page; the state after a bulk action, freshly checked
    page.wait_for_function("() => Boolean(document.querySelector('#pairs-bulk')['htmx-internal-data'])")
    page.locator("#select-all").check()
    page.locator("#bulk-exclude").click()
    page.wait_for_function(
        "() => document.querySelector('.notice') && document.querySelectorAll('#pairs tr.status-excluded').length > 0"
    )
    assert not (blocking := blocking_violations(page)), "pairs, after a bulk exclude:\n" + describe(blocking)


def test_items_page_with_a_search_and_a_response_open(site, pages):
    base, ids = site
    page = pages["lead"]
    page.goto(base + "/projects/{project}/items/".format(**ids))
    page.locator("#item-search").fill("Question")
    page.locator("select[name=kind]").select_option("sft")
    page.locator("select[name=size]").select_option("25")
    page.locator("#item-search").press("Enter")
    page.wait_for_url("**q=Question**")
    page.locator("details.item-response summary").first.click()
    page.wait_for_function("() => document.querySelector('details.item-response[open]') !== null")
    assert not (blocking := blocking_violations(page)), "items, searched, a response open:\n" + describe(
        blocking
    )


def test_adjudication_panel_with_a_decision_chosen(site, pages):
    """Each decision shows its own fields (adjudicate.js): every one of those states passes."""
    base, ids = site
    page = pages["lead"]
    for decision in ("override", "edit_gold", "more", "discard"):
        page.goto(base + "/items/{disputed}/adjudicate/".format(**ids))
        page.locator(f"input[name=decision][value={decision}]").check()
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-decisions]')].some((el) => !el.hidden)"
            if decision != "discard"
            else "() => document.querySelector('input[name=decision][value=discard]').checked"
        )
        assert not (blocking := blocking_violations(page)), f"adjudicate, {decision}:\n" + describe(blocking)
