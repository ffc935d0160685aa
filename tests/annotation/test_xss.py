"""Untrusted text (prompts, responses, guidelines, comments, rubric text, file names) never runs.

Model outputs and prompts are always escaped; Markdown (guidelines, rubric instructions, the optional
response preview) goes through one sanitiser. Checked in the HTML and in a real browser.
"""

import io
import json
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.projects import services as project_services
from annotation.queue import services as queue_services
from annotation.templatetags.tuneloop import markdown_to_safe_html
from tests.e2e.conftest import browser, login, page  # noqa: F401 - browser fixtures for the last test

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
SVG = "<svg onload=alert(1)>"
JS_LINK = "[click me](javascript:alert(1))"
RAW_LINK = '<a href="javascript:alert(1)" onclick="alert(1)">raw link</a>'
PAYLOADS = [SCRIPT, IMG, SVG]
EVIL = f"{SCRIPT} {IMG} {SVG} {JS_LINK} {RAW_LINK} <div onclick=alert(1)>div</div>"
EVIL_MARKDOWN = (
    f"# Title\n\n{EVIL}\n\n<script>alert(1)</script>\n\n<iframe src=javascript:alert(1)></iframe>\n"
)


class TagCollector(HTMLParser):
    """Every element the browser would build, with its attributes (as parsed, not as text)."""

    def __init__(self):
        super().__init__()
        self.tags = []
        self.script_text = {}  # index in tags -> text of an inline script

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self.script_text[len(self.tags) - 1] = ""

    def handle_data(self, data):
        if self.tags and self.tags[-1][0] == "script" and len(self.tags) - 1 in self.script_text:
            self.script_text[len(self.tags) - 1] += data


def assert_inert(html: str):
    """No payload string unescaped, and no element that could run code: scripts only from /static/
    (or inert JSON data: chart specs, whose text parses as JSON with no raw "<"), no img/iframe/object/
    embed/svg, no on* handler, no javascript: URL."""
    for raw in PAYLOADS:
        assert raw not in html, f"unescaped {raw!r} in the page"
    parser = TagCollector()
    parser.feed(html)
    for i, (tag, attrs) in enumerate(parser.tags):
        where = f"<{tag} {attrs}>"
        assert tag not in {"img", "iframe", "object", "embed", "style", "svg"}, where
        if tag == "script" and attrs.get("type") == "application/json":
            text = parser.script_text.get(i, "")
            assert "src" not in attrs and "<" not in text, where
            json.loads(text)
        elif tag == "script":
            assert (attrs.get("src") or "").startswith("/static/"), where
        for name, value in attrs.items():
            assert not name.startswith("on"), where
            if name in {"href", "src", "action", "formaction"}:
                assert not (value or "").strip().lower().startswith("javascript:"), where


@pytest.fixture
def evil_project(users):
    p = project_services.create_project(
        name="XSS <b>project</b>", created_by=users["admin"], overlap=1, guidelines=EVIL_MARKDOWN
    )
    project_services.set_membership(
        project=p, actor=users["admin"], user=users["annotator"], role="annotator"
    )
    project_services.set_membership(project=p, actor=users["admin"], user=users["lead"], role="lead")
    project_services.create_rubric_version(
        project=p,
        actor=users["admin"],
        criteria=[
            {"key": "helpfulness", "type": "likert", "label": f"Help {SCRIPT}", "instructions": EVIL},
            {"key": "tone", "type": "labels", "labels": [IMG, SVG], "required": False},
        ],
        instructions=EVIL_MARKDOWN,
        changelog=EVIL,
    )
    line = json.dumps(
        {
            "system": f"sys {SVG}",
            "prompt": f"user {SCRIPT} {JS_LINK}",
            "response": f"resp {IMG}\n{EVIL_MARKDOWN}",
        }
    )
    parsed = parse_items(line, fmt="jsonl")
    assert parsed.ok
    import_services.import_items(
        project=p, actor=users["admin"], records=parsed.records, source=f"src {SCRIPT}"
    )
    return p


@pytest.mark.parametrize(
    "text", [EVIL, EVIL_MARKDOWN, f"**bold** {RAW_LINK}", "<style>x{}</style><b onmouseover=x>b</b>"]
)
def test_markdown_sanitiser_keeps_only_safe_tags(text):
    html = markdown_to_safe_html(text)
    assert_inert(html)
    assert "<script" not in html and "<img" not in html and "<svg" not in html and "<style" not in html
    assert "javascript:" not in html


def test_markdown_sanitiser_keeps_safe_markup_and_http_links():
    html = markdown_to_safe_html(
        "**b** *i* `c`\n\n- one\n\n[ok](https://example.com) [m](mailto:a@b.c) [f](ftp://x)"
    )
    assert (
        "<strong>b</strong>" in html and "<em>i</em>" in html and "<code>c</code>" in html and "<li>" in html
    )
    assert '<a href="https://example.com">ok</a>' in html and '<a href="mailto:a@b.c">m</a>' in html
    assert "ftp://" not in html and "rel=" not in html


@pytest.mark.django_db
def test_review_page_escapes_item_guidelines_and_rubric(client, users, evil_project):
    client.force_login(users["annotator"])
    res = client.get(reverse("annotation:review", args=[evil_project.pk]))
    assert res.status_code == 200
    html = res.content.decode()
    assert_inert(html)
    # the raw text is shown escaped (whitespace preserved), not dropped
    assert "user &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "resp &lt;img src=x onerror=alert(1)&gt;" in html
    assert "sys &lt;svg onload=alert(1)&gt;" in html
    assert "XSS &lt;b&gt;project&lt;/b&gt;" in html
    assert "<h1>Title</h1>" in html  # guidelines Markdown rendered


@pytest.mark.django_db
def test_comment_and_edit_rerendered_after_an_error_stay_escaped(client, users, evil_project):
    client.force_login(users["annotator"])
    client.get(reverse("annotation:review", args=[evil_project.pk]))
    a = evil_project.assignments.get(annotator=users["annotator"])
    res = client.post(
        reverse("annotation:submit", args=[a.pk]),
        {"decision": "edit", "edited_text": EVIL, "comment": EVIL, "score_tone": 'x"><svg onload=alert(1)>'},
        HTTP_HX_REQUEST="true",
    )
    assert res.status_code == 400
    html = res.content.decode()
    assert_inert(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.django_db
def test_lead_pages_escape_untrusted_text(client, users, evil_project):
    client.force_login(users["annotator"])
    client.get(reverse("annotation:review", args=[evil_project.pk]))
    a = evil_project.assignments.get(annotator=users["annotator"])
    queue_services.submit_judgment(
        assignment=a, user=users["annotator"], decision="reject", scores={"helpfulness": 1}, comment=EVIL
    )
    client.force_login(users["lead"])
    for page_name in ["dashboard", "members", "rubric", "import", "audit", "settings"]:
        res = client.get(reverse(f"annotation:{page_name}", args=[evil_project.pk]))
        assert res.status_code == 200, page_name
        assert_inert(res.content.decode())
    # a hostile file name and file content in the import error list
    f = io.BytesIO(f'{{"prompt": 5, "response": "{SCRIPT}"}}\n<svg onload=alert(1)>\n'.encode())
    f.name = f"{SCRIPT}.jsonl"
    res = client.post(
        reverse("annotation:import", args=[evil_project.pk]),
        {"file": f, "kind": "sft"},
        HTTP_HX_REQUEST="true",
    )
    assert res.status_code == 400
    assert_inert(res.content.decode())
    html = client.get(reverse("annotation:project-list")).content.decode()
    assert_inert(html) and "&lt;b&gt;project" in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_script_runs_in_a_real_browser(page, live_server, users, evil_project):  # noqa: F811
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live_server, "annotator1")
    page.goto(f"{live_server.url}/projects/{evil_project.pk}/review/")
    page.locator("summary", has_text="Preview the response").click()  # render the Markdown preview too
    page.wait_for_timeout(300)
    assert "user <script>alert(1)</script>" in page.locator(".turn-user").inner_text()  # shown as text
    page.keyboard.press("e")
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    page.keyboard.type(EVIL)
    page.keyboard.press("Control+Enter")  # no scores: re-rendered with the comment and the edit
    page.wait_for_selector(".error-summary")
    page.wait_for_timeout(300)
    assert dialogs == []
    assert page.locator("img").count() == 0
    assert page.locator("svg[onload], [onerror], [onclick], iframe").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    scripts = page.eval_on_selector_all("script", "els => els.map(e => e.getAttribute('src'))")
    assert scripts and all(src and src.startswith("/static/") for src in scripts)
    assert page.evaluate("window.__xss === undefined")
