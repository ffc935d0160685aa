"""A permission walk over every URL pattern config/urls.py reaches (pages and API).

Each URL name is requested as six people: anonymous, an outsider, an annotator of *another* project,
an annotator, a lead and an admin of the project. The table below says, per URL, the method, who
may use it (`LEVELS`) and what a caller who may gets; the rules are annotation/core/permissions.py's:
anonymous -> the login page (pages) or 401 (API), not a member -> 404 (the project's existence is not
revealed), a role too low -> 403, someone else's assignment -> 404. POST-only views get an empty
body, so a permitted caller gets a 400 (or a redirect back) and nothing heavy runs.
`test_every_url_is_in_the_walk` fails for a URL without an entry.
"""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import Token

from annotation.active_learning import ingest, records
from annotation.models import ImportJob, Invitation, Recompute
from annotation.people import services as people_services
from annotation.projects import services as project_services
from annotation.queue import services as queue_services
from evaluation.models import EvalRun, EvalSet
from tests.conftest import make_items
from tests.evaluation.factories import snapshot_with, version
from tests.preferences.factories import make_comparisons
from tests.training.factories import make_pairs
from training.models import ExportJob, TrainingRun

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "outsider", "other", "annotator", "lead", "admin")
LOGIN = "login"  # a redirect to the login page

# URLs outside the walk, each with the reason.
EXCLUDED = {
    "admin": "Django's admin: staff only, guarded by Django itself",
    "favicon": "a permanent redirect to a static file",
    "api-schema": "the OpenAPI schema (drf-spectacular), public documentation",
    "api-docs": "Swagger UI over the schema, public documentation",
    "api-redoc": "ReDoc over the schema, public documentation",
}

# who may use a URL -> expected status per role before the permitted ones get `ok`
# (anonymous, outsider, other project's annotator, annotator, lead, admin); "ok" marks the permitted.
LEVELS = {
    "member": ("anon", 404, 404, "ok", "ok", "ok"),
    "lead": ("anon", 404, 404, 403, "ok", "ok"),
    "own": ("anon", 404, 404, "ok", 404, 404),  # annotator1's own assignment
    "user": ("anon", "ok", "ok", "ok", "ok", "ok"),  # any signed-in user
    "anyone": ("ok",) * 6,
}

# url name -> (method, level, ok, kwargs): ok is one status for every permitted role, or one per
# permitted role in ROLES order (a lead's DELETE leaves nothing for the admin to delete); kwargs name the world's rows for ambiguous URL arguments (`pk` and the like).
P = {"pk": "project"}
WALK = {
    # accounts
    "login": ("get", "anyone", 200, {}),
    "logout": ("post", "anyone", 302, {}),
    "password_change": ("get", "user", 200, {}),
    "password_change_done": ("get", "user", 200, {}),
    "annotation:invite": ("get", "anyone", 404, {}),  # a token that was never issued
    # annotation pages
    "annotation:project-list": ("get", "user", 200, {}),
    "annotation:my-work": ("get", "member", 200, P),
    "healthz": ("get", "anyone", 200, {}),  # the load balancer's probe: no session, no project
    "annotation:review": ("get", "member", 200, P),
    "annotation:submit": ("post", "own", 400, {"pk": "assignment"}),
    "annotation:skip": ("post", "own", 302, {"pk": "assignment"}),
    "annotation:dashboard": ("get", "lead", 200, P),
    "annotation:members": ("get", "lead", 200, P),
    "annotation:member-remove": ("post", "lead", 400, P),
    "annotation:member-accounts": ("post", "lead", 400, P),
    "annotation:invitation-revoke": ("post", "lead", 302, P),
    "annotation:rubric": ("get", "lead", 200, P),
    "annotation:rubric-builder": ("post", "lead", 400, P),
    "annotation:rubric-preview": ("post", "lead", 400, P),
    "annotation:rubric-compare": ("get", "lead", 200, P),
    "annotation:rubric-export": ("get", "member", 200, P),
    "annotation:import": ("get", "lead", 200, P),
    "annotation:import-job": ("get", "lead", 200, P),
    "annotation:import-external": ("get", "lead", 200, P),
    "annotation:audit": ("get", "lead", 200, P),
    "annotation:settings": ("get", "lead", 200, P),
    "annotation:agreement": ("get", "lead", 200, P),
    "annotation:recompute-progress": ("get", "lead", 200, {"pk": "recompute"}),
    "annotation:agreement-csv": ("get", "lead", 200, P),
    "annotation:disagreements": ("get", "lead", 200, P),
    "annotation:rubric-requeue": ("post", "lead", 302, P),
    "annotation:adjudicate": ("get", "lead", 200, {"pk": "item"}),
    "annotation:items": ("get", "lead", 200, P),
    "annotation:item-gold": ("post", "lead", 302, {"pk": "item"}),
    "annotation:production": ("get", "lead", 200, P),
    "annotation:production-sample": ("get", "lead", 200, P),
    "annotation:production-select": ("post", "lead", 302, P),
    "annotation:production-score": ("post", "lead", 302, P),
    "annotation:production-scoring": ("get", "lead", 200, P),
    "annotation:production-import": ("post", "lead", 302, P),
    "annotation:production-token": ("post", "lead", 302, P),
    "annotation:production-token-revoke": ("post", "lead", 302, P),
    "annotation:production-settings": ("post", "lead", 302, P),
    "annotation:coverage": ("get", "lead", 200, P),
    # preferences pages
    "preferences:compare": ("get", "member", 200, P),
    "preferences:compare-submit": ("post", "own", 400, {"pk": "comparison_assignment"}),
    "preferences:compare-skip": ("post", "own", 302, {"pk": "comparison_assignment"}),
    "preferences:compare-diff": ("get", "own", 200, {"pk": "comparison_assignment"}),
    "preferences:pairs": ("get", "lead", 200, P),
    "preferences:recompute": ("post", "lead", 400, P),
    "preferences:pair-update": ("post", "lead", 302, {"pk": "pair"}),
    "preferences:pairs-bulk": ("post", "lead", 302, P),
    "preferences:leaderboard": ("get", "lead", 200, P),
    # training pages
    "training:snapshots": ("get", "lead", 200, P),
    "training:snapshot": ("get", "lead", 200, {"pk": "snapshot"}),
    "training:snapshot-progress": ("get", "lead", 200, {"pk": "snapshot"}),
    "training:snapshot-download": ("get", "lead", 200, {"pk": "snapshot"}),
    "training:snapshot-export": ("post", "lead", 302, {"pk": "snapshot"}),
    "training:snapshot-files": ("get", "lead", 400, {"pk": "snapshot"}),
    "training:snapshot-file": ("get", "lead", 400, {"pk": "snapshot"}),
    "training:snapshot-card": ("get", "lead", 400, {"pk": "snapshot"}),
    "training:snapshot-zip": ("get", "lead", 400, {"pk": "snapshot"}),
    "training:snapshot-diff": ("get", "lead", 200, {"pk": "snapshot"}),
    "training:pairs-export": ("post", "lead", 302, P),
    "training:export": ("get", "lead", 200, {"pk": "export"}),
    "training:export-progress": ("get", "lead", 200, {"pk": "export"}),
    "training:export-download": ("get", "lead", 404, {"pk": "export"}),  # not written yet
    "training:export-push": ("post", "lead", 302, {"pk": "export"}),
    "training:runs": ("get", "lead", 200, P),
    "training:run-new": ("get", "lead", 200, P),
    "training:train-dpo": ("post", "lead", 302, P),
    "training:run": ("get", "lead", 200, {"pk": "run"}),
    "training:run-progress": ("get", "lead", 200, {"pk": "run"}),
    "training:run-cancel": ("post", "lead", 302, {"pk": "run"}),
    "training:run-resume": ("post", "lead", 302, {"pk": "run"}),
    "training:models": ("get", "lead", 200, P),
    "training:model-promote": ("post", "lead", 302, {"pk": "model"}),
    "training:model-download": ("get", "lead", 404, {"pk": "model"}),  # no adapter on disk
    # evaluation pages
    "evaluation:index": ("get", "lead", 200, P),
    "evaluation:run-new": ("get", "lead", 200, P),
    "evaluation:gates": ("get", "lead", 200, P),
    "evaluation:set": ("get", "lead", 200, {"pk": "eval_set"}),
    "evaluation:run": ("get", "lead", 200, {"pk": "eval_run"}),
    "evaluation:run-progress": ("get", "lead", 200, {"pk": "eval_run"}),
    "evaluation:run-cancel": ("post", "lead", 302, {"pk": "eval_run"}),
    "evaluation:run-resume": ("post", "lead", 302, {"pk": "eval_run"}),
    "evaluation:run-campaign": ("post", "lead", 302, {"pk": "eval_run"}),
    "evaluation:run-campaign-refresh": ("post", "lead", 302, {"pk": "eval_run"}),
    "evaluation:report": ("get", "lead", 200, {"pk": "model"}),
    "evaluation:report-json": ("get", "lead", 404, {"pk": "model"}),  # no report yet
    "evaluation:model-card": ("get", "lead", 200, {"pk": "model"}),
    "evaluation:promote": ("post", "lead", 302, {"pk": "model"}),
    "evaluation:rollback": ("post", "lead", 302, {"pk": "model"}),
    # API: annotation
    "api-token": ("post", "anyone", 400, {}),
    "api-tokens": ("get", "user", 200, {}),  # one's own API tokens
    "api-token-detail": ("delete", "user", 404, {}),  # an id that is no one's API token: 404 for all
    "api-projects": ("get", "user", 200, {}),
    "api-project": ("get", "member", 200, {}),
    "api-members": ("get", "lead", 200, {}),
    "api-member": ("delete", "lead", (204, 404), {}),
    "api-accounts": ("post", "lead", 400, {}),
    "api-invitations": ("get", "lead", 200, {}),
    "api-invitation-revoke": ("post", "lead", 200, {}),
    "api-rubrics": ("get", "member", 200, {}),
    "api-items": ("get", "lead", 200, {}),
    "api-import": ("post", "lead", 400, {}),
    "api-import-job": ("get", "lead", 200, {}),
    "api-import-external": ("post", "lead", 400, {}),
    "api-next": ("get", "member", 200, {}),
    "api-progress": ("get", "member", 200, {}),
    "api-dashboard": ("get", "lead", 200, {}),
    "api-judgments": ("get", "member", 200, {}),
    "api-audit": ("get", "lead", 200, {}),
    "api-submit": ("post", "own", 400, {}),
    "api-submit-and-next": ("post", "own", 400, {}),
    "api-skip": ("post", "own", 200, {}),
    "api-agreement": ("get", "lead", 404, {}),  # no report computed yet
    "api-agreement-recompute": ("post", "lead", 201, {}),
    "api-disagreements": ("get", "lead", 200, {}),
    "api-adjudicate": ("post", "lead", 400, {}),
    "api-gold": ("post", "lead", 400, {}),
    "api-more-annotators": ("post", "lead", 200, {}),
    "api-samples-ingest": ("post", "lead", 400, {}),
    "api-samples-import": ("post", "lead", 400, {}),
    "api-samples": ("get", "lead", 200, {}),
    "api-sample": ("get", "lead", 200, {}),
    "api-samples-score": ("post", "lead", 202, {}),
    "api-selections": ("get", "lead", 200, {}),
    "api-coverage": ("get", "lead", 200, {}),
    "api-ingest-tokens": ("get", "lead", 200, {}),
    "api-ingest-token": ("delete", "lead", 200, {}),
    "api-al-settings": ("get", "lead", 200, {}),
    "api-quality-models": ("get", "lead", 200, {}),
    # API: preferences
    "api-comparison-import": ("post", "lead", 400, {}),
    "api-pairs": ("get", "lead", 200, {}),
    "api-pair": ("get", "lead", 200, {}),
    "api-pairs-bulk": ("post", "lead", 400, {}),
    "api-consensus": ("post", "lead", 200, {}),
    "api-leaderboard": ("get", "lead", 200, {}),
    # API: training
    "api-snapshots": ("get", "lead", 200, {}),
    "api-snapshot": ("get", "lead", 200, {}),
    "api-snapshot-rows": ("get", "lead", 200, {}),
    "api-snapshot-exports": ("post", "lead", 400, {}),
    "api-snapshot-diff-against": ("get", "lead", 400, {}),
    "api-snapshot-diff": ("get", "lead", 200, {}),
    "api-project-exports": ("post", "lead", 400, {}),
    "api-export": ("get", "lead", 200, {}),
    "api-export-download": ("get", "lead", 404, {}),
    "api-export-push": ("post", "lead", 400, {}),
    "api-runs": ("get", "lead", 200, {}),
    "api-run": ("get", "lead", 200, {"run_id": "run"}),
    "api-run-cancel": ("post", "lead", 409, {"run_id": "run"}),
    "api-run-resume": ("post", "lead", 409, {"run_id": "run"}),
    "api-models": ("get", "lead", 200, {}),
    "api-model-promote": ("post", "lead", 409, {}),
    "api-model-download": ("get", "lead", 404, {}),
    # API: evaluation
    "api-eval-sets": ("get", "lead", 200, {}),
    "api-eval-set-import": ("post", "lead", 400, {}),
    "api-eval-set-leakage": ("get", "lead", 400, {}),
    "api-eval-runs": ("get", "lead", 200, {}),
    "api-eval-run": ("get", "lead", 200, {"run_id": "eval_run"}),
    "api-eval-run-cancel": ("post", "lead", 409, {"run_id": "eval_run"}),
    "api-eval-run-resume": ("post", "lead", 409, {"run_id": "eval_run"}),
    "api-eval-run-campaign": ("post", "lead", 409, {"run_id": "eval_run"}),
    "api-eval-run-campaign-refresh": ("post", "lead", 200, {"run_id": "eval_run"}),
    "api-eval-report": ("get", "lead", 404, {}),
    "api-gates": ("get", "lead", 200, {}),
    "api-eval-promote": ("post", "lead", 400, {}),
    "api-eval-rollback": ("post", "lead", 400, {}),
}

# URL argument -> the world's row it names, unless the entry says otherwise.
ARGUMENTS = {
    "project_id": "project",
    "assignment_id": "assignment",
    "item_id": "item",
    "user_id": "annotator2",
    "invitation_id": "invitation",
    "version_pk": "rubric_version",
    "job_pk": "import_job",
    "job_id": "import_job",
    "sample_id": "sample",
    "token_id": "ingest_token",
    "pair_id": "pair",
    "snapshot_id": "snapshot",
    "other_id": "snapshot2",
    "export_id": "export",
    "version_id": "model",
    "set_id": "eval_set",
    "token": "never-issued",
    "table": "annotators",
}


def url_patterns(resolver=None, namespace=""):
    """(name, route) of every pattern config/urls.py reaches, through includes and namespaces."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                yield "admin", str(entry.pattern)
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_patterns(entry, inner)
        elif isinstance(entry, URLPattern):
            yield (f"{namespace}{entry.name}" if entry.name else str(entry.pattern).split(".")[0]), entry


def test_every_url_is_in_the_walk():
    """A new URL needs an entry in WALK (or in EXCLUDED, with its reason)."""
    names = {name for name, _ in url_patterns()}
    assert names - set(WALK) - set(EXCLUDED) == set(), "URLs missing from the permission walk"
    assert set(WALK) - names == set(), "entries for URLs that no longer exist"
    assert not set(WALK) & set(EXCLUDED)


@pytest.fixture
def world(users, project, django_user_model):
    """Two projects; in the first (the conftest one) one row of everything a URL names."""
    lead = users["lead"]
    other_project = project_services.create_project(name="Elsewhere", created_by=users["admin"])
    other = django_user_model.objects.create_user("other", password="pw")
    project_services.set_membership(project=other_project, actor=users["admin"], user=other, role="annotator")
    make_items(project, lead, 2)
    assignment = queue_services.next_assignment(project=project, user=users["annotator"], kind="sft")
    make_comparisons(project, lead, 1)
    comparison = queue_services.next_assignment(project=project, user=users["annotator"], kind="comparison")
    pair = make_pairs(project, lead, ["Pair question?"])[0]
    ingest.ingest(project=project, records=records.parse_rows([{"prompt": "P?", "output": "O."}]), actor=lead)
    ingest_token, _ = ingest.create_token(project=project, actor=lead, name="svc")
    people_services.create_accounts(project=project, actor=lead, text="invited", mode="invite")
    snapshot = snapshot_with(project, ["Snapshot question?"])
    model = version(project, snapshot=snapshot)
    eval_set = EvalSet.objects.create(project=project, name="held-out", source="import", size=0)
    rows = {
        "project": project,
        "users": {**users, "other": other},
        "annotator2": users["annotator2"],
        "assignment": assignment,
        "comparison_assignment": comparison,
        "item": assignment.item,
        "pair": pair,
        "sample": project.production_samples.get(),
        "ingest_token": ingest_token,
        "invitation": Invitation.objects.get(project=project),
        "rubric_version": project.current_rubric_version(),
        "import_job": ImportJob.objects.create(
            project=project, created_by=lead, path="gone.jsonl", fmt="jsonl", kind="sft", state="done"
        ),
        "recompute": Recompute.objects.create(project=project, what="agreement", state="done"),
        "snapshot": snapshot,
        "snapshot2": snapshot_with(project, ["Another question?"]),
        "export": ExportJob.objects.create(project=project, snapshot=snapshot, layout="trl", format="jsonl"),
        "run": TrainingRun.objects.create(
            project=project, snapshot=snapshot, method="sft", state="completed"
        ),
        "model": model,
        "eval_set": eval_set,
        "eval_run": EvalRun.objects.create(
            project=project, eval_set=eval_set, model_version=model, state="completed"
        ),
    }
    return rows


def url_for(name, world, kwargs):
    pattern = dict(url_patterns())[name]
    args = {}
    for arg in pattern.pattern.converters:
        key = kwargs.get(arg, ARGUMENTS.get(arg, arg))
        row = world.get(key, key)
        args[arg] = getattr(row, "pk", row)
    return reverse(name, kwargs=args)


def expected_statuses(name):
    method, level, ok, _ = WALK[name]
    api = name.startswith("api-")
    oks = iter(ok if isinstance(ok, tuple) else (ok,) * len(ROLES))
    return [
        next(oks) if want == "ok" else (401 if api else LOGIN) if want == "anon" else want
        for want in LEVELS[level]
    ]


def request_as(client, world, role, name):
    if role != "anonymous":
        client.force_login(world["users"][role])
        if name.startswith("api-"):
            token = Token.objects.get_or_create(user=world["users"][role])[0]
            client.defaults["HTTP_AUTHORIZATION"] = f"Token {token.key}"
    method, _, _, kwargs = WALK[name]
    url = url_for(name, world, kwargs)
    if name.startswith("api-"):
        return getattr(client, method)(url, {}, content_type="application/json")
    return getattr(client, method)(url, {})


@pytest.mark.parametrize("name", sorted(WALK))
def test_walk(client, world, name):
    """Every role, in order; a permitted POST with an empty body changes nothing a later role needs."""
    expected = expected_statuses(name)
    got = []
    for role in ROLES:
        client.logout()
        client.defaults.pop("HTTP_AUTHORIZATION", None)
        response = request_as(client, world, role, name)
        if response.status_code == 302 and response.url.startswith(reverse("login") + "?next="):
            got.append(LOGIN)
        else:
            got.append(response.status_code)
    assert got == expected, f"{name} as {ROLES}: got {got}, expected {expected}"


PAGE_POSTS = sorted(
    name for name, (method, *_) in WALK.items() if method == "post" and not name.startswith("api-")
)


@pytest.mark.parametrize("name", PAGE_POSTS)
def test_page_posts_need_the_csrf_token(world, name):
    """Every page POST in the walk, sent by a signed-in lead without the CSRF token: 403 (the
    middleware answers before the view), so a new form action is covered as soon as it is walked."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["users"]["lead"])
    assert client.post(url_for(name, world, WALK[name][3]), {}).status_code == 403, name
