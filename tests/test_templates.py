"""Template hygiene that Django does not check: a {# comment #} must end on its own line (a
multi-line one is printed as text), and every page renders without template syntax left over."""

from pathlib import Path

import pytest
from django.urls import reverse

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def test_single_line_comments_close_on_their_line():
    bad = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.count("{#") > line.count("#}"):
                bad.append(f"{path.relative_to(TEMPLATES)}:{number}: use {{% comment %}} for several lines")
    assert not bad, "\n".join(bad)


@pytest.mark.django_db
def test_task_pages_leave_no_template_syntax(client, users, project, items):
    client.force_login(users["annotator"])
    html = client.get(reverse("annotation:review", args=[project.pk])).content.decode()
    assert "0 done · 5 left" in html
    for token in ("{#", "#}", "{%", "%}", "{{", "}}"):
        assert token not in html, token
