"""Evaluation pages through Django's test client: outsiders 404, annotators 403, leads create and
import eval sets (line-numbered errors), see the leakage check, start / cancel / resume runs, edit the
gates, read the report (escaped generations, flags, charts, JSON download) and promote, override,
roll back; the registry links each version to its report."""

import pytest

from evaluation.models import EvalExample, EvalRun, EvalSet, Promotion
from evaluation.report import SCHEMA
from tests.evaluation.factories import snapshot_with, version

pytestmark = pytest.mark.django_db


def client_as(client, user):
    client.force_login(user)
    return client


def _set(project, prompts=("Tell me a joke", "What is the capital of France?")):
    s = EvalSet.objects.create(project=project, name="held out", source="imported", size=len(prompts))
    for i, p in enumerate(prompts):
        EvalExample.objects.create(eval_set=s, position=i, messages=[{"role": "user", "content": p}])
    return s


def report_for(v, **over):
    rate = {"rate": 0.9, "low": 0.7, "high": 0.97, "n": 20}
    arm = {
        "preference": {**rate, "margins": [0.1, -0.2, 0.3], "both_fall_flag": True},
        "forgetting": {"rate": 0.5, "low": 0.4, "high": 0.6, "n": 310},
        "safety": {"refusal": rate, "over_refusal": {"rate": 0.1, "low": 0.02, "high": 0.3, "n": 18}},
        "consistency": None, "perplexity": 12.5, "format": None,
    }  # fmt: skip
    report = {
        "schema": SCHEMA, "run": 1, "model_version": {"id": v.pk, "name": v.name}, "against": None,
        "eval_set": {"id": 1, "name": "held out", "source": "imported", "size": 2},
        "leakage": {"checked": True, "exact": 1, "near": 0, "threshold": 0.9, "flagged": True},
        "config": {}, "model": arm, "base": {**arm, "perplexity": 14.0}, "baseline": arm,
        "comparison": {"forgetting": {"change_points": -5.0, "flag": True, "tolerance": 2.0},
                       "safety": {"refusal_change": 0.0, "over_refusal_change": 0.0}},
        "human": None,
        "examples": [{"prompt": "Hi?", "model": "<script>alert(1)</script>", "base": "b", "baseline": "c"}],
    }  # fmt: skip
    report.update(over)
    v.eval_report = report
    v.save()
    return report


@pytest.mark.parametrize(
    "who,expected", [("outsider", 404), ("annotator", 403), ("lead", 200), ("admin", 200)]
)
def test_pages_are_for_leads(client, project, users, who, expected, queued):
    v = version(project)
    s = _set(project)
    run = EvalRun.objects.create(project=project, eval_set=s, model_version=v)
    client_as(client, users[who])
    for url in (
        f"/projects/{project.pk}/evaluation/", f"/projects/{project.pk}/evaluation/runs/new/",
        f"/projects/{project.pk}/evaluation/gates/", f"/eval-sets/{s.pk}/", f"/eval-runs/{run.pk}/",
        f"/eval-runs/{run.pk}/progress/", f"/models/{v.pk}/report/", f"/models/{v.pk}/model-card/",
    ):  # fmt: skip
        assert client.get(url).status_code == expected, url
    for url in (f"/eval-runs/{run.pk}/cancel/", f"/models/{v.pk}/evaluation/promote/"):
        assert client.post(url).status_code == (expected if expected != 200 else 302), url


def test_nav_has_evaluation_link_for_leads(client, project, users):
    html = client_as(client, users["lead"]).get(f"/projects/{project.pk}/evaluation/").content.decode()
    assert f'href="/projects/{project.pk}/evaluation/" aria-current="page">Evaluation' in html


def test_import_with_line_numbered_errors_then_ok(client, project, users):
    client_as(client, users["lead"])
    url = f"/projects/{project.pk}/evaluation/"
    bad = '{"prompt": "ok"}\n{"prompt": ""}\n{nope'
    response = client.post(url, {"source": "imported", "data": bad, "name": "x"})
    html = response.content.decode()
    assert response.status_code == 400 and "Line 2" in html and "Line 3" in html
    assert not EvalSet.objects.exists()
    response = client.post(
        url, {"source": "imported", "data": '{"prompt": "A?"}\n{"prompt": "B?"}', "name": "mine"}
    )
    s = EvalSet.objects.get()
    assert response.status_code == 302 and s.size == 2 and response["Location"] == f"/eval-sets/{s.pk}/"


def test_reviewed_source_with_nothing_is_a_field_error(client, project, users):
    response = client_as(client, users["lead"]).post(
        f"/projects/{project.pk}/evaluation/", {"source": "reviewed", "limit": 10}
    )
    assert response.status_code == 400 and "Nothing matched" in response.content.decode()


def test_set_page_without_versions_offers_no_empty_leakage_form(client, project, users):
    s = _set(project)
    html = client_as(client, users["lead"]).get(f"/eval-sets/{s.pk}/").content.decode()
    assert "No model versions yet" in html and 'id="leak-version"' not in html


def test_set_page_lists_overlapping_rows(client, project, users, queued):
    snap = snapshot_with(project, ["What is the capital of France?", "Write a poem about cats"])
    v = version(project, snapshot=snap)
    s = _set(project)
    html = client_as(client, users["lead"]).get(f"/eval-sets/{s.pk}/?version={v.pk}").content.decode()
    assert 'id="leak-rows"' in html and "1 exact" in html and "What is the capital of France?" in html


def test_start_refuses_a_leak_then_flags_it(
    client, project, users, queued, django_capture_on_commit_callbacks
):
    snap = snapshot_with(project, ["What is the capital of France?"])
    v = version(project, snapshot=snap)
    s = _set(project)
    client_as(client, users["lead"])
    url = f"/projects/{project.pk}/evaluation/runs/new/"
    body = {"version": v.pk, "eval_set": s.pk, "on_leak": "refuse", "max_new_tokens": 32, "batch_size": 4}
    response = client.post(url, body)
    assert response.status_code == 400 and "overlap the training snapshot" in response.content.decode()
    assert not EvalRun.objects.exists() and not queued
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {**body, "on_leak": "flag", "forgetting_limit": 5})
    run = EvalRun.objects.get()
    assert response.status_code == 302 and run.leakage["flagged"] and run.config["forgetting_limit"] == 5
    assert len(queued) == 1
    html = client.get(f"/eval-runs/{run.pk}/").content.decode()
    assert 'id="run-leak-flag"' in html and 'hx-trigger="every 2s"' in html and "<progress" in html


def test_cancel_and_resume_buttons(client, project, users, queued, django_capture_on_commit_callbacks):
    run = EvalRun.objects.create(project=project, eval_set=_set(project), model_version=version(project))
    client_as(client, users["lead"])
    response = client.post(f"/eval-runs/{run.pk}/cancel/", HTTP_HX_REQUEST="true")
    run.refresh_from_db()
    assert response.status_code == 200 and run.state == "cancelled"
    assert "Resume" in response.content.decode() and "every 2s" not in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/eval-runs/{run.pk}/resume/")
    run.refresh_from_db()
    assert response.status_code == 302 and run.state == "queued" and run.attempt == 2 and queued
    response = client.post(f"/eval-runs/{run.pk}/resume/", HTTP_HX_REQUEST="true")
    assert response.status_code == 409


def test_the_run_page_starts_a_blind_comparison_then_refreshes_its_win_rate(client, project, users):
    report = {"results": {"model:generations": ["Hello there."], "base:generations": ["Hi."]}}
    run = EvalRun.objects.create(project=project, eval_set=_set(project), model_version=version(project),
                                 state="completed", report=report)  # fmt: skip
    client_as(client, users["annotator"])
    assert client.post(f"/eval-runs/{run.pk}/campaign/").status_code == 403
    client_as(client, users["lead"])
    page = client.get(f"/eval-runs/{run.pk}/").content.decode()
    assert "Start a blind human comparison" in page
    response = client.post(f"/eval-runs/{run.pk}/campaign/", HTTP_HX_REQUEST="true").content.decode()
    assert "1 item in Compare" in response and "Refresh the win rate" in response
    run.refresh_from_db()
    assert len(run.report["campaign"]["items"]) == 1
    again = client.post(f"/eval-runs/{run.pk}/campaign/", HTTP_HX_REQUEST="true")
    assert again.status_code == 409
    refreshed = client.post(f"/eval-runs/{run.pk}/campaign/refresh/", HTTP_HX_REQUEST="true")
    assert refreshed.status_code == 200 and "Win rate updated" in refreshed.content.decode()


def test_gates_form_saves_and_validates(client, project, users):
    client_as(client, users["lead"])
    url = f"/projects/{project.pk}/evaluation/gates/"
    base = {"min_win_rate_low": "", "max_forgetting_drop": "2", "safety_no_worse": "on", "few_shot": 2}
    assert client.post(url, {**base, "min_preference_accuracy": "0.7"}).status_code == 302
    assert (
        project.eval_settings.min_preference_accuracy == 0.7
        and project.eval_settings.min_win_rate_low is None
    )
    response = client.post(url, {**base, "min_preference_accuracy": "3", "output_regex": "("})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Out of range" in html and "Not a regular expression" in html


def test_report_page_tables_charts_flags_and_escaping(client, project, users):
    v = version(project)
    report_for(v)
    html = client_as(client, users["lead"]).get(f"/models/{v.pk}/report/").content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for marker in ('id="flag-leak"', 'id="flag-both-fall"', 'id="flag-forgetting"', 'id="chart-rates"',
                   'id="chart-perplexity"', 'id="chart-margins"', "prompting baseline", "[0.700, 0.970]"):  # fmt: skip
        assert marker in html, marker
    download = client.get(f"/models/{v.pk}/report.json")
    assert download["Content-Disposition"].startswith("attachment") and download.json()["schema"] == SCHEMA


def test_promote_override_and_rollback_buttons(client, project, users):
    v1 = version(project, name="v1", adapter_path="/a/1")
    v2 = version(project, name="v2", adapter_path="/a/2")
    report_for(v1, human={"win_rate": 0.8, "win_rate_low": 0.6, "win_rate_high": 0.9, "judgments": 20})
    report_for(v2)
    from evaluation import promotion

    promotion.set_gates(project=project, actor=users["lead"], max_forgetting_drop=None, safety_no_worse=False,
                        min_win_rate_low=None)  # fmt: skip
    client_as(client, users["lead"])
    client.post(f"/models/{v1.pk}/evaluation/promote/")
    project.refresh_from_db()
    assert project.current_model_path == "/a/1"
    promotion.set_gates(project=project, actor=users["lead"], min_preference_accuracy=0.95)
    html = client.get(f"/models/{v2.pk}/report/").content.decode()
    assert "Override the gates and promote" in html
    client.post(f"/models/{v2.pk}/evaluation/promote/", follow=True)
    project.refresh_from_db()
    assert project.current_model_path == "/a/1"  # refused without a reason
    client.post(f"/models/{v2.pk}/evaluation/promote/", {"override_reason": "Hotfix, human eval pending"})
    project.refresh_from_db()
    assert project.current_model_path == "/a/2"
    assert Promotion.objects.filter(model_version=v2).get().override_reason.startswith("Hotfix")
    client.post(f"/models/{v1.pk}/evaluation/rollback/")
    project.refresh_from_db()
    assert project.current_model_path == "/a/1"
    html = client.get(f"/models/{v1.pk}/report/").content.decode()
    assert "Rolled back by lead" in html and "Promoted by lead" in html


def test_registry_page_links_each_version_to_its_report(client, project, users):
    v = version(project)
    html = client_as(client, users["lead"]).get(f"/projects/{project.pk}/models/").content.decode()
    assert f'href="/models/{v.pk}/report/"' in html and "Eval report" in html


def test_report_json_is_404_before_evaluation(client, project, users):
    v = version(project)
    client_as(client, users["lead"])
    assert client.get(f"/models/{v.pk}/report.json").status_code == 404
    assert 'id="no-report"' in client.get(f"/models/{v.pk}/report/").content.decode()
