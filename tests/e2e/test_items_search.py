"""A lead searches and filters the Items page in a real browser: the filter form swaps the results
(htmx), the page size and filters survive paging, each row's responses open in a <details>, and a
script in a model's response is shown as text, never run."""

import pytest

from tests.annotation.test_item_list import world  # noqa: F401 - five items, each filter's case
from tests.conftest import make_items
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = "() => document.querySelectorAll('#items tbody tr').length"


def count_is(page, text):
    page.wait_for_function(
        "(text) => { const c = document.querySelector('#item-count'); return c && c.innerText === text; }",
        arg=text,
    )


def test_lead_searches_filters_and_pages_the_items(page, live_server, project, users, world):  # noqa: F811
    make_items(project, users["lead"], 30)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/items/")
    count_is(page, "35 items match.")
    assert page.evaluate(ROWS) == 35  # 50 a page by default

    # search + page size: the results are swapped in place, the address keeps the query
    page.fill("#item-search", "ANSWER")
    page.select_option("select[name=size]", "25")
    page.click("#item-filters button[type=submit]")
    count_is(page, "31 items match.")  # the 30 answers and "Plain answer."
    page.wait_for_function(f"() => ({ROWS})() === 25")
    page.wait_for_function(
        "() => location.search.includes('q=ANSWER') && location.search.includes('size=25')"
    )
    page.click("a[rel=next]")
    page.wait_for_function(f"() => ({ROWS})() === 6")
    count_is(page, "31 items match.")
    assert page.input_value("#item-search") == "ANSWER" and page.input_value("select[name=size]") == "25"

    # a filter on top of a search: one row; its response opens
    page.fill("#item-search", "dough")
    page.select_option("select[name=disputed]", "yes")
    page.click("#item-filters button[type=submit]")
    count_is(page, "1 item matches.")
    row = page.locator(f"#item-{world['bread'].pk}")
    full = row.locator("details.item-response .turn-text")
    assert not full.is_visible()
    row.locator("details.item-response summary").click()
    page.wait_for_function("() => document.querySelector('details.item-response').open")
    assert full.inner_text() == "Knead the dough for 10 minutes."

    # a script in a response is text
    page.select_option("select[name=disputed]", "")
    page.fill("#item-search", "<script>")
    page.click("#item-filters button[type=submit]")
    count_is(page, "1 item matches.")
    summary = page.locator(f"#item-{world['proof'].pk} details.item-response summary")
    assert "<script>alert(1)</script>" in summary.inner_text()
    assert dialogs == []

    # nothing matches: the empty state, and a way back
    page.fill("#item-search", "nowhere at all")
    page.click("#item-filters button[type=submit]")
    count_is(page, "0 items match.")
    assert page.locator("#items-empty").inner_text().startswith("No items match these filters.")


BOX = """(selector) => { const s = getComputedStyle(document.querySelector(selector));
  return [s.borderTopLeftRadius, s.paddingLeft, s.borderTopStyle, s.borderTopColor].join(' '); }"""


def test_search_and_gold_boxes_look_like_the_other_text_boxes(page, live_server, project, users):
    """The search box (type=search) and the gold text box (no type) were left with the browser's own
    small, square style beside the styled tag box."""
    make_items(project, users["lead"], 1)
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/items/")
    tag = page.evaluate(BOX, "#item-filters input[name=tag]")
    assert page.evaluate(BOX, "#item-search") == tag
    assert page.evaluate(BOX, "#items input[name=text]") == tag


def test_the_items_page_filters_without_javascript(browser, live_server, project, users, world):  # noqa: F811
    """JavaScript off: the filter form is a plain GET, the results and the form keep the query."""
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        login(page, live_server, "lead")
        page.goto(f"{live_server.url}/projects/{project.pk}/items/")
        assert page.locator("#item-count").inner_text() == "5 items match."
        page.fill("#item-search", "dough")
        page.select_option("select[name=disputed]", "yes")
        page.click("#item-filters button[type=submit]")
        page.wait_for_url("**q=dough**")
        assert page.locator("#item-count").inner_text() == "1 item matches."
        assert page.locator(f"#item-{world['bread'].pk}").count() == 1
        assert page.input_value("#item-search") == "dough"
        assert page.input_value("select[name=disputed]") == "yes"
    finally:
        context.close()
