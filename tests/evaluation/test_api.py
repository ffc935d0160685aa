"""The evaluation API: the permission matrix over every route (outsider 404, annotator 403, lead and
admin OK), field errors, line-numbered import errors, the leak refusal, and the report JSON."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.active_learning import ingest, records
from evaluation import report as reports
from evaluation.models import EvalExample, EvalRun, EvalSet, Promotion
from tests.evaluation.factories import snapshot_with, version
from tests.evaluation.test_pages import report_for

pytestmark = pytest.mark.django_db
ROLES = ("anonymous", "outsider", "annotator", "lead", "admin")


def client_for(user) -> APIClient:
    client = APIClient(raise_request_exception=True)
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def world(project, users, queued):
    ingest.ingest(
        project=project, records=records.parse_rows([{"prompt": "P?", "output": "O."}]), actor=users["lead"]
    )
    v = version(project, snapshot=snapshot_with(project, ["Completely unrelated training prompt"]))
    report_for(v)
    eval_set = EvalSet.objects.create(project=project, name="s", source="imported", size=1)
    EvalExample.objects.create(
        eval_set=eval_set, position=0, messages=[{"role": "user", "content": "Say hi"}]
    )
    run = EvalRun.objects.create(project=project, eval_set=eval_set, model_version=v)
    stopped = EvalRun.objects.create(project=project, eval_set=eval_set, model_version=v, state="cancelled")
    generations = {"model:generations": ["Hello there."], "base:generations": ["Hi."]}
    done = EvalRun.objects.create(project=project, eval_set=eval_set, model_version=v, state="completed",
                                  report={"results": generations})  # fmt: skip
    Promotion.objects.create(project=project, model_version=v, action="promote", by=users["lead"])
    return {"p": project.pk, "v": v.pk, "s": eval_set.pk, "r": run.pk, "c": stopped.pk, "g": done.pk}


OK = (401, 404, 403)
MATRIX = [
    ("sets", "get", "/api/projects/{p}/eval-sets/", None, 200),
    ("sets-create", "post", "/api/projects/{p}/eval-sets/", {"source": "production"}, 201),
    ("sets-import", "post", "/api/projects/{p}/eval-sets/import/", {"data": '{"prompt": "Q?"}'}, 201),
    ("leakage", "get", "/api/eval-sets/{s}/leakage/?version={v}", None, 200),
    ("runs", "get", "/api/projects/{p}/eval-runs/", None, 200),
    ("runs-create", "post", "/api/projects/{p}/eval-runs/", {"version": "{v}", "eval_set": "{s}"}, 201),
    ("run", "get", "/api/eval-runs/{r}/", None, 200),
    ("run-cancel", "post", "/api/eval-runs/{r}/cancel/", {}, 200),
    ("run-resume", "post", "/api/eval-runs/{c}/resume/", {}, 200),
    ("campaign", "post", "/api/eval-runs/{g}/campaign/", {}, 201),
    ("campaign-refresh", "post", "/api/eval-runs/{g}/campaign/refresh/", {}, 200),
    ("report", "get", "/api/models/{v}/eval-report/", None, 200),
    ("gates", "get", "/api/projects/{p}/gates/", None, 200),
    ("gates-put", "put", "/api/projects/{p}/gates/", {"min_preference_accuracy": 0.5}, 200),
    (
        "promote",
        "post",
        "/api/models/{v}/evaluation/promote/",
        {"override_reason": "pending human eval"},
        201,
    ),
    ("rollback", "post", "/api/models/{v}/evaluation/rollback/", {}, 201),
]
CASES = [
    pytest.param(name, method, url, body, role, (*OK, ok, ok)[i], id=f"{name}-{role}")
    for name, method, url, body, ok in MATRIX
    for i, role in enumerate(ROLES)
]


@pytest.mark.parametrize("name,method,url,body,role,expected", CASES)
def test_permission_matrix(world, users, name, method, url, body, role, expected):
    user = None if role == "anonymous" else users[role]
    if isinstance(body, dict):
        body = {
            k: int(v.format(**world)) if isinstance(v, str) and v in ("{v}", "{s}") else v
            for k, v in body.items()
        }
    response = getattr(client_for(user), method)(url.format(**world), body, format="json")
    assert response.status_code == expected, (response.status_code, response.content[:300])
    if expected >= 400:
        assert response.json()["detail"]


def test_matrix_covers_every_evaluation_route():
    from evaluation import api_urls

    routes = {str(p.pattern) for p in api_urls.urlpatterns}
    covered = {
        url.removeprefix("/api/").split("?")[0].replace("{p}", "<int:project_id>").replace("{s}", "<int:set_id>")
        .replace("{v}", "<int:version_id>").replace("{r}", "<int:run_id>").replace("{c}", "<int:run_id>").replace("{g}", "<int:run_id>")
        for _, _, url, _, _ in MATRIX
    }  # fmt: skip
    assert routes == covered


def test_field_errors_import_lines_and_leak_refusal(world, project, users):
    client = client_for(users["lead"])
    bad = client.post(f"/api/projects/{project.pk}/eval-runs/", {"version": world["v"], "eval_set": world["s"],
                      "config": {"nope": 1, "batch_size": -2}}, format="json")  # fmt: skip
    assert bad.status_code == 400 and {"config.nope", "config.batch_size"} <= set(bad.json()["errors"])
    wrong = client.post(
        f"/api/projects/{project.pk}/eval-runs/", {"version": 999, "eval_set": world["s"]}, format="json"
    )
    assert wrong.status_code == 400 and "version" in wrong.json()["errors"]
    imported = client.post(
        f"/api/projects/{project.pk}/eval-sets/import/",
        {"data": '{"prompt": "ok"}\n{"prompt": ""}'},
        format="json",
    )
    assert imported.status_code == 400 and imported.json()["errors"][0]["line"] == 2
    leaky = EvalSet.objects.create(project=project, name="leaky", source="imported", size=1)
    EvalExample.objects.create(
        eval_set=leaky,
        position=0,
        messages=[{"role": "user", "content": "Completely unrelated training prompt"}],
    )
    refused = client.post(
        f"/api/projects/{project.pk}/eval-runs/", {"version": world["v"], "eval_set": leaky.pk}, format="json"
    )
    assert refused.status_code == 400 and "exact" in refused.json()["errors"]["eval_set"][0]
    leak = client.get(f"/api/eval-sets/{leaky.pk}/leakage/?version={world['v']}").json()
    assert leak["exact"] == 1 and leak["rows"][0]["train_prompt"] == "Completely unrelated training prompt"
    flagged = client.post(f"/api/projects/{project.pk}/eval-runs/",
                          {"version": world["v"], "eval_set": leaky.pk, "on_leak": "flag"}, format="json")  # fmt: skip
    assert flagged.status_code == 201 and flagged.json()["leakage"]["flagged"]


def test_report_follows_the_schema_and_gates_validate(world, project, users):
    client = client_for(users["lead"])
    body = client.get(f"/api/models/{world['v']}/eval-report/").json()
    assert reports.validate(body) == []
    bad = client.put(
        f"/api/projects/{project.pk}/gates/", {"min_win_rate_low": 2, "output_regex": "("}, format="json"
    )
    assert bad.status_code == 400 and "min_win_rate_low" in bad.json()["errors"]
    refused = client.post(f"/api/models/{world['v']}/evaluation/promote/", {}, format="json")
    assert refused.status_code == 400 and "override_reason" in refused.json()["errors"]


def test_campaign_starts_once_and_its_win_rate_refreshes(world, users):
    from annotation.models import Item

    lead = client_for(users["lead"])
    started = lead.post(f"/api/eval-runs/{world['g']}/campaign/", {}, format="json")
    assert started.status_code == 201 and len(started.json()["items"]) == 1
    assert Item.objects.get(pk=started.json()["items"][0]).responses.count() == 2
    again = lead.post(f"/api/eval-runs/{world['g']}/campaign/", {}, format="json")
    assert again.status_code == 409 and "exists already" in again.json()["detail"]
    human = lead.post(f"/api/eval-runs/{world['g']}/campaign/refresh/", {}, format="json").json()["human"]
    assert human["items"] == 1 and human["judgments"] == 0 and human["win_rate"] is None
