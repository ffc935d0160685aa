"""An annotator in a real browser: a submit faster than the project minimum brings the gentle note
with the next task, and the navigation's "My work" page draws their judgments per day."""

import pytest

from annotation.projects import services as project_services
from tests.conftest import make_items
from tests.e2e.conftest import login
from tests.e2e.test_charts import DRAWN, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def timed_project(users):
    p = project_services.create_project(
        name="Timed project", created_by=users["admin"], overlap=1, min_seconds_per_item=600
    )
    project_services.set_membership(
        project=p, actor=users["admin"], user=users["annotator"], role="annotator"
    )
    project_services.create_rubric_version(
        project=p,
        actor=users["admin"],
        criteria=[{"key": "helpfulness", "type": "likert", "instructions": "How much does it help?"}],
    )
    make_items(p, users["admin"], 3)
    return p


def test_rushed_note_and_my_work_page(page, live_server, users, timed_project):
    login(page, live_server, "annotator1")
    page.goto(f"{live_server.url}/projects/{timed_project.pk}/review/")
    assert page.locator("#progress").inner_text() == "0 done · 3 left"
    page.locator("body").focus()
    for key in ["a", "4"]:
        page.keyboard.press(key)
    page.keyboard.press("Control+Enter")  # well under the project's 600 s
    page.wait_for_function("() => document.querySelector('#progress').innerText === '1 done · 2 left'")
    shot(page, "rushed-note")
    note = page.locator("#rushed-note").inner_text()
    assert note.startswith("That one took ") and note.endswith(
        "the project asks for at least 600 s per item."
    )

    page.get_by_role("link", name="My work").click()
    page.wait_for_selector("h1:text('My work')")
    assert page.locator("#my-judgments").inner_text() == "1"
    assert page.locator("#my-rushed").inner_text() == "1"
    assert page.locator("#my-agreement").inner_text() == "–"  # approved from this judgment alone
    page.wait_for_function(DRAWN, arg=["chart-my-days", 1])
    shot(page, "my-work")
