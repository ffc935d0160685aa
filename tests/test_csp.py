"""The Content-Security-Policy: every response carries it (every URL the project routes, as a lead), the
API docs' ReDoc page gets its own, and no template holds inline script or style, which the policy
would block (so the class of bug stays fixed)."""

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import NoReverseMatch, URLResolver, get_resolver, reverse

from annotation.core.csp import HEADER, POLICY, REDOC_POLICY, policy_for

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))

# What a browser under `script-src 'self'; style-src 'self'` refuses to run or apply.
INLINE = {
    "inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "<style> block": re.compile(r"<style\b", re.I),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I),
    "htmx hx-on attribute": re.compile(r"\s(?:data-)?hx-on", re.I),
    "javascript: URL": re.compile(r"(?:href|src|action)\s*=\s*[\"']\s*javascript:", re.I),
}


def test_the_policy_allows_only_our_own_scripts_and_styles():
    directives = dict(d.strip().split(" ", 1) for d in POLICY.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in POLICY
    assert policy_for("/api/redoc/") == REDOC_POLICY and "'unsafe-eval'" not in REDOC_POLICY
    assert policy_for("/api/docs/") == POLICY


def test_no_template_has_inline_script_or_style():
    assert len(TEMPLATES) > 50
    found = []
    for path in TEMPLATES:
        text = path.read_text()
        # comments are not sent to the browser
        text = re.sub(r"\{#.*?#\}", "", text)
        text = re.sub(r"\{% comment %\}.*?\{% endcomment %\}", "", text, flags=re.S)
        for what, pattern in INLINE.items():
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert found == []


def test_the_inline_check_catches_what_it_should():
    bad = [
        "<script>alert(1)</script>",
        '<div style="color:red">',
        "<style>p{}</style>",
        '<button onclick="x()">',
        '<form hx-on::after-request="x()">',
        '<a href="javascript:x()">',
    ]
    good = ['<script src="/static/js/a.js" defer></script>', '<script id="s" type="application/json">']
    assert all(any(p.search(b) for p in INLINE.values()) for b in bad)
    assert not any(p.search(g) for g in good for p in INLINE.values())


def test_htmx_config_disallows_eval_and_its_inline_indicator_styles():
    base = (ROOT / "templates" / "base.html").read_text()
    config = re.search(r'name="htmx-config" content=\'([^\']+)\'', base).group(1)
    assert '"allowEval":false' in config and '"includeIndicatorStyles":false' in config


def named_routes(patterns, namespace=""):
    """(name with its namespace, the route's pattern) of every named route, included ones too."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from named_routes(entry.url_patterns, inner)
        elif entry.name:
            yield namespace + entry.name, entry.pattern


def routed_urls(project):
    """One URL for every named route: ints are the project's id (other objects 404: still a response)."""
    urls = set()
    for name, pattern in named_routes(get_resolver().url_patterns):
        converters = getattr(pattern, "converters", {})
        params = re.findall(r"<(?:\w+:)?(\w+)>", str(pattern)) or list(re.compile(str(pattern)).groupindex)
        kwargs = {
            p: project.pk if type(converters.get(p)).__name__ == "IntConverter" else "x" for p in params
        }
        try:
            urls.add(reverse(name, kwargs=kwargs))
        except NoReverseMatch:  # a value the route's converter refuses: try the other kind
            try:
                urls.add(reverse(name, kwargs={p: "1" for p in params}))
            except NoReverseMatch:
                pass
    return sorted(urls)


@pytest.mark.django_db
def test_every_response_carries_the_policy(project, users):
    client = Client(raise_request_exception=False)
    client.force_login(users["lead"])
    urls = routed_urls(project)
    assert len(urls) > 100
    html, missing = 0, []
    for url in urls:
        response = client.get(url)
        if response.get("Content-Type", "").startswith("text/html"):
            html += 1
        if response.get(HEADER) != policy_for(url):
            missing.append((url, response.status_code))
    assert missing == []
    assert html > 50  # the pages themselves, not only redirects and JSON
    # anonymous, too (the login page, a redirect to it), and a page that does not exist
    anonymous = Client()
    for url in ("/login/", f"/projects/{project.pk}/dashboard/", "/no-such-page/", "/healthz"):
        assert anonymous.get(url)[HEADER] == POLICY
