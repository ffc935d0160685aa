"""Issue 13 in a real browser: feedback on slow actions, banners that end with their state, and the
adjudication form that shows only the chosen decision's fields.

A slow request is made slow deterministically: Playwright holds it (route interception) until the
test has seen the indicator, then lets it through. Nothing waits for time."""

import json

import pytest

from annotation.models import ItemState
from tests.annotation.test_adjudication import disputed  # noqa: F401 - two disputed SFT items
from tests.e2e.conftest import login
from tests.training.factories import sft_project_data, word_embedder
from training import snapshots
from training import tasks as training_tasks
from training.models import RunState, TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BUSY = """(selector) => {
  const b = document.querySelector(selector);
  const note = b && b.nextElementSibling;
  return !!b && b.disabled && b.getAttribute('aria-busy') === 'true' && b.classList.contains('is-busy')
    && !!note && note.classList.contains('busy-indicator') && note.getAttribute('role') === 'status'
    && note.textContent === 'Working…';
}"""


class Held:
    """Hold the POSTs to a URL until released; other requests pass."""

    def __init__(self, page, pattern):
        self.routes = []
        page.route(pattern, self._handle)

    def _handle(self, route):
        if route.request.method == "POST":
            self.routes.append(route)
        else:
            route.continue_()

    def release(self):
        assert self.routes, "no request was held"
        for route in self.routes:
            route.continue_()
        self.routes = []


def test_an_htmx_action_shows_working_until_its_response_arrives(page, live_server, project, users):
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    page.wait_for_function("() => window.htmx !== undefined")
    held = Held(page, "**/agreement/")
    button = "#panel form[hx-post] button[type=submit]"
    page.click(button)
    page.wait_for_function(BUSY, arg=button)
    assert len(held.routes) == 1
    page.click(button, force=True)  # a second click while busy sends nothing
    assert len(held.routes) == 1
    held.release()
    page.wait_for_function(
        "() => !document.querySelector('.busy-indicator') && !document.querySelector('[aria-busy=true]')"
    )
    assert page.locator(button).is_enabled()


# While a page navigates, Playwright evaluates nothing in it; the page reports the busy state itself.
REPORT_BUSY = """new MutationObserver(() => {
  const b = document.querySelector('#gates-form button[type=submit]');
  if (b && !window.__busyReported && b.disabled && b.getAttribute('aria-busy') === 'true') {
    window.__busyReported = true;
    const note = b.nextElementSibling;
    console.log('tl-busy ' + JSON.stringify({indicator: note && note.classList.contains('busy-indicator')
      ? note.textContent : null}));
  }
}).observe(document, {subtree: true, attributes: true, childList: true});"""


def test_a_plain_form_shows_working_until_the_next_page(page, live_server, project, users):
    login(page, live_server, "lead")
    page.add_init_script(REPORT_BUSY)
    page.goto(f"{live_server.url}/projects/{project.pk}/evaluation/gates/")
    held = Held(page, "**/evaluation/gates/")
    button = "#gates-form button[type=submit]"
    with page.expect_console_message(lambda m: m.text.startswith("tl-busy ")) as report:
        with page.expect_request(lambda r: r.method == "POST"):
            page.click(button, no_wait_after=True)  # the navigation it starts is held
    assert json.loads(report.value.text.split(" ", 1)[1]) == {"indicator": "Working…"}
    for _ in range(1000):  # each round trip to the browser delivers pending events, the held route's too
        if held.routes:
            break
        page.context.cookies()
    assert len(held.routes) == 1  # held: the page above showed "Working…" before any response
    assert "csrfmiddlewaretoken=" in held.routes[0].request.post_data  # read before the button was disabled
    held.release()
    page.wait_for_function(
        "() => !!document.querySelector('.messages') && !document.querySelector('.busy-indicator')"
    )
    assert page.locator(button).is_enabled()


def test_the_run_page_has_no_queued_banner_its_badge_follows_the_run(
    page, live_server, project, users, monkeypatch
):
    """Issue 13: "Run #1 queued." stayed after the run completed."""
    monkeypatch.setattr(training_tasks, "queue_training_run", lambda run: run.celery_task_id)  # no worker
    sft_project_data(project, users, n=4)
    snapshot = snapshots.build_snapshot(
        project=project, actor=users["lead"], kind="sft", filters={"val_fraction": 0}, embedder=word_embedder
    )
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/runs/new/?snapshot={snapshot.pk}")
    page.click("#run-form button[type=submit]")
    page.wait_for_selector("#run-state")
    run = TrainingRun.objects.get()
    assert page.locator("#run-state").inner_text() == "Queued"
    assert page.locator(".messages").count() == 0
    TrainingRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING, step=1, max_steps=2)
    page.wait_for_function("() => document.querySelector('#run-state').innerText === 'Running'")
    TrainingRun.objects.filter(pk=run.pk).update(state=RunState.COMPLETED, step=2)
    page.wait_for_function("() => document.querySelector('#run-state').innerText === 'Completed'")
    assert "queued" not in page.locator("main").inner_text().lower()


def visible(page, selector):
    return page.locator(selector).is_visible()


def test_adjudication_shows_only_the_chosen_decisions_fields(page, live_server, users, disputed):  # noqa: F811
    first, _ = disputed
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/items/{first.pk}/adjudicate/")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'adj-heading'")
    # nothing chosen yet: no answer fields
    assert not visible(page, "#final-box") and not visible(page, "#final_decision")
    page.keyboard.press("2")  # pick a judgment: still none
    assert page.locator("input[name=decision][value=pick]").is_checked()
    assert not visible(page, "#final-box") and not visible(page, "#final_text")
    page.keyboard.press("o")  # override: the decision and the text
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'final_decision'")
    assert visible(page, "#final_decision") and visible(page, "#final_text") and not visible(page, "#more")
    page.keyboard.press("Escape")
    page.check("input[name=decision][value=edit_gold]")  # the mouse too; SFT edit gold: the text only
    assert (
        visible(page, "#final_text") and not visible(page, "#final_decision") and not visible(page, "#more")
    )
    page.check("input[name=decision][value=more]")
    assert visible(page, "#more") and not visible(page, "#final_text")
    page.check("input[name=decision][value=discard]")
    assert not visible(page, "#final-box")
    page.check("input[name=decision][value=override]")
    page.select_option("#final_decision", "reject")
    page.fill("#reason", "Neither is right.")
    page.click("#adjudicate-form button[type=submit]")
    page.wait_for_function("() => !document.querySelector('#adj-heading') || "
                           f"document.querySelector('#adj-heading').innerText !== 'Adjudicate item #{first.pk}'")  # fmt: skip
    first.refresh_from_db()
    assert first.state == ItemState.APPROVED and first.resolution["decision"] == "reject"
