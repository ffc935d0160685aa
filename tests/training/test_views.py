"""Training pages and API through Django's test client: lead access, 403 for annotators, 404 for
outsiders, field errors, the polled run partial, registry compare and downloads, one-click DPO."""

import io
import json
import zipfile

import pytest
from django.urls import reverse

from config.celery import app
from tests.chart_specs import chart_spec, chart_specs
from tests.training.factories import make_pairs, sft_project_data, word_embedder
from training import snapshots
from training.models import DatasetSnapshot, ModelVersion, RunMetric, RunState, TrainingRun

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def snapshot(project, users):
    sft_project_data(project, users, n=5)
    return snapshots.build_snapshot(
        project=project,
        actor=users["lead"],
        kind="sft",
        filters={"val_fraction": 0.2},
        embedder=word_embedder,
    )


@pytest.fixture
def run(project, snapshot, users):
    run = TrainingRun.objects.create(
        project=project, snapshot=snapshot, method="dpo", state=RunState.RUNNING, step=2, max_steps=4,
        loss=0.5, config={"learning_rate": 1e-4, "beta": 0.1}, log_tail="step 1 <script>alert(1)</script>",
        created_by=users["lead"],
    )  # fmt: skip
    for step, (loss, margin) in enumerate([(0.69, 0.0), (0.6, 0.2)], start=1):
        RunMetric.objects.create(run=run, step=step, name="loss", value=loss)
        RunMetric.objects.create(run=run, step=step, name="rewards/margins", value=margin)
    return run


@pytest.fixture
def versions(project, snapshot, tmp_path):
    out = []
    for i, lr in enumerate((1e-4, 2e-4)):
        adapter = tmp_path / f"adapter{i}"
        adapter.mkdir()
        (adapter / "adapter_config.json").write_text("{}")
        out.append(
            ModelVersion.objects.create(
                project=project,
                name=f"v{i}",
                method="sft",
                base_model="tiny",
                adapter_path=str(adapter),
                snapshot=snapshot,
                config={"learning_rate": lr, "seed": 42},
                metrics={"loss": 1.0 - i / 10},
                library_versions={"torch": "2.13.0", "trl": f"1.1{i}.0"},
                device={"device": "cpu", "bf16": False},
            )  # fmt: skip
        )
    return out


def login(client, users, who="lead"):
    client.force_login(users[who])
    return client


def page_urls(project, snapshot, run, version):
    return [
        reverse("training:snapshots", args=[project.pk]),
        reverse("training:snapshot", args=[snapshot.pk]),
        reverse("training:snapshot-download", args=[snapshot.pk]),
        reverse("training:runs", args=[project.pk]),
        reverse("training:run-new", args=[project.pk]),
        reverse("training:run", args=[run.pk]),
        reverse("training:run-progress", args=[run.pk]),
        reverse("training:models", args=[project.pk]),
        reverse("training:model-download", args=[version.pk]),
    ]


def test_pages_render_for_a_lead_403_for_annotators_404_for_outsiders(
    client, project, users, snapshot, run, versions
):
    urls = page_urls(project, snapshot, run, versions[0])
    login(client, users, "lead")
    for url in urls:
        assert client.get(url).status_code == 200, url
    login(client, users, "annotator")
    for url in urls:
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("training:run-cancel", args=[run.pk])).status_code == 403
    assert client.post(reverse("training:train-dpo", args=[project.pk])).status_code == 403
    login(client, users, "outsider")
    for url in urls:
        assert client.get(url).status_code == 404, url


def test_project_nav_links_to_training_for_leads_only(client, project, users):
    login(client, users, "lead")
    assert (
        reverse("training:runs", args=[project.pk])
        in client.get(reverse("annotation:dashboard", args=[project.pk])).content.decode()
    )


def test_build_a_snapshot_from_the_form(client, project, users):
    sft_project_data(project, users, n=4)
    login(client, users)
    url = reverse("training:snapshots", args=[project.pk])
    data = {"kind": "sft", "name": "first", "val_fraction": "0.25", "near_dup_threshold": "1", "dedupe": "on",
            "exclude_flags": ["pii", "unsafe"], "seed": "0"}  # fmt: skip
    response = client.post(url, data)
    snapshot = DatasetSnapshot.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "training:snapshot", args=[snapshot.pk]
    )
    assert (
        snapshot.name == "first"
        and snapshot.total_count == 4
        and snapshot.filters["exclude_flags"] == ["pii", "unsafe"]
    )
    detail = client.get(response["Location"]).content.decode()
    assert "Dropped rows" in detail and snapshot.content_hash in detail
    lengths = [spec for key, spec in chart_specs(detail).items() if key.startswith("chart-length-")]
    assert lengths and all(spec["kind"] == "histogram" for spec in lengths)
    assert all(sum(spec["series"][0]["values"]) == 4 for spec in lengths)  # every row in some bin
    assert '<th scope="row">Sources</th><td>annotation: 4</td>' in detail
    body = b"".join(client.get(reverse("training:snapshot-download", args=[snapshot.pk])).streaming_content)
    assert len(body.decode().splitlines()) == 4
    # htmx: a redirect header instead of a page
    response = client.post(url, {**data, "name": "second"}, **HX)
    assert response.status_code == 204 and response["HX-Redirect"].startswith("/snapshots/")


def test_snapshot_form_errors_are_shown_inline(client, project, users):
    login(client, users)
    url = reverse("training:snapshots", args=[project.pk])
    response = client.post(url, {"kind": "sft", "val_fraction": "5", "near_dup_threshold": "1"}, **HX)
    assert response.status_code == 400 and "field-error" in response.content.decode()
    response = client.post(url, {"kind": "sft", "near_dup_threshold": "1"}, **HX)  # nothing approved yet
    assert response.status_code == 400 and "No rows match these filters" in response.content.decode()
    assert not DatasetSnapshot.objects.exists()


def test_run_form_is_prefilled_and_refuses_a_bad_config_inline(client, project, users, snapshot):
    login(client, users)
    url = reverse("training:run-new", args=[project.pk])
    page = client.get(url + f"?snapshot={snapshot.pk}").content.decode()
    assert f'value="{project.base_model}"' in page and "Start training" in page
    data = {"snapshot": snapshot.pk, "base_model": project.base_model, "adapter": "lora", "learning_rate": "-1",
            "lora_r": "0", "loss_type": "sigmoid", "max_steps": "-1", "num_train_epochs": "1"}  # fmt: skip
    response = client.post(url, data)
    body = response.content.decode()
    assert (
        response.status_code == 400
        and "must be greater than 0" in body
        and "must be a positive integer" in body
    )
    assert not TrainingRun.objects.exists()
    assert 'name="lora_target_modules" value="q_proj,v_proj"' in page  # the fast CPU default
    response = client.post(
        url, {**data, "learning_rate": "0.0002", "lora_r": "4", "lora_target_modules": " , "}
    )
    assert response.status_code == 400 and "name at least one module" in response.content.decode()
    good = {
        **data,
        "learning_rate": "0.0002",
        "lora_r": "4",
        "max_steps": "2",
        "lora_target_modules": "q_proj, k_proj",
    }
    response = client.post(url, good)
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("training:run", args=[run.pk])
    assert (
        run.state == RunState.QUEUED
        and run.config["max_steps"] == 2
        and run.config["learning_rate"] == 0.0002
        and run.config["lora_target_modules"] == ["q_proj", "k_proj"]
    )


def test_run_page_polls_while_active_and_stops_when_finished(client, project, users, run):
    login(client, users)
    page = client.get(reverse("training:run", args=[run.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in page and 'id="chart-margins"' in page
    assert chart_spec(page, "chart-loss")["series"][0]["points"] == [[1, 0.69], [2, 0.6]]
    assert chart_spec(page, "chart-margins")["series"][0]["points"] == [[1, 0.0], [2, 0.2]]
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    partial = client.get(reverse("training:run-progress", args=[run.pk]), **HX).content.decode()
    assert (
        partial.lstrip().startswith('<div id="run-progress"')
        and "every 2s" in partial
        and "<html" not in partial
    )
    assert 'value="50"' in partial  # 2 of 4 steps
    TrainingRun.objects.filter(pk=run.pk).update(state=RunState.COMPLETED, step=4)
    partial = client.get(reverse("training:run-progress", args=[run.pk]), **HX).content.decode()
    assert "hx-trigger" not in partial and 'value="100"' in partial


def test_cancel_and_resume_buttons(client, project, users, run):
    login(client, users)
    response = client.post(reverse("training:run-cancel", args=[run.pk]), **HX)
    assert response.status_code == 200 and "Cancelling" in response.content.decode()
    run.refresh_from_db()
    assert run.cancel_requested
    TrainingRun.objects.filter(pk=run.pk).update(state=RunState.INTERRUPTED)
    assert (
        "Resume from the last checkpoint"
        in client.get(reverse("training:run", args=[run.pk])).content.decode()
    )
    response = client.post(reverse("training:run-resume", args=[run.pk]), **HX)
    run.refresh_from_db()
    assert response.status_code == 200 and (run.state, run.attempt) == (RunState.QUEUED, 2)
    response = client.post(reverse("training:run-resume", args=[run.pk]), **HX)
    assert response.status_code == 409


def test_registry_compares_versions_and_downloads_a_zip(client, project, users, versions):
    login(client, users)
    url = reverse("training:models", args=[project.pk])
    page = client.get(url, {"compare": [v.pk for v in versions]}).content.decode()
    assert 'id="config-diff"' in page and "learning_rate" in page and "0.0002" in page
    assert "seed" not in page.split('id="config-diff"')[1].split("</table>")[0]  # identical settings hidden
    environment = page.split('id="environment-compare"')[1].split("</table>")[0]
    assert "<strong>1.10.0</strong>" in environment and "<strong>1.11.0</strong>" in environment  # differs
    assert "2.13.0" in environment and "<strong>2.13.0" not in environment  # the same torch
    response = client.get(reverse("training:model-download", args=[versions[0].pk]))
    assert response["Content-Type"] == "application/zip"
    assert 'filename="model-' in response["Content-Disposition"]
    body = b"".join(response.streaming_content)  # streamed from a spooled file, not built in memory
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["adapter_config.json"]


def test_api_downloads_a_model_version_for_leads_only(client, project, users, versions, tmp_path):
    from rest_framework.authtoken.models import Token

    def get(who, pk):
        token = Token.objects.get_or_create(user=users[who])[0].key
        return client.get(f"/api/models/{pk}/download/", HTTP_AUTHORIZATION=f"Token {token}")

    response = get("lead", versions[1].pk)
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist() == [
        "adapter_config.json"
    ]
    assert get("annotator", versions[1].pk).status_code == 403
    assert get("outsider", versions[1].pk).status_code == 404
    ModelVersion.objects.filter(pk=versions[1].pk).update(adapter_path=str(tmp_path / "gone"))
    assert get("lead", versions[1].pk).status_code == 404


@pytest.mark.slow
def test_train_dpo_button_builds_a_snapshot_and_opens_the_prefilled_form(client, project, users):
    login(client, users)
    pairs_page = client.get(reverse("preferences:pairs", args=[project.pk])).content.decode()
    assert reverse("training:train-dpo", args=[project.pk]) in pairs_page and "Train DPO" in pairs_page
    response = client.post(reverse("training:train-dpo", args=[project.pk]))
    assert response["Location"] == reverse("preferences:pairs", args=[project.pk])  # no approved pairs yet
    make_pairs(project, users["lead"], ["Is this better?", "What about now?"])
    response = client.post(reverse("training:train-dpo", args=[project.pk]))
    snapshot = DatasetSnapshot.objects.get()
    assert snapshot.kind == "dpo" and snapshot.total_count == 2
    assert response["Location"] == reverse("training:run-new", args=[project.pk]) + f"?snapshot={snapshot.pk}"
    form = client.get(response["Location"]).content.decode()
    assert f'<option value="{snapshot.pk}" selected' in form and 'name="beta"' in form
    # pressed again with the same approved pairs: the same snapshot, not a copy
    again = client.post(reverse("training:train-dpo", args=[project.pk]))
    assert again["Location"] == response["Location"] and DatasetSnapshot.objects.count() == 1
    make_pairs(project, users["lead"], ["And a third one?"])
    client.post(reverse("training:train-dpo", args=[project.pk]))
    assert DatasetSnapshot.objects.count() == 2 and DatasetSnapshot.objects.latest("id").total_count == 3


# --- API -----------------------------------------------------------------------------------------


def test_api_snapshots_runs_and_models(client, project, users, versions):
    sft_project_data(project, users, n=3, start=10)
    login(client, users)
    url = f"/api/projects/{project.pk}/snapshots/"
    response = client.post(
        url,
        {"kind": "sft", "filters": {"val_fraction": 0, "near_dup_threshold": 1}},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    snap = response.json()
    assert snap["train_count"] == 8 and snap["quality_report"]["kept"] == 8  # 5 (fixture) + 3
    assert client.get(url).json()["count"] == 2
    assert client.get(f"/api/snapshots/{snap['id']}/").json()["content_hash"] == snap["content_hash"]
    rows = b"".join(client.get(f"/api/snapshots/{snap['id']}/rows/").streaming_content).decode().splitlines()
    assert len(rows) == 8 and json.loads(rows[0])["provenance"]["item_id"]

    bad = client.post(
        f"/api/projects/{project.pk}/snapshots/",
        {"kind": "sft", "filters": {"min_agreement": 3}},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "min_agreement" in bad.json()["errors"]

    runs = f"/api/projects/{project.pk}/runs/"
    response = client.post(
        runs,
        {"snapshot": snap["id"], "config": {"learning_rate": 0, "adapter": "nope"}},
        content_type="application/json",
    )
    assert response.status_code == 400 and {"learning_rate", "adapter"} <= set(response.json()["errors"])
    assert not TrainingRun.objects.exists()
    response = client.post(
        runs, {"snapshot": snap["id"], "config": {"max_steps": 2}}, content_type="application/json"
    )
    assert response.status_code == 201 and response.json()["state"] == "queued"
    run_id = response.json()["id"]
    RunMetric.objects.create(run_id=run_id, step=1, name="loss", value=0.7)
    detail = client.get(f"/api/runs/{run_id}/").json()
    assert detail["metrics"] == {"loss": [[1, 0.7]]} and detail["percent"] == 0
    assert client.post(f"/api/runs/{run_id}/cancel/").json()["state"] == "cancelled"
    assert client.post(f"/api/runs/{run_id}/cancel/").status_code == 409
    assert client.post(f"/api/runs/{run_id}/resume/").json()["state"] == "queued"
    assert client.get(f"/api/projects/{project.pk}/models/").json()["count"] == 2

    login(client, users, "annotator")
    assert client.get(url).status_code == 403 and client.get(f"/api/runs/{run_id}/").status_code == 403
    assert client.post(f"/api/runs/{run_id}/cancel/").status_code == 403
    login(client, users, "outsider")
    assert client.get(url).status_code == 404 and client.get(f"/api/runs/{run_id}/").status_code == 404


def test_no_banner_outlives_the_state_it_describes(client, project, users, snapshot):
    """Issue 13: "Run #1 queued." stayed on the page after the run completed. Starting a run, resuming
    or cancelling one, leaves no flash message: the run page's badge is the state, polled while active."""
    login(client, users)
    data = {"snapshot": snapshot.pk, "base_model": project.base_model, "adapter": "lora", "learning_rate": "0.0002",
            "lora_r": "4", "loss_type": "sigmoid", "max_steps": "2", "num_train_epochs": "1"}  # fmt: skip
    response = client.post(reverse("training:run-new", args=[project.pk]), data, follow=True)
    run = TrainingRun.objects.get()
    page = response.content.decode()
    assert response.status_code == 200 and 'class="messages"' not in page and "queued." not in page
    assert 'id="run-state">Queued<' in page and 'hx-trigger="every 2s"' in page
    TrainingRun.objects.filter(pk=run.pk).update(state=RunState.COMPLETED)
    partial = client.get(reverse("training:run-progress", args=[run.pk]), **HX).content.decode()
    assert (
        'id="run-state">Completed<' in partial
        and "hx-trigger" not in partial
        and "queued" not in partial.lower()
    )
    TrainingRun.objects.filter(pk=run.pk).update(state=RunState.INTERRUPTED)
    page = client.post(reverse("training:run-resume", args=[run.pk]), follow=True).content.decode()
    assert 'class="messages"' not in page and 'id="run-state">Queued<' in page
    page = client.post(reverse("training:run-resume", args=[run.pk]), follow=True).content.decode()
    assert (
        'class="messages"' in page and "only interrupted, failed or cancelled runs resume" in page
    )  # refused


def test_a_building_snapshot_has_no_banner_its_page_shows_the_build(client, project, users, settings):
    sft_project_data(project, users, n=3)
    login(client, users)
    eager, app.conf.task_always_eager = (
        app.conf.task_always_eager,
        False,
    )  # as with a worker: it stays building
    try:
        response = client.post(
            reverse("training:snapshots", args=[project.pk]),
            {"kind": "sft", "val_fraction": "0", "near_dup_threshold": "1", "seed": "0"},
            follow=True,
        )
    finally:
        app.conf.task_always_eager = eager
    page = response.content.decode()
    assert DatasetSnapshot.objects.get().state == "building"
    assert 'class="messages"' not in page and 'id="snapshot-state">Building<' in page and "every 1s" in page
