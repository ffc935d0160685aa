"""People in a browser: a lead invites an annotator from the Members page, the invitee opens the link,
picks a name and password and lands logged in; a one-time password is changed before anything else."""

import pytest

from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def create_from_members_page(page, live_server, project, names, mode_label):
    page.goto(f"{live_server.url}/projects/{project.pk}/members/")
    page.get_by_label("Emails or usernames, one a line").fill(names)
    page.get_by_label(mode_label).check()
    page.get_by_role("button", name="Create").click()
    page.locator("#created").wait_for()  # swapped in by htmx
    return page.locator("#created tbody tr")


def test_invite_link_to_a_logged_in_annotator(browser, page, live_server, project, users):
    login(page, live_server, "lead")
    rows = create_from_members_page(page, live_server, project, "kim@example.org", "Invite links")
    link = rows.first.locator("a").get_attribute("href")
    assert link.startswith(f"{live_server.url}/invite/")
    assert page.locator("#invitations").inner_text().count("kim@example.org") == 1

    invitee = browser.new_context()
    other = invitee.new_page()
    other.goto(link)
    assert other.get_by_label("Username").input_value() == "kim@example.org"
    other.get_by_label("Username").fill("kim")
    other.get_by_label("Password", exact=True).fill("kim's own password")
    other.get_by_label("Password again").fill("kim's own password")
    other.get_by_role("button", name="Create my account").click()
    other.wait_for_url(f"{live_server.url}/")
    assert "kim" in other.locator("header").inner_text()
    assert other.get_by_role("rowheader").first.inner_text().startswith(project.name)
    assert "annotator" in other.locator("tbody tr").first.inner_text()
    other.goto(link)  # used once
    assert "already used" in other.locator("[role=alert]").inner_text()
    invitee.close()


def test_one_time_password_is_changed_first(browser, page, live_server, project, users):
    login(page, live_server, "lead")
    rows = create_from_members_page(page, live_server, project, "lee", "One-time passwords")
    password = rows.first.locator("td").nth(1).inner_text().strip()

    context = browser.new_context()
    annotator = context.new_page()
    annotator.goto(f"{live_server.url}/login/")
    annotator.get_by_label("Username").fill("lee")
    annotator.get_by_label("Password").fill(password)
    annotator.get_by_role("button", name="Log in").click()
    annotator.wait_for_url(f"{live_server.url}/account/password/?required=1")
    annotator.goto(f"{live_server.url}/projects/{project.pk}/review/")  # still sent back
    annotator.wait_for_url(f"{live_server.url}/account/password/?required=1")
    annotator.get_by_label("Old password").fill(password)
    annotator.get_by_label("New password", exact=True).fill("lee's own password")
    annotator.get_by_label("New password confirmation").fill("lee's own password")
    annotator.get_by_role("button", name="Change my password").click()
    annotator.wait_for_url(f"{live_server.url}/account/password/done/")
    annotator.goto(f"{live_server.url}/projects/{project.pk}/review/")
    annotator.get_by_role("navigation", name="Project").wait_for()
    assert annotator.url == f"{live_server.url}/projects/{project.pk}/review/"
    context.close()
