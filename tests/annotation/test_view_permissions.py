"""Who gets which page: anonymous -> login, outsider -> 404 (no leak), annotator -> 403 on lead pages."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "outsider", "annotator", "lead", "admin"]
LOGIN = "login"

# page -> expected status per role (in ROLES order); "login" means a redirect to the login page.
PAGES = {
    "project-list": [LOGIN, 200, 200, 200, 200],
    "review": [LOGIN, 404, 200, 200, 200],
    "dashboard": [LOGIN, 404, 403, 200, 200],
    "members": [LOGIN, 404, 403, 200, 200],
    "rubric": [LOGIN, 404, 403, 200, 200],
    "import": [LOGIN, 404, 403, 200, 200],
    "audit": [LOGIN, 404, 403, 200, 200],
    "settings": [LOGIN, 404, 403, 200, 200],
}
CASES = [(page, role, expected[i]) for page, expected in PAGES.items() for i, role in enumerate(ROLES)]


def login_as(client, users, role):
    if role != "anonymous":
        client.force_login(users["outsider" if role == "outsider" else role])


@pytest.mark.parametrize(("page", "role", "expected"), CASES, ids=[f"{p}-{r}" for p, r, _ in CASES])
def test_page_access(client, users, project, items, page, role, expected):
    login_as(client, users, role)
    url = reverse(f"annotation:{page}", args=[] if page == "project-list" else [project.pk])
    res = client.get(url)
    if expected == LOGIN:
        assert res.status_code == 302
        assert res.url.startswith(reverse("login") + "?next=")
    else:
        assert res.status_code == expected
    if expected == 404:
        assert project.name not in res.content.decode()


@pytest.mark.parametrize("page", [p for p in PAGES if p != "project-list"])
def test_missing_project_is_404_even_for_superuser(client, django_user_model, page):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    assert client.get(reverse(f"annotation:{page}", args=[99999])).status_code == 404


WRITES = {
    # page -> POST data; annotators and outsiders must not change anything
    "members": {"username": "outsider", "role": "lead"},
    "member-remove": {"username": "annotator2"},
    "rubric": {"criteria": '[{"key": "x", "type": "binary"}]'},
    "settings": {
        "name": "Hijacked",
        "base_model": "m",
        "overlap": 1,
        "agreement_threshold": 1,
        "lease_minutes": 1,
        "min_seconds_per_item": 0,
    },
}


@pytest.mark.parametrize(("role", "expected"), [("anonymous", 302), ("outsider", 404), ("annotator", 403)])
@pytest.mark.parametrize("page", list(WRITES))
def test_lead_writes_refused(client, users, project, role, expected, page):
    login_as(client, users, role)
    before = (project.memberships.count(), project.current_rubric_version().number)
    res = client.post(reverse(f"annotation:{page}", args=[project.pk]), WRITES[page], HTTP_HX_REQUEST="true")
    assert res.status_code == expected
    project.refresh_from_db()
    assert project.name == "Demo"
    assert (project.memberships.count(), project.current_rubric_version().number) == before


@pytest.mark.parametrize(("role", "expected"), [("anonymous", 302), ("outsider", 404), ("annotator", 403)])
def test_import_refused(client, users, project, role, expected):
    import io

    login_as(client, users, role)
    f = io.BytesIO(b'{"prompt": "p", "response": "r"}')
    f.name = "x.jsonl"
    res = client.post(reverse("annotation:import", args=[project.pk]), {"file": f, "kind": "sft"})
    assert res.status_code == expected
    assert project.items.count() == 0


def test_csrf_is_enforced_on_htmx_posts(users, project, items):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(users["annotator"])
    html = client.get(reverse("annotation:review", args=[project.pk])).content.decode()
    assignment = project.assignments.get(annotator=users["annotator"])
    url = reverse("annotation:submit", args=[assignment.pk])
    data = {"decision": "accept", "score_helpfulness": "3", "score_safe": "yes"}
    assert client.post(url, data, HTTP_HX_REQUEST="true").status_code == 403
    token = client.cookies["csrftoken"].value
    assert "X-CSRFToken" in html
    res = client.post(url, data, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)
    assert res.status_code == 200


def test_the_admin_only_shows_rows(client, django_user_model, project):
    """Changes go through the app (checked, audited); the admin cannot add, change or delete."""
    from annotation.models import RubricVersion

    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    version = RubricVersion.objects.filter(rubric__project=project).get()
    members = project.memberships.count()
    url = reverse("admin:annotation_rubricversion_change", args=[version.pk])
    assert client.get(url).status_code == 200  # view only
    assert client.post(url, {"number": 9}).status_code == 403
    assert client.get(reverse("admin:annotation_project_add")).status_code == 403
    delete = reverse("admin:annotation_membership_delete", args=[project.memberships.first().pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:training_trainingrun_changelist")).status_code == 200
    version.refresh_from_db()
    assert version.number == 1 and project.memberships.count() == members
