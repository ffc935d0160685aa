"""Audit details as readable lines: the pure `describe` and the escaping `audit_details` filter."""

import pytest
from django.template import Context, Template
from django.urls import reverse

from annotation.core import audit
from annotation.core.audit_format import MAX_VALUE, Line, describe, show
from annotation.projects import services as project_services


def test_before_after_dicts_become_one_change_per_field():
    lines = describe({"before": {"overlap": 2, "name": "A"}, "after": {"overlap": 3, "name": "B"}})
    assert lines == [
        Line(field="overlap", old="2", new="3", change=True),
        Line(field="name", old="A", new="B", change=True),
    ]


def test_changes_as_pairs_or_from_to_and_old_new_keys():
    assert describe({"changes": {"lease_minutes": [30, 15]}, "reason": "busy"}) == [
        Line(field="lease minutes", old="30", new="15", change=True),
        Line(field="reason", value="busy"),
    ]
    assert describe({"changed": {"retrain_every": {"from": 50, "to": None}}}) == [
        Line(field="retrain every", old="50", new="—", change=True)
    ]
    assert describe({"user": "ann", "old_role": "annotator", "new_role": "lead"}) == [
        Line(field="role", old="annotator", new="lead", change=True),
        Line(field="user", value="ann"),
    ]
    assert describe({"old": 0, "new": 5}) == [Line(field="value", old="0", new="5", change=True)]


def test_a_list_that_is_not_a_change_stays_a_value():
    """Only a `changes` dict whose every value is a change is read as changes."""
    assert describe({"criteria": ["a", "b"]}) == [Line(field="criteria", value="[a, b]")]
    assert describe({"changes": {"a": [1, 2], "b": 3}}) == [Line(field="changes", value="{a: [1, 2], b: 3}")]


def test_values_are_readable():
    assert [show(v) for v in (None, True, False, "", 1.5, [], {}, {"k": [1, None]})] == [
        "—", "yes", "no", '""', "1.5", "[]", "{}", "{k: [1, —]}",
    ]  # fmt: skip
    long = show("x" * 1000)
    assert len(long) == MAX_VALUE and long.endswith("…")
    assert describe({}) == [] and describe(None) == [] and describe("text") == [Line(field="", value="text")]


def render(data):
    return Template("{% load tuneloop %}{{ data|audit_details }}").render(Context({"data": data}))


def test_filter_renders_a_list_and_escapes_everything():
    html = render(
        {"before": {"name": "<b>x</b>"}, "after": {"name": "<script>alert(1)</script>"}, "<i>": "&"}
    )
    assert html.startswith('<ul class="audit-details">')
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert '<span class="audit-field">&lt;i&gt;</span>: <span>&amp;</span>' in html
    assert '<del class="audit-old">&lt;b&gt;x&lt;/b&gt;</del>' in html
    assert render({}) == ""


@pytest.mark.django_db
def test_audit_page_shows_changes_not_dict_reprs(client, project, users):
    project_services.update_project(project=project, actor=users["lead"], overlap=3, name="Renamed")
    audit.record(
        actor=users["lead"], project=project, verb="note", obj=project, note="<img src=x onerror=alert(1)>"
    )
    client.force_login(users["lead"])
    html = client.get(reverse("annotation:audit", args=[project.pk])).content.decode()
    assert '<span class="audit-field">overlap</span>: <del class="audit-old">2</del>' in html
    assert '<ins class="audit-new">Renamed</ins>' in html
    assert "{&#x27;before&#x27;" not in html and "{'before'" not in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
