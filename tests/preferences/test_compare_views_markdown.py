"""The compare page's Markdown, raw text and word differences: model outputs never run."""

import json
import re

import pytest
from django.urls import reverse

from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.models import Assignment, Response
from tests.annotation.test_xss import EVIL, EVIL_MARKDOWN, assert_inert
from tests.preferences.factories import make_cmp_project, make_comparisons

pytestmark = pytest.mark.django_db

MARKDOWN = "Steps:\n\n- first item\n- second item\n\n```\ncode <b>here</b>\n```\n"


def import_comparison(project, users, texts):
    line = json.dumps(
        {"prompt": "Explain", "responses": [{"text": t, "model": f"m{i}"} for i, t in enumerate(texts)]}
    )
    parsed = parse_items(line, kind="comparison")
    assert parsed.ok, parsed.errors
    import_services.import_items(project=project, actor=users["lead"], records=parsed.records)


def open_page(client, users, project):
    client.force_login(users["annotator"])
    html = client.get(reverse("preferences:compare", args=[project.pk])).content.decode()
    assignment = Assignment.objects.filter(annotator=users["annotator"], state="leased").latest("id")
    texts = [Response.objects.get(pk=rid).text for rid in assignment.display_order]
    return html, assignment, texts


def card(html, slot):
    start = html.index(f'data-slot="{slot}"')
    return html[start : html.index("</article>", start)]


def test_responses_render_as_sanitised_markdown_beside_the_escaped_raw_text(client, users):
    p = make_cmp_project(users)
    evil = f"{MARKDOWN}\n{EVIL_MARKDOWN}\n{EVIL}"
    import_comparison(p, users, [evil, "plain"])
    html, _, texts = open_page(client, users, p)
    assert_inert(html)
    slot = "AB"[texts.index(evil)]
    md = re.search(
        rf'id="response-{slot}-md">(.*?)</div>\s*<div class="turn-text', card(html, slot), re.S
    ).group(1)
    assert "<li>first item</li>" in md and "<pre><code>code &lt;b&gt;here&lt;/b&gt;" in md
    assert "<h1>Title</h1>" in md
    assert "javascript:" not in md and "onerror" not in md and "<script" not in md and "<div" not in md
    # the raw text is all there, escaped, whitespace kept
    assert "- first item\n- second item\n\n```\ncode &lt;b&gt;here&lt;/b&gt;" in card(html, slot)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in card(html, slot)
    assert 'id="view-toggle"' in html and 'id="diff-toggle"' in html


def test_blind_order_is_unchanged_by_the_markdown_view(client, users):
    p = make_cmp_project(users)
    make_comparisons(p, users["lead"], 1, models=("m1", "m2", "m3"))
    html, _, texts = open_page(client, users, p)
    for slot, text in zip("ABC", texts, strict=True):
        assert f"<p>{text}</p>" in card(html, slot)
    assert (
        html.index(f"<p>{texts[0]}</p>") < html.index(f"<p>{texts[1]}</p>") < html.index(f"<p>{texts[2]}</p>")
    )
    assert "m1" not in re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def diff_url(assignment):
    return reverse("preferences:compare-diff", args=[assignment.pk])


def test_diff_marks_the_words_each_response_lacks_and_escapes_them(client, users):
    p = make_cmp_project(users)
    left = "The <script>alert(1)</script> cat sat."
    right = "The <img src=x onerror=alert(1)> cat sat down."
    import_comparison(p, users, [left, right])
    _, assignment, texts = open_page(client, users, p)
    a, b = ("A", "B") if texts[0] == left else ("B", "A")
    res = client.get(diff_url(assignment), {"left": a, "right": b})
    assert res.status_code == 200
    html = res.content.decode()
    assert_inert(html)
    dels = re.findall(r'<del class="diff-del">(.*?)</del>', html, re.S)
    ins = re.findall(r'<ins class="diff-ins">(.*?)</ins>', html, re.S)
    # the words of each tag differ, its brackets and "alert(1)" are shared, all of it escaped
    assert dels[1:] == ["script&gt;", "&lt;/script"]
    assert any("img src=x onerror=" in i for i in ins) and "down" in ins
    assert f"Response {a}" in html and f"Response {b}" in html


def test_diff_of_two_responses_of_three_by_their_slots(client, users):
    p = make_cmp_project(users)
    import_comparison(p, users, ["one two three", "one two four", "zero two three"])
    _, assignment, texts = open_page(client, users, p)
    res = client.get(diff_url(assignment), {"left": "c", "right": "A"})
    html = res.content.decode()
    assert res.status_code == 200 and 'data-left="C" data-right="A"' in html
    left_side = re.search(r'data-side="left">(.*?)</div>', html, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", left_side) == texts[2]  # C is the third response shown


def test_identical_responses_say_so(client, users):
    p = make_cmp_project(users)
    import_comparison(p, users, ["same words", "same  words"])
    _, assignment, _ = open_page(client, users, p)
    html = client.get(diff_url(assignment)).content.decode()
    assert "have the same words" in html and "diff-del" not in html.split("</p>", 1)[1]


@pytest.mark.parametrize(
    "query, field",
    [
        ({"left": "A", "right": "A"}, "Choose two different responses."),
        ({"left": "Z"}, "Choose one of the responses: A, B."),
    ],
)
def test_diff_of_unknown_or_identical_slots_is_a_400(client, users, query, field):
    p = make_cmp_project(users)
    make_comparisons(p, users["lead"], 1)
    _, assignment, _ = open_page(client, users, p)
    res = client.get(diff_url(assignment), query)
    assert res.status_code == 400 and field in res.content.decode()


def test_diff_of_someone_elses_assignment_is_not_found(client, users):
    p = make_cmp_project(users)
    make_comparisons(p, users["lead"], 1)
    _, assignment, _ = open_page(client, users, p)
    client.force_login(users["lead"])
    assert client.get(diff_url(assignment)).status_code == 404
    client.logout()
    assert client.get(diff_url(assignment)).status_code == 302  # to the login page
