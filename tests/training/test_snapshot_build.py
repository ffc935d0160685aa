"""Snapshots build in a task: the request creates a `building` row and queues the build; the task
records progress, then `ready` with rows, or `failed` with the reason. Runs refuse a snapshot that
is not ready; the pages poll its progress."""

import pytest
from django.urls import reverse

from config.celery import app
from tests.training.factories import import_sft, judge_all, sft_project_data
from training import runs, tasks
from training.models import DatasetSnapshot, SnapshotRow, SnapshotState, TrainingRun
from training.snapshots import builder

pytestmark = pytest.mark.django_db
NO_NEAR_DEDUPE = {"near_dup_threshold": 1, "val_fraction": 0}


@pytest.fixture
def with_a_worker():
    """As with a real broker: the build is queued on commit instead of running here."""
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = eager


def request(project, users, capture, **filters):
    with capture(execute=False) as callbacks:
        snapshot = runs.request_snapshot(
            project=project, actor=users["lead"], kind="sft", filters={**NO_NEAR_DEDUPE, **filters}
        )
    assert len(callbacks) == 1  # the build is queued once, after commit
    return snapshot


def test_the_request_returns_a_building_snapshot_and_the_task_builds_it_with_progress(
    project, users, with_a_worker, django_capture_on_commit_callbacks, monkeypatch
):
    sft_project_data(project, users, n=4)
    snapshot = request(project, users, django_capture_on_commit_callbacks)
    assert (snapshot.state, snapshot.progress, snapshot.percent) == (SnapshotState.BUILDING, 0.0, 0)
    assert not SnapshotRow.objects.filter(snapshot=snapshot).exists()

    seen = []
    writer = builder._progress_writer

    def recording(snapshot_id):
        write = writer(snapshot_id)

        def progress(fraction, stage):
            seen.append((fraction, stage))
            write(fraction, stage)

        return progress

    monkeypatch.setattr(builder, "_progress_writer", recording)
    assert tasks.build_snapshot_task(snapshot.pk) == SnapshotState.READY
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] < 1
    assert {"reading approved data", "writing rows"} <= {stage for _, stage in seen}
    snapshot.refresh_from_db()
    assert (snapshot.state, snapshot.progress, snapshot.percent, snapshot.stage) == ("ready", 1.0, 100, "")
    assert snapshot.train_count == 4 and SnapshotRow.objects.filter(snapshot=snapshot).count() == 4
    assert len(snapshot.content_hash) == 64 and snapshot.quality_report["kept"] == 4
    # a second delivery of the same message does nothing
    assert tasks.build_snapshot_task(snapshot.pk) == "skipped"


def test_progress_is_written_while_building(
    project, users, with_a_worker, django_capture_on_commit_callbacks
):
    sft_project_data(project, users, n=2)
    snapshot = request(project, users, django_capture_on_commit_callbacks)
    write = builder._progress_writer(snapshot.pk)
    write(0.42, "embedding prompts")
    snapshot.refresh_from_db()
    assert (snapshot.progress, snapshot.stage, snapshot.percent) == (0.42, "embedding prompts", 42)


def test_a_failed_build_is_recorded_and_runs_refuse_it(
    project, users, with_a_worker, django_capture_on_commit_callbacks, client
):
    import_sft(
        project, users["lead"], [("Mail me at jane.doe@example.com", "Sure."), ("Call 555-0100-1234", "Ok.")]
    )
    judge_all(project, users)
    # the filters pass every candidate; dropping PII happens in the build and leaves nothing
    snapshot = request(project, users, django_capture_on_commit_callbacks, drop_pii=True)
    assert tasks.build_snapshot_task(snapshot.pk) == SnapshotState.FAILED
    snapshot.refresh_from_db()
    assert snapshot.state == SnapshotState.FAILED and "No rows" in snapshot.error and "pii" in snapshot.error
    assert not SnapshotRow.objects.filter(snapshot=snapshot).exists()
    with pytest.raises(runs.InvalidInput) as exc:
        runs.start_run(project=project, actor=users["lead"], snapshot=snapshot, config={})
    assert "failed to build" in exc.value.errors["snapshot"][0]
    client.force_login(users["lead"])
    page = client.get(reverse("training:snapshot", args=[snapshot.pk])).content.decode()
    assert 'id="snapshot-error"' in page and "No rows" in page and "hx-trigger" not in page


def test_runs_refuse_a_building_snapshot_and_the_pages_poll_its_progress(
    project, users, with_a_worker, django_capture_on_commit_callbacks, client
):
    sft_project_data(project, users, n=3)
    snapshot = request(project, users, django_capture_on_commit_callbacks)
    with pytest.raises(runs.InvalidInput) as exc:
        runs.start_run(project=project, actor=users["lead"], snapshot=snapshot, config={"max_steps": 1})
    assert "still building" in exc.value.errors["snapshot"][0] and not TrainingRun.objects.exists()

    client.force_login(users["lead"])
    page = client.get(reverse("training:snapshot", args=[snapshot.pk])).content.decode()
    progress_url = reverse("training:snapshot-progress", args=[snapshot.pk])
    assert f'hx-get="{progress_url}"' in page and 'hx-trigger="every 1s"' in page and "<progress" in page
    form = client.get(reverse("training:run-new", args=[project.pk]) + f"?snapshot={snapshot.pk}")
    assert 'id="pending-snapshot"' in form.content.decode()
    partial = client.get(progress_url, HTTP_HX_REQUEST="true")
    assert "every 1s" in partial.content.decode() and "HX-Refresh" not in partial

    tasks.build_snapshot_task(snapshot.pk)
    partial = client.get(progress_url, HTTP_HX_REQUEST="true")
    assert partial["HX-Refresh"] == "true" and "hx-trigger" not in partial.content.decode()
    snapshot.refresh_from_db()
    assert runs.start_run(project=project, actor=users["lead"], snapshot=snapshot, config={"max_steps": 1})


def test_the_api_and_the_form_return_at_once_with_a_building_snapshot(
    project, users, with_a_worker, django_capture_on_commit_callbacks, client
):
    sft_project_data(project, users, n=3)
    client.force_login(users["lead"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            f"/api/projects/{project.pk}/snapshots/",
            {"kind": "sft", "filters": NO_NEAR_DEDUPE},
            content_type="application/json",
        )
    assert response.status_code == 201 and len(callbacks) == 1
    body = response.json()
    assert (body["state"], body["percent"], body["train_count"]) == ("building", 0, 0)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("training:snapshots", args=[project.pk]),
            {"kind": "sft", "near_dup_threshold": "1", "val_fraction": "0", "seed": "0"},
        )
    snapshot = DatasetSnapshot.objects.latest("id")
    assert response.status_code == 302 and snapshot.state == SnapshotState.BUILDING and len(callbacks) == 1
    assert response["Location"] == reverse("training:snapshot", args=[snapshot.pk])


def test_train_dpo_twice_while_building_reuses_the_building_snapshot(
    project, users, with_a_worker, django_capture_on_commit_callbacks, client
):
    from tests.training.factories import make_pairs

    make_pairs(project, users["lead"], ["Is this better?", "What about now?"])
    client.force_login(users["lead"])
    url = reverse("training:train-dpo", args=[project.pk])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = client.post(url)
        second = client.post(url)
    snapshot = DatasetSnapshot.objects.get()
    assert snapshot.state == SnapshotState.BUILDING and len(callbacks) == 1
    assert (
        first["Location"]
        == second["Location"]
        == (reverse("training:run-new", args=[project.pk]) + f"?snapshot={snapshot.pk}")
    )
