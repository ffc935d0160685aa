"""The compare page in a real browser: Markdown responses (sanitised, with a raw toggle), the word
differences between two responses, and the N-way ranking by keyboard (letters, and a focused card
moved with the arrow keys) in a drop zone that has room for every response. No script from a
response runs."""

import json

import pytest

from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.models import Assignment, Judgment, Response
from annotation.projects import services as project_services
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS = (
    "<script>window.__xss = 1; alert(1)</script>\n\n"
    '<img src=x onerror="window.__xss = 2">\n\n'
    "[click](javascript:window.__xss=3)\n\n"
    '<a href="javascript:window.__xss=4" onclick="window.__xss=5">raw link</a>'
)
LEFT = f"Steps to follow:\n\n- open the file\n- save the file\n\n```\nprint('hello')\n```\n\n{XSS}"
RIGHT = (
    f"Steps to follow:\n\n- open the document\n- save the file quickly\n\n```\nprint('hello')\n```\n\n{XSS}"
)


def project_with(users, name, *comparisons):
    p = project_services.create_project(name=name, created_by=users["admin"], overlap=1)
    project_services.set_membership(
        project=p, actor=users["admin"], user=users["annotator"], role="annotator"
    )
    lines = "\n".join(
        json.dumps(
            {
                "prompt": f"Question {i}",
                "responses": [{"text": t, "model": f"m{k}"} for k, t in enumerate(texts)],
            }
        )
        for i, texts in enumerate(comparisons)
    )
    parsed = parse_items(lines, kind="comparison")
    assert parsed.ok, parsed.errors
    import_services.import_items(project=p, actor=users["admin"], records=parsed.records)
    return p


def wait_heading(page, text):
    page.wait_for_function(f"() => document.querySelector('#progress').innerText === {text!r}")


def assert_no_script_ran(page, dialogs):
    assert dialogs == []
    assert page.evaluate("window.__xss === undefined")
    assert page.locator("#task img, #task script, #task [onerror], #task [onclick]").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0


def test_markdown_raw_and_word_differences(page, live_server, users):
    p = project_with(users, "Markdown project", [LEFT, RIGHT], ["Second *one*", "Second two"])
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live_server, "annotator1")
    page.goto(f"{live_server.url}/projects/{p.pk}/compare/")
    wait_heading(page, "0 done · 2 left")
    assignment = Assignment.objects.get(annotator=users["annotator"], project=p, state="leased")
    texts = [Response.objects.get(pk=rid).text for rid in assignment.display_order]
    left_slot = "AB"[texts.index(LEFT)]

    # Markdown by default: a list and a code block, the raw text hidden.
    card = page.locator(f".response-card[data-slot={left_slot}]")
    assert page.locator("#responses").get_attribute("data-view") == "markdown"
    assert card.locator(".response-md li").all_inner_texts() == ["open the file", "save the file"]
    assert card.locator(".response-md pre code").inner_text().strip() == "print('hello')"
    assert card.locator(".response-md a", has_text="click").get_attribute("href") is None
    assert not card.locator(".response-text").is_visible()

    # m: the raw text, as text (the script tag is shown, not run); m again: Markdown.
    page.keyboard.press("m")
    page.wait_for_selector("#responses[data-view=raw]")
    assert card.locator(".response-text").is_visible() and not card.locator(".response-md").is_visible()
    assert "<script>window.__xss = 1; alert(1)</script>" in card.locator(".response-text").inner_text()
    assert page.locator("#view-toggle").get_attribute("aria-pressed") == "true"
    page.keyboard.press("m")
    page.wait_for_selector("#responses[data-view=markdown]")

    # w: the word differences between A and B, loaded from the server, marked not by colour alone.
    page.keyboard.press("w")
    page.wait_for_selector("#diff-body[data-state=ready]")
    assert page.locator("#diff-box").is_visible()
    marks = {"A": "diff-del", "B": "diff-ins"}  # A is the left side (struck), B the right (underlined)
    right_slot = "B" if left_slot == "A" else "A"
    changed_in_left = page.locator(f"#diff-body .diff-text .{marks[left_slot]}").all_inner_texts()
    changed_in_right = page.locator(f"#diff-body .diff-text .{marks[right_slot]}").all_inner_texts()
    assert [w.strip() for w in changed_in_left] == ["file"]
    assert [w.strip() for w in changed_in_right] == ["document", "quickly"]
    decoration = page.locator("#diff-body .diff-del").first.evaluate(
        "e => getComputedStyle(e).textDecorationLine"
    )
    assert decoration == "line-through"
    decoration = page.locator("#diff-body .diff-ins").first.evaluate(
        "e => getComputedStyle(e).textDecorationLine"
    )
    assert decoration == "underline"
    assert "<script>" in page.locator("#diff-body [data-side=left]").inner_text()  # as text
    assert_no_script_ran(page, dialogs)
    page.keyboard.press("w")
    page.wait_for_selector("#diff-box", state="hidden")

    # The raw view is remembered for the next comparison; its differences come back with w.
    page.keyboard.press("m")
    page.keyboard.press("a")
    page.keyboard.press("1")
    page.keyboard.press("Control+Enter")
    wait_heading(page, "1 done · 1 left")
    assert page.locator("#responses").get_attribute("data-view") == "raw"
    page.keyboard.press("w")
    page.wait_for_selector("#diff-body[data-state=ready]")
    assert page.locator(".diff-text .diff-del, .diff-text .diff-ins").count() == 2
    assert_no_script_ran(page, dialogs)


def test_n_way_ranking_zone_fits_and_moves_by_keyboard(page, live_server, users):
    p = project_with(users, "Ranking project", ["First answer.", "Second answer.", "Third answer."])
    login(page, live_server, "annotator1")
    page.goto(f"{live_server.url}/projects/{p.pk}/compare/")
    wait_heading(page, "0 done · 1 left")
    ranked, pool = page.locator("#rank-list"), page.locator("#rank-pool")

    # The empty ranking is labelled, spans the responses' width and has room for all three cards.
    assert page.locator("#rank-list-title").inner_text() == "Your ranking, best first"
    assert ranked.evaluate("e => getComputedStyle(e, '::before').content").startswith(
        '"Drop the responses here'
    )
    zone, responses = ranked.bounding_box(), page.locator("#responses").bounding_box()
    assert zone["width"] >= 0.9 * responses["width"]
    cards = sum(c.bounding_box()["height"] for c in pool.locator(".rank-card").all())
    assert zone["height"] >= cards

    # Letters still rank; a focused card moves with the arrow keys, Delete unranks it, Enter ranks it.
    for key in ["c", "a", "b"]:
        page.keyboard.press(key)
    assert page.locator("#ranking").input_value() == "C>A>B"
    ranked.locator(".rank-card[data-slot=A]").focus()
    page.keyboard.press("ArrowUp")
    assert page.locator("#ranking").input_value() == "A>C>B"
    assert page.evaluate("document.activeElement.dataset.slot") == "A"  # the focus stays on the card
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.locator("#ranking").input_value() == "C>B>A"
    page.keyboard.press("Delete")
    assert page.locator("#ranking").input_value() == "C>B"
    assert page.evaluate("document.activeElement.closest('#rank-pool').id") == "rank-pool"
    page.keyboard.press("Enter")
    assert page.locator("#ranking").input_value() == "C>B>A"
    # the buttons do the same: B up, then tie A with the one above it (keys: Backspace, =, a)
    ranked.locator("button[data-rank-action=up][data-slot=B]").click()
    assert page.locator("#ranking").input_value() == "B>C>A"
    for key in ["Backspace", "=", "a"]:
        page.keyboard.press(key)
    assert page.locator("#ranking").input_value() == "B>C=A"
    page.keyboard.press("Control+Enter")
    wait_heading(page, "No comparisons left")

    assignment = Assignment.objects.get(annotator=users["annotator"], project=p)
    order = assignment.display_order
    payload = Judgment.objects.get(assignment=assignment).payload
    assert [sorted(g) for g in payload["ranking"]] == [[order[1]], sorted([order[2], order[0]])]
