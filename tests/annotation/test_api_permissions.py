"""Who may call which API endpoint: the whole matrix of roles x endpoints, and blind review.

Outsiders get 404 for everything inside a project (its existence is not revealed); members whose role
is too low get 403; other people's assignments do not exist (404).
"""

import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.active_learning import ingest, records
from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.models import AssignmentState, ImportJob, Invitation, Judgment, Membership
from annotation.people import services as people_services
from annotation.projects import services as project_services
from annotation.queue import services as queue_services
from tests.conftest import GOOD_SCORES, make_items

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "outsider", "annotator", "lead", "admin")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def client_for(user) -> APIClient:
    client = APIClient(raise_request_exception=True)
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def world(users, project, django_user_model):
    """The conftest project (admin1 admin, lead, annotator1 + annotator2), 5 items, a lease for annotator1."""
    make_items(project, users["lead"], 5)
    newbie = django_user_model.objects.create_user("newbie", password="pw")
    assignment = queue_services.next_assignment(project=project, user=users["annotator"])
    sample = ingest.ingest(
        project=project, records=records.parse_rows([{"prompt": "P?", "output": "O."}]), actor=users["lead"]
    )
    assert sample.created == 1
    token, _ = ingest.create_token(project=project, actor=users["lead"], name="svc")
    people_services.create_accounts(project=project, actor=users["lead"], text="invited", mode="invite")
    job = ImportJob.objects.create(
        project=project,
        created_by=users["lead"],
        path="gone.jsonl",
        fmt="jsonl",
        kind="sft",
        state="done",
        created=1,
        duplicates=0,
    )
    return {
        "project": project,
        "users": users,
        "newbie": newbie,
        "assignment": assignment,
        "token": token,
        "invitation": Invitation.objects.get(project=project),
        "job": job,
    }


CSV = "prompt,response\nNew question?,New answer.\n"

# (name, method, url, body, expected status for anonymous, outsider, annotator, lead, admin)
MATRIX = [
    ("project-list", "get", "/api/projects/", None, (401, 200, 200, 200, 200)),
    ("project-create", "post", "/api/projects/", {"name": "Another"}, (401, 201, 201, 201, 201)),
    ("project-get", "get", "/api/projects/{p}/", None, (401, 404, 200, 200, 200)),
    ("project-patch", "patch", "/api/projects/{p}/", {"description": "x"}, (401, 404, 403, 200, 200)),
    ("members-list", "get", "/api/projects/{p}/members/", None, (401, 404, 403, 200, 200)),
    (
        "members-add",
        "post",
        "/api/projects/{p}/members/",
        {"username": "newbie", "role": "annotator"},
        (401, 404, 403, 201, 201),
    ),
    (
        "members-add-admin",
        "post",
        "/api/projects/{p}/members/",
        {"username": "newbie", "role": "admin"},
        (401, 404, 403, 403, 201),
    ),
    (
        "members-promote-self",
        "post",
        "/api/projects/{p}/members/",
        {"username": "annotator1", "role": "lead"},
        (401, 404, 403, 200, 200),
    ),
    ("members-remove", "delete", "/api/projects/{p}/members/{annotator2}/", None, (401, 404, 403, 204, 204)),
    ("members-remove-admin", "delete", "/api/projects/{p}/members/{admin}/", None, (401, 404, 403, 403, 204)),
    # people: leads and admins create annotator accounts and manage invitations
    (
        "accounts-create",
        "post",
        "/api/projects/{p}/accounts/",
        {"lines": "fresh@example.org", "mode": "password"},
        (401, 404, 403, 201, 201),
    ),
    ("invitations", "get", "/api/projects/{p}/invitations/", None, (401, 404, 403, 200, 200)),
    ("invitation-revoke", "post", "/api/projects/{p}/invitations/{v}/revoke/", {}, (401, 404, 403, 200, 200)),
    ("rubrics-list", "get", "/api/projects/{p}/rubrics/", None, (401, 404, 200, 200, 200)),
    (
        "rubrics-create",
        "post",
        "/api/projects/{p}/rubrics/",
        {"criteria": [{"key": "ok", "type": "binary"}]},
        (401, 404, 403, 201, 201),
    ),
    ("items-list", "get", "/api/projects/{p}/items/", None, (401, 404, 403, 200, 200)),
    (
        "items-import",
        "post",
        "/api/projects/{p}/items/import/",
        {"data": CSV, "format": "csv"},
        (401, 404, 403, 201, 201),
    ),
    ("import-job", "get", "/api/projects/{p}/items/import/jobs/{j}/", None, (401, 404, 403, 200, 200)),
    (
        "import-external",
        "post",
        "/api/projects/{p}/import/external/",
        {"data": '{"prompt": "Ext?", "chosen": "a", "rejected": "b"}\n', "format": "trl"},
        (401, 404, 403, 201, 201),
    ),
    ("next", "get", "/api/projects/{p}/next/", None, (401, 404, 200, 200, 200)),
    ("progress", "get", "/api/projects/{p}/progress/", None, (401, 404, 200, 200, 200)),
    ("dashboard", "get", "/api/projects/{p}/dashboard/", None, (401, 404, 403, 200, 200)),
    ("judgments", "get", "/api/projects/{p}/judgments/", None, (401, 404, 200, 200, 200)),
    ("audit", "get", "/api/projects/{p}/audit/", None, (401, 404, 403, 200, 200)),
    # annotator1's own assignment: to everyone else it does not exist.
    (
        "submit",
        "post",
        "/api/assignments/{a}/submit/",
        {"decision": "accept", "scores": GOOD_SCORES},
        (401, 404, 201, 404, 404),
    ),
    (
        "submit-and-next",
        "post",
        "/api/assignments/{a}/submit-and-next/",
        {"decision": "accept", "scores": GOOD_SCORES},
        (401, 404, 201, 404, 404),
    ),
    ("skip", "post", "/api/assignments/{a}/skip/", {}, (401, 404, 200, 404, 404)),
    # quality (annotation.api_quality): leads and admins only; no report has been computed yet
    ("agreement", "get", "/api/projects/{p}/agreement/", None, (401, 404, 403, 404, 404)),
    ("agreement-recompute", "post", "/api/projects/{p}/agreement/recompute/", {}, (401, 404, 403, 201, 201)),
    ("disagreements", "get", "/api/projects/{p}/disagreements/", None, (401, 404, 403, 200, 200)),
    (
        "adjudicate",
        "post",
        "/api/items/{i}/adjudicate/",
        {"decision": "discard", "reason": "junk", "category": "other"},
        (401, 404, 403, 201, 201),
    ),
    ("gold", "post", "/api/items/{i}/gold/", {"answer": {"decision": "accept"}}, (401, 404, 403, 200, 200)),
    ("more-annotators", "post", "/api/items/{i}/more-annotators/", {"n": 1}, (401, 404, 403, 200, 200)),
    # active learning: leads and admins only (a project ingest token is tested in tests/active_learning)
    (
        "samples-ingest",
        "post",
        "/api/projects/{p}/samples/ingest/",
        {"samples": [{"prompt": "Q?", "output": "A."}]},
        (401, 404, 403, 201, 201),
    ),
    (
        "samples-import",
        "post",
        "/api/projects/{p}/samples/import/",
        {"data": '{"prompt": "R?", "output": "B."}', "format": "jsonl"},
        (401, 404, 403, 201, 201),
    ),
    ("samples", "get", "/api/projects/{p}/samples/", None, (401, 404, 403, 200, 200)),
    ("sample", "get", "/api/projects/{p}/samples/{s}/", None, (401, 404, 403, 200, 200)),
    ("samples-score", "post", "/api/projects/{p}/samples/score/", {}, (401, 404, 403, 202, 202)),
    ("selections", "get", "/api/projects/{p}/selections/", None, (401, 404, 403, 200, 200)),
    ("coverage", "get", "/api/projects/{p}/coverage/", None, (401, 404, 403, 200, 200)),
    ("ingest-tokens", "get", "/api/projects/{p}/ingest-tokens/", None, (401, 404, 403, 200, 200)),
    ("quality-models", "get", "/api/projects/{p}/quality-models/", None, (401, 404, 403, 200, 200)),
    (
        "ingest-token-revoke",
        "delete",
        "/api/projects/{p}/ingest-tokens/{t}/",
        None,
        (401, 404, 403, 200, 200),
    ),
    ("al-settings", "get", "/api/projects/{p}/active-learning/settings/", None, (401, 404, 403, 200, 200)),
    (
        "al-settings-patch",
        "patch",
        "/api/projects/{p}/active-learning/settings/",
        {"retrain_every": 9},
        (401, 404, 403, 200, 200),
    ),
]

CASES = [
    pytest.param(name, method, url, body, role, expected[i], id=f"{name}-{role}")
    for name, method, url, body, expected in MATRIX
    for i, role in enumerate(ROLES)
]


@pytest.mark.parametrize("name,method,url,body,role,expected", CASES)
def test_permission_matrix(world, name, method, url, body, role, expected):
    users = world["users"]
    user = None if role == "anonymous" else users[role]
    url = url.format(
        p=world["project"].pk,
        a=world["assignment"].pk,
        i=world["assignment"].item_id,
        annotator2=users["annotator2"].pk,
        admin=users["admin"].pk,
        s=world["project"].production_samples.first().pk,
        t=world["token"].pk,
        v=world["invitation"].pk,
        j=world["job"].pk,
    )
    response = getattr(client_for(user), method)(url, body, format="json")
    assert response.status_code == expected, (response.status_code, response.content[:300])
    if expected >= 400:
        assert response.json()["detail"]


def test_matrix_covers_every_api_route():
    """A new endpoint must be added to the matrix."""
    from annotation import api_urls

    # the caller's own tokens, not a project's: tests/annotation/test_api_tokens.py
    routes = {str(p.pattern) for p in api_urls.urlpatterns} - {
        "auth/token/",
        "auth/tokens/",
        "auth/tokens/<int:token_id>/",
    }
    covered = {
        url.removeprefix("/api/")
        .replace("{p}", "<int:project_id>")
        .replace("{a}", "<int:assignment_id>")
        .replace("{i}", "<int:item_id>")
        .replace("{annotator2}", "<int:user_id>")
        .replace("{admin}", "<int:user_id>")
        .replace("{s}", "<int:sample_id>")
        .replace("{t}", "<int:token_id>")
        .replace("{v}", "<int:invitation_id>")
        .replace("{j}", "<int:job_id>")
        for _, _, url, _, _ in MATRIX
    }
    assert routes == covered


@pytest.mark.parametrize("role", ["outsider", "annotator"])
def test_refused_writes_change_nothing(world, role):
    project, users = world["project"], world["users"]
    client = client_for(users[role])
    before = (Membership.objects.count(), project.items.count(), project.description)
    client.patch(f"/api/projects/{project.pk}/", {"description": "hijacked"}, format="json")
    client.post(f"/api/projects/{project.pk}/members/", {"username": role, "role": "admin"}, format="json")
    client.post(f"/api/projects/{project.pk}/items/import/", {"data": CSV}, format="json")
    client.delete(f"/api/projects/{project.pk}/members/{users['lead'].pk}/")
    project.refresh_from_db()
    assert (Membership.objects.count(), project.items.count(), project.description) == before


def test_annotators_see_only_their_own_judgments(world):
    project, users = world["project"], world["users"]
    a1 = world["assignment"]
    a2 = queue_services.next_assignment(project=project, user=users["annotator2"])
    assert a1.item_id == a2.item_id  # overlap 2: both judge the same item
    queue_services.submit_judgment(
        assignment=a1, user=users["annotator"], decision="accept", scores=GOOD_SCORES
    )
    queue_services.submit_judgment(
        assignment=a2, user=users["annotator2"], decision="reject", scores=GOOD_SCORES, comment="Wrong."
    )
    url = f"/api/projects/{project.pk}/judgments/"

    mine = client_for(users["annotator"]).get(url).json()
    assert [(j["annotator"], j["decision"]) for j in mine["results"]] == [("annotator1", "accept")]
    theirs = client_for(users["annotator2"]).get(url).json()
    assert [(j["annotator"], j["comment"]) for j in theirs["results"]] == [("annotator2", "Wrong.")]
    everything = client_for(users["lead"]).get(url).json()
    assert {j["annotator"] for j in everything["results"]} == {"annotator1", "annotator2"}
    assert everything["count"] == 2


def test_next_payload_is_blind(world):
    """No model names, no response ids, no other annotator's answers; responses in the stored order."""
    project, users = world["project"], world["users"]
    rows = [
        {
            "prompt": "Which is better?",
            "responses": [
                {"text": "First answer.", "model": "secret-model-alpha", "model_version": "v9"},
                {"text": "Second answer.", "model": "secret-model-beta"},
                {"text": "Third answer.", "model": "secret-model-gamma"},
            ],
            "metadata": {"source_model": "secret-model-alpha"},
            "priority": 100,
        }
    ]
    parsed = parse_items("\n".join(json.dumps(r) for r in rows), fmt="jsonl")
    assert parsed.ok, parsed.errors
    import_services.import_items(project=project, actor=users["lead"], records=parsed.records)

    # annotator2 answers first, with an edit and a comment annotator1 must never see.
    first = queue_services.next_assignment(project=project, user=users["annotator2"], kind="comparison")
    queue_services.submit_judgment(
        assignment=first,
        user=users["annotator2"],
        scores=GOOD_SCORES,
        comment="PRIVATE-RATIONALE",
        payload={"ranking": "C>B>A"},
    )
    response = client_for(users["annotator"]).get(f"/api/projects/{project.pk}/next/?kind=comparison")
    assert response.status_code == 200
    task = response.json()
    raw = json.dumps(task)
    for secret in ("secret-model", "v9", "PRIVATE-RATIONALE", "C>B>A", "annotator2", "source_model"):
        assert secret not in raw, secret

    item_responses = dict(first.item.responses.values_list("id", "text"))
    assignment = queue_services.get_assignment_for(assignment_id=task["assignment"], user=users["annotator"])
    expected = [item_responses[rid] for rid in assignment.display_order]
    assert [r["text"] for r in task["item"]["responses"]] == expected
    assert [r["slot"] for r in task["item"]["responses"]] == ["A", "B", "C"]
    assert set(task["item"]["responses"][0]) == {"slot", "text"}
    assert set(task["item"]) == {"id", "kind", "messages", "responses"}

    # A lead's item list does show the models: leads are not blind.
    items = client_for(users["lead"]).get(f"/api/projects/{project.pk}/items/?kind=comparison").json()
    assert "secret-model-alpha" in json.dumps(items)


def test_annotator_cannot_touch_anothers_assignment(world):
    users, assignment = world["users"], world["assignment"]
    other = client_for(users["annotator2"])
    body = {"decision": "reject", "scores": GOOD_SCORES}
    assert other.post(f"/api/assignments/{assignment.pk}/submit/", body, format="json").status_code == 404
    assert other.post(f"/api/assignments/{assignment.pk}/skip/", {}, format="json").status_code == 404
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.LEASED
    assert not Judgment.objects.exists()


def test_removed_member_cannot_submit_or_skip_their_old_lease(world):
    project, users, assignment = world["project"], world["users"], world["assignment"]
    project_services.remove_membership(project=project, actor=users["admin"], user=users["annotator"])
    client = client_for(users["annotator"])
    r = client.post(
        f"/api/assignments/{assignment.pk}/submit/",
        {"decision": "accept", "scores": GOOD_SCORES},
        format="json",
    )
    assert r.status_code == 403
    assert client.post(f"/api/assignments/{assignment.pk}/skip/", {}, format="json").status_code == 403
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.LEASED  # the slot is not touched by an outsider
    assert client.get(f"/api/projects/{project.pk}/next/").status_code == 404
    assert not Judgment.objects.exists()


def test_superuser_acts_as_admin_everywhere(world, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw")
    client = client_for(root)
    project = world["project"]
    assert client.get(f"/api/projects/{project.pk}/audit/").status_code == 200
    r = client.post(
        f"/api/projects/{project.pk}/members/", {"username": "newbie", "role": "admin"}, format="json"
    )
    assert r.status_code == 201
