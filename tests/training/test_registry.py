"""The model registry: version names unique per project (a constraint; allocated under the project's
row lock, so two runs finishing together get v1 and v2), and promote, which points the project at a
version (Project.current_model_path) for a lead, by button or API, audited."""

import threading
import time

import pytest
from django.db import IntegrityError, connections
from django.urls import reverse

from annotation.core.errors import Forbidden
from annotation.models import AuditEvent, Project
from training import registry, registry_links, worker
from training.models import DatasetSnapshot, ModelVersion, RunState, TrainingRun


def running_run(project, tmp_path, n):
    snapshot = DatasetSnapshot.objects.create(
        project=project, kind="sft", name=f"s{n}", content_hash=f"{n}" * 64
    )
    run = TrainingRun.objects.create(project=project, snapshot=snapshot, method="sft", state=RunState.RUNNING)
    adapter = tmp_path / f"adapter{n}"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights %d" % n)
    return run, {"status": "completed", "adapter_dir": str(adapter), "config": {"base_model": "tiny"}}


@pytest.mark.django_db
def test_names_never_collide_and_the_constraint_holds(project, tmp_path):
    first, result = running_run(project, tmp_path, 1)
    worker.finish_run(run_id=first.pk, attempt=1, result=result)
    second, result = running_run(project, tmp_path, 2)
    worker.finish_run(run_id=second.pk, attempt=1, result=result)
    names = list(ModelVersion.objects.order_by("id").values_list("name", flat=True))
    assert names == ["Demo SFT v1", "Demo SFT v2"]
    # the fallback hash is the pipeline's weights hash
    from training.pipeline import weights_sha256

    assert ModelVersion.objects.get(run=first).adapter_sha256 == weights_sha256(tmp_path / "adapter1")
    ModelVersion.objects.filter(run=first).delete()  # a count-based name would now repeat "v2"
    third, result = running_run(project, tmp_path, 3)
    worker.finish_run(run_id=third.pk, attempt=1, result=result)
    assert ModelVersion.objects.get(run=third).name == "Demo SFT v3"
    with pytest.raises(IntegrityError):
        ModelVersion.objects.create(project=project, name="Demo SFT v3", base_model="x", adapter_path="y")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_finishing_together_get_distinct_names(project, tmp_path, monkeypatch):
    """Threads with their own connections; the name allocation is slowed down so that without the
    project lock both would read the same versions and pick the same name."""
    pairs = [running_run(project, tmp_path, n) for n in (1, 2)]
    allocate = registry.next_version_name

    def slow(project, method):
        name = allocate(project, method)
        time.sleep(0.3)
        return name

    monkeypatch.setattr(registry, "next_version_name", slow)
    start, errors = threading.Barrier(2), []

    def finish(run, result):
        try:
            start.wait()
            worker.finish_run(run_id=run.pk, attempt=1, result=result)
        except BaseException as exc:  # reported to the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=finish, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads) and not errors, errors
    assert sorted(ModelVersion.objects.values_list("name", flat=True)) == ["Demo SFT v1", "Demo SFT v2"]
    assert set(TrainingRun.objects.values_list("state", flat=True)) == {RunState.COMPLETED}


@pytest.fixture
def unguarded(monkeypatch):
    """Training's own promotion mechanics, without the guards later apps add (evaluation's gates:
    tested in tests/evaluation/test_promotion.py)."""
    monkeypatch.setattr(registry_links, "GUARDS", [])


@pytest.mark.django_db
@pytest.mark.usefixtures("unguarded")
def test_promote_points_the_project_at_the_version_and_is_audited(project, users, tmp_path, client):
    run, result = running_run(project, tmp_path, 1)
    version = worker.finish_run(run_id=run.pk, attempt=1, result=result).model_version
    with pytest.raises(Forbidden):
        registry.promote(version, by=users["annotator"])
    assert Project.objects.get(pk=project.pk).current_model_path == ""
    registry.promote(version, by=users["lead"])
    assert Project.objects.get(pk=project.pk).current_model_path == str(tmp_path / "adapter1")
    event = AuditEvent.objects.filter(verb="model.promoted").get()
    assert event.actor == users["lead"] and event.data["path"] == str(tmp_path / "adapter1")

    other, result = running_run(project, tmp_path, 2)
    second = worker.finish_run(run_id=other.pk, attempt=1, result=result).model_version
    client.force_login(users["lead"])
    page = client.get(reverse("training:models", args=[project.pk])).content.decode()
    assert 'id="current-model"' in page and f'form="promote-{second.pk}"' in page
    response = client.post(reverse("training:model-promote", args=[second.pk]))
    assert response.status_code == 302
    assert Project.objects.get(pk=project.pk).current_model_path == str(tmp_path / "adapter2")

    client.force_login(users["annotator"])
    assert client.post(reverse("training:model-promote", args=[version.pk])).status_code == 403


@pytest.mark.django_db
@pytest.mark.usefixtures("unguarded")
def test_api_promote_for_leads_only(project, users, tmp_path):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    run, result = running_run(project, tmp_path, 1)
    version = worker.finish_run(run_id=run.pk, attempt=1, result=result).model_version

    def post(who):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=users[who])[0].key}")
        return api.post(f"/api/models/{version.pk}/promote/")

    assert post("annotator").status_code == 403 and post("outsider").status_code == 404
    assert Project.objects.get(pk=project.pk).current_model_path == ""
    response = post("lead")
    assert response.status_code == 200 and response.json()["is_current"] is True
    assert Project.objects.get(pk=project.pk).current_model_path == version.adapter_path
