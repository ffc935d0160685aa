"""The lead's navigation in a browser: five groups, operated with the keyboard, and usable without
JavaScript (each group is a <details> dropdown)."""

import pytest
from django.conf import settings
from django.test import Client

from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GROUPS = ["Annotate", "Quality", "Data", "Training", "Settings"]


def test_lead_navigates_the_groups_with_the_keyboard(page, live_server, project, users):
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    nav = page.get_by_role("navigation", name="Project")
    assert nav.locator("summary").all_inner_texts() == GROUPS
    assert nav.locator("details.current summary").inner_text() == "Quality"
    members = nav.get_by_role("link", name="Members")
    assert not members.is_visible()  # closed groups hide their links

    nav.locator("summary", has_text="Training").focus()
    page.keyboard.press("Enter")
    nav.get_by_role("link", name="Snapshots").wait_for(state="visible")
    page.keyboard.press("Escape")  # closes and gives the focus back to the group's summary
    page.wait_for_function("() => !document.querySelector('details.nav-group[open]')")
    assert page.evaluate("document.activeElement.textContent") == "Training"

    page.keyboard.press("Tab")  # on to Settings
    page.keyboard.press("Enter")
    members.wait_for(state="visible")
    page.keyboard.press("Tab")  # "Project settings"
    page.keyboard.press("Tab")  # "Members"
    assert page.evaluate("document.activeElement.textContent") == "Members"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/members/")
    assert nav.locator("details.current summary").inner_text() == "Settings"
    assert nav.locator("a[aria-current=page]").text_content() == "Members"  # in the closed group

    # One group open at a time.
    nav.locator("summary", has_text="Data").click()
    nav.locator("summary", has_text="Quality").click()
    page.wait_for_function("() => document.querySelectorAll('details.nav-group[open]').length === 1")
    assert nav.locator("details[open] summary").inner_text() == "Quality"


def test_groups_open_without_javascript(browser, live_server, project, users):
    client = Client()
    client.force_login(users["lead"])
    context = browser.new_context(java_script_enabled=False)
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
          "url": live_server.url}]
    )  # fmt: skip
    page = context.new_page()
    page.goto(f"{live_server.url}/projects/{project.pk}/members/")
    nav = page.get_by_role("navigation", name="Project")
    nav.locator("summary", has_text="Training").click()
    nav.get_by_role("link", name="Evaluation").click()
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/evaluation/")
    context.close()


def test_annotators_see_their_two_pages_only(page, live_server, project, users):
    login(page, live_server, "annotator1")
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    nav = page.get_by_role("navigation", name="Project")
    assert nav.get_by_role("link").all_inner_texts() == ["Review", "Compare"]
    assert nav.locator("summary").count() == 0
