"""Helpers for the annotation tests: an authenticated REST client per user; a four-annotator project."""

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.projects import services as project_services
from tests.conftest import CRITERIA


def client_for(user) -> APIClient:
    client = APIClient(raise_request_exception=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def four_annotator_project(name, users, django_user_model, *, overlap=4):
    """A project (overlap 4, the conftest rubric) with the lead and four annotators: the two fixture
    annotators and annotator3, annotator4. Returns (project, annotators, lead)."""
    p = project_services.create_project(name=name, created_by=users["admin"], overlap=overlap)
    project_services.set_membership(project=p, actor=users["admin"], user=users["lead"], role="lead")
    people = [users["annotator"], users["annotator2"]]
    people += [django_user_model.objects.create_user(f"annotator{n}") for n in (3, 4)]
    for person in people:
        project_services.set_membership(project=p, actor=users["admin"], user=person, role="annotator")
    project_services.create_rubric_version(project=p, actor=users["lead"], criteria=CRITERIA)
    return p, people, users["lead"]
