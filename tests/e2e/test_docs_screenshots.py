"""The user guide's screenshots (docs/img/*.png), taken in a real browser so they show the product as it is.

Each role's main screens are visited over the accessibility module's seeded project (items, judgments,
comparisons, an agreement report, a snapshot, a finished run with its loss curve, a model version with an
eval report) with a fixed viewport and a fixed clock (django.utils.timezone.now, which every timestamp the
app writes or shows comes from), so the images change when the UI does, not with the day they were taken.
Each test also checks that the screen shows what the guide says it shows. Run this module alone to
refresh the images (`make docs-screenshots`); tests/test_docs.py checks the guide's references.

The images are written to docs/img on the embedded SQLite database only: on PostgreSQL the ids (sequences
survive a flush) and the display order (the hot path shuffles in SQL) depend on what ran before, so there
the same screens are walked and checked, and the shots go to a temporary folder.
"""

import hashlib
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from tests.e2e.conftest import browser, login  # noqa: F401 - fixture
from tests.e2e.test_accessibility import seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
OUT = {"img": DOCS_IMG}  # where snap() writes: set by the `pages` fixture
VIEWPORT = {"width": 1280, "height": 800}
MAX_HEIGHT = 760
CLOCK = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)

CHARTS_DRAWN = """() => [...document.querySelectorAll('figure[data-chart]')].every((f) => {
  const canvas = f.querySelector('canvas');
  return Boolean(canvas && window.Chart && Chart.getChart(canvas));
})"""


ANSWERED = [  # approved by both annotators, then frozen in a real snapshot
    (
        "How do I reset my password?",
        "Open Settings, choose Security, then Reset password; a link arrives by e-mail.",
    ),
    ("Can I export my data as CSV?", "Yes: Reports, then Export, then CSV. Large exports arrive by e-mail."),
    (
        "Why was my card declined?",
        "Usually the bank refused it: check the expiry date and the billing address.",
    ),
    ("How do I add a teammate?", "Team, then Invite, then their e-mail; they join once they accept."),
    (
        "Where can I see old invoices?",
        "Billing, then Invoices: every invoice of the last seven years is there.",
    ),
    ("Is there a dark mode?", "Yes: Settings, then Appearance, then Dark."),
]

WAITING = [  # next in the annotators' queues (priority 5: before the seed's items)
    (
        "How do I change the e-mail address on my invoices?",
        "Go to **Billing → Details** and edit *Invoice e-mail*. Invoices already sent keep the old address.",
    ),
    ("Can two people share one seat?", "No. Each seat is for one person; add a seat under Team → Seats."),
]
COMPARED = [
    (
        "Write a one-line status update: the database migration finished early.",
        [
            "The database migration finished ahead of schedule; no action needed.",
            "FYI!!! migration = done (early lol)",
        ],
    ),
]


def polish(ids: dict) -> None:
    """Make the accessibility seed read like a real project in the guide: a real snapshot of approved
    answers (built by the real builder), and names and hashes instead of its stand-ins."""
    import json

    from django.contrib.auth import get_user_model

    from annotation.importing import services as import_services
    from annotation.importing.parse import parse_items
    from annotation.models import Project
    from annotation.queue import services as queue_services
    from tests.conftest import GOOD_SCORES
    from tests.training.factories import word_embedder
    from training import snapshots
    from training.models import DatasetSnapshot, ExportJob, ModelVersion

    project = Project.objects.get(pk=ids["project"])
    users = {u.username: u for u in get_user_model().objects.all()}
    lines = "\n".join(
        json.dumps({"prompt": p, "response": r, "model": "support-bot-v3", "priority": 10})
        for p, r in ANSWERED
    )
    lines += "\n" + "\n".join(
        json.dumps({"prompt": p, "response": r, "model": "support-bot-v3", "priority": 5}) for p, r in WAITING
    )
    parsed = parse_items(lines, fmt="jsonl")
    import_services.import_items(project=project, actor=users["lead"], records=parsed.records, source="docs")
    compared = "\n".join(
        json.dumps(
            {
                "prompt": p,
                "priority": 5,
                "responses": [{"text": t, "model": f"model-{m}"} for m, t in zip("ab", r, strict=True)],
            }
        )
        for p, r in COMPARED
    )
    parsed = parse_items(compared, kind="comparison")
    assert parsed.ok, parsed.errors
    import_services.import_items(project=project, actor=users["lead"], records=parsed.records, source="docs")
    for who in ("annotator1", "annotator2"):
        for _ in ANSWERED:  # the highest priority first: these items, not the seed's
            a = queue_services.next_assignment(project=project, user=users[who])
            queue_services.submit_judgment(
                assignment=a, user=users[who], decision="accept", scores=GOOD_SCORES
            )
    built = snapshots.build_snapshot(
        project=project, actor=users["lead"], kind="sft", name="Approved answers, week 10",
        filters={"val_fraction": 0.2, "seed": 1}, embedder=word_embedder,
    )  # fmt: skip
    ids["built"] = built.pk

    def digest(text):
        return hashlib.sha256(text.encode()).hexdigest()

    for pk, name in (
        (ids["snapshot"], "Approved answers, week 8"),
        (ids["snapshot2"], "Approved answers, week 9"),
    ):
        DatasetSnapshot.objects.filter(pk=pk).update(name=name, content_hash=digest(name), train_count=2)
    ModelVersion.objects.filter(pk=ids["version"]).update(
        base_model="smollm2-135m-instruct", adapter_sha256=digest("adapter")
    )
    ExportJob.objects.filter(pk=ids["export"]).update(file_size=3_412)


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, tmp_path_factory):
    """The seeded ids and a live server of the module's own, under a fixed clock; flushed at the end."""
    from django.core.management import call_command
    from django.db import connections
    from pytest_django.live_server_helper import LiveServer

    # page_cache stamps its figures with time.time() ("Figures as of ..." on the dashboard): that clock too
    page_clock = SimpleNamespace(time=CLOCK.timestamp, perf_counter=time.perf_counter)
    with (
        mock.patch("django.utils.timezone.now", return_value=CLOCK),
        mock.patch("annotation.core.page_cache.time", page_clock),
        # the order responses are shown in, random per assignment: the same every time here
        mock.patch("annotation.queue.services._shuffle", random.Random(7).shuffle),
        django_db_blocker.unblock(),
    ):
        ids = seed(tmp_path_factory.mktemp("docs"))
        polish(ids)
        server = LiveServer("localhost")
        server._live_server_modified_settings.enable()
        try:
            yield server.url, ids
        finally:
            server._live_server_modified_settings.disable()
            server.stop()
            call_command("flush", interactive=False, verbosity=0)
            connections.close_all()


@pytest.fixture(scope="module")
def img(tmp_path_factory):
    from django.db import connection

    return DOCS_IMG if connection.vendor == "sqlite" else tmp_path_factory.mktemp("docs-img")


@pytest.fixture(scope="module")
def pages(browser, site, img, django_db_blocker):  # noqa: F811 - the fixture's name
    OUT["img"] = img

    class Server:
        url = site[0]

    opened = {}
    with django_db_blocker.unblock():
        for role in ("annotator1", "lead"):
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            context.set_default_timeout(30_000)
            opened[role] = context.new_page()
            login(opened[role], Server, role)
    yield opened
    for page in opened.values():
        page.context.close()


def snap(page, name: str, selector: str = "main") -> Path:
    """The region `selector` (at most MAX_HEIGHT tall) as <img>/<name>.png, once charts are drawn."""
    page.wait_for_load_state("load")
    page.wait_for_function(CHARTS_DRAWN)
    page.evaluate("() => document.fonts.ready.then(() => true)")
    box = page.locator(selector).first.bounding_box()
    clip = {
        "x": max(box["x"], 0),
        "y": max(box["y"], 0),
        "width": min(box["width"], VIEWPORT["width"]),
        "height": min(box["height"], MAX_HEIGHT),
    }
    folder = OUT["img"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), clip=clip, full_page=True, animations="disabled", caret="hide")
    return path


def go(pages, site, role, path):
    base, ids = site
    page = pages[role]
    response = page.goto(base + path.format(**ids))
    assert response.status == 200, f"{path}: HTTP {response.status}"
    return page


def text(page, selector="main"):
    return page.locator(selector).first.inner_text()


# --- annotator ---------------------------------------------------------------------------------------


def test_annotator_screens(site, pages):
    page = go(pages, site, "annotator1", "/")
    assert "Demo" in text(page)
    snap(page, "annotator-projects")

    page = go(pages, site, "annotator1", "/projects/{project}/review/")
    assert page.locator("#progress").inner_text().startswith("8 done")
    page.locator("body").focus()
    for key in ("a", "4", "y"):
        page.keyboard.press(key)
    page.wait_for_function("() => document.querySelector('input[name=decision]:checked')?.value === 'accept'")
    assert "invoices" in text(page, "#task")
    snap(page, "annotator-review")

    page.keyboard.press("s")
    page.wait_for_function("() => !document.getElementById('skip-reasons').hidden")
    snap(page, "annotator-skip", "#skip-reasons >> xpath=..")
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.getElementById('skip-reasons').hidden")

    page.keyboard.press("?")
    page.wait_for_function("() => !document.getElementById('help').hidden")
    assert "Undo the last skip" in text(page, "#help")
    snap(page, "annotator-shortcuts", "#help")
    page.keyboard.press("?")

    page = go(pages, site, "annotator1", "/projects/{project}/compare/")
    page.wait_for_selector("#compare-form")
    assert "migration finished ahead of schedule" in text(page, "#responses")
    snap(page, "annotator-compare")

    page = go(pages, site, "annotator1", "/projects/{project}/me/")
    assert page.locator("#my-judgments").inner_text() == "9"
    snap(page, "annotator-my-work")


# --- lead --------------------------------------------------------------------------------------------


def test_lead_screens(site, pages):
    page = go(pages, site, "lead", "/projects/{project}/dashboard/")
    assert "annotator1" in text(page)
    snap(page, "lead-dashboard")

    page = go(pages, site, "lead", "/projects/{project}/rubric/")
    assert "helpfulness" in text(page)
    snap(page, "lead-rubric-builder")

    page = go(pages, site, "lead", "/projects/{project}/import/")
    snap(page, "lead-import")

    page = go(pages, site, "lead", "/projects/{project}/members/")
    assert "newcomer" in text(page)  # the pending invitation
    snap(page, "lead-members")

    page = go(pages, site, "lead", "/projects/{project}/agreement/")
    snap(page, "lead-agreement")

    page = go(pages, site, "lead", "/projects/{project}/disagreements/")
    snap(page, "lead-disagreements")

    page = go(pages, site, "lead", "/items/{disputed}/adjudicate/")
    assert "annotator2" in text(page)  # every judgment side by side, names shown to leads
    snap(page, "lead-adjudicate")

    page = go(pages, site, "lead", "/projects/{project}/pairs/")
    snap(page, "lead-pairs")
    # bulk curation by keyboard: the cursor's row selected (j x), the count, the shortcuts open
    page.wait_for_function("() => Boolean(document.querySelector('#pairs-bulk')['htmx-internal-data'])")
    page.locator("body").focus()
    for key in ("j", "x", "?"):
        page.keyboard.press(key)
    page.wait_for_function("() => !document.getElementById('pairs-help').hidden")
    assert page.locator("#selected-count").inner_text() == "1 selected"
    assert "Approve the selected pairs" in text(page, "#pairs-help")
    snap(page, "lead-pairs-bulk")
    page.keyboard.press("Escape")

    page = go(pages, site, "lead", "/projects/{project}/items/?q=invoice&kind=sft&size=25")
    page.locator("details.item-response summary").first.click()
    page.wait_for_function("() => document.querySelector('details.item-response[open]') !== null")
    assert "invoices" in text(page).lower()
    assert "Question 0?" not in text(page)  # the search left the seed's items out
    snap(page, "lead-items")

    page = go(pages, site, "lead", "/projects/{project}/audit/")
    assert "judgment" in text(page)
    snap(page, "lead-audit")


# --- ML engineer (a lead of the project: training and evaluation are lead actions) ---------------------


def test_ml_engineer_screens(site, pages):
    page = go(pages, site, "lead", "/projects/{project}/snapshots/")
    snap(page, "ml-snapshots")

    page = go(pages, site, "lead", "/snapshots/{built}/")
    assert "Content hash" in text(page)
    snap(page, "ml-snapshot")

    page = go(pages, site, "lead", "/runs/{run}/")
    snap(page, "ml-run")

    page = go(pages, site, "lead", "/projects/{project}/models/")
    snap(page, "ml-models")

    page = go(pages, site, "lead", "/projects/{project}/evaluation/")
    snap(page, "ml-evaluation")

    page = go(pages, site, "lead", "/projects/{project}/runs/new/")
    snap(page, "ml-new-run")

    page = go(pages, site, "lead", "/projects/{project}/evaluation/gates/")
    snap(page, "ml-gates")

    page = go(pages, site, "lead", "/models/{version}/report/")
    assert "Held-out preference accuracy" in text(page, "#metrics")
    snap(page, "ml-eval-report")
    snap(page, "ml-promotion", "#promotion")

    page = go(pages, site, "lead", "/exports/{export}/")
    snap(page, "ml-export")

    page = go(pages, site, "lead", "/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock")
    assert "/api/auth/token/" in text(page, "body")
    snap(page, "ml-api-docs", "body")
