"""Blind review (issue 13): annotators never learn which model wrote a response; leads always do."""

import pytest
from django.urls import reverse

from annotation.models import Assignment, AssignmentState, Response
from annotation.projects import services as project_services
from tests.annotation.factories import client_for

pytestmark = pytest.mark.django_db
SECRET = "secret-model-7b"
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def named_items(project, items):
    Response.objects.filter(item__project=project).update(model_name=SECRET)
    return items


def review_html(client, user, project, **extra) -> str:
    client.force_login(user)
    res = client.get(reverse("annotation:review", args=[project.pk]), **extra)
    assert res.status_code == 200
    return res.content.decode()


def test_blind_review_is_on_by_default(project):
    assert project.blind_review is True


def test_annotator_page_hides_model_names_lead_page_shows_them(client, project, named_items, users):
    html = review_html(client, users["annotator"], project)
    assert "Answer 0." in html and SECRET not in html
    # the htmx swap (next task after a submit) is blind too
    a = Assignment.objects.get(annotator=users["annotator"], state=AssignmentState.LEASED)
    res = client.post(
        reverse("annotation:submit", args=[a.pk]),
        {
            "score_helpfulness": "4",
            "score_safe": "yes",
            "duration_seconds": "12",
            "decision": "accept",
            "rubric_version": project.current_rubric_version().pk,
        },
        **HX,
    )
    html = res.content.decode()
    assert res.status_code == 200 and "Saved item" in html and "Answer 1." in html and SECRET not in html
    assert SECRET in review_html(client, users["lead"], project)


def test_turning_blind_review_off_shows_names_to_annotators(client, project, named_items, users):
    project_services.update_project(project=project, actor=users["lead"], blind_review=False)
    assert SECRET in review_html(client, users["annotator"], project)


def test_api_task_never_names_the_model(project, named_items, users):
    api = client_for(users["annotator"])
    res = api.get(f"/api/projects/{project.pk}/next/")
    assert res.status_code == 200, res.content
    assert "Answer" in res.content.decode() and SECRET not in res.content.decode()


def test_setting_edited_by_form_and_api_and_audited(client, project, users):
    client.force_login(users["lead"])
    res = client.get(reverse("annotation:settings", args=[project.pk]))
    assert 'name="blind_review"' in res.content.decode()
    api = client_for(users["lead"])
    res = api.patch(f"/api/projects/{project.pk}/", {"blind_review": False}, format="json")
    assert res.status_code == 200, res.content
    assert res.json()["blind_review"] is False
    project.refresh_from_db()
    assert project.blind_review is False
    assert project.audit_events.filter(verb="project.updated").exists()
    # an annotator cannot change it
    res = client_for(users["annotator"]).patch(
        f"/api/projects/{project.pk}/", {"blind_review": True}, format="json"
    )
    assert res.status_code == 403
