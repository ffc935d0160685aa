"""A worker killed mid-task: a late-acked task (a snapshot build) is redelivered by Redis after the
visibility timeout, another worker runs it, and the result exists once (one snapshot, its rows not
doubled, one audit event). Training runs, which are not late-acked, are recovered by the restart
check instead (tests/training/test_worker.py, the killed worker's interrupted run resumes)."""

import re

import pytest

from annotation.models import AuditEvent
from tests.faults.conftest import wait_for
from tests.training.factories import sft_project_data
from training import runs
from training.models import DatasetSnapshot, SnapshotState
from training.tasks import build_snapshot_task

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]
SHORT = {"TUNELOOP_BROKER_VISIBILITY_TIMEOUT": "3"}


def test_a_build_whose_worker_is_killed_runs_again_elsewhere_once(
    private_broker, workers, project, users, tmp_path
):
    redis = private_broker
    assert build_snapshot_task.acks_late  # the global CELERY_TASK_ACKS_LATE: acknowledged when done
    sft_project_data(project, users, n=6)
    marker = tmp_path / "embedding"
    doomed = workers(
        redis, "doomed", TUNELOOP_EMBEDDER="tests.faults.helpers.stalling_embedder", FAULTS_MARKER=str(marker),
        **SHORT,
    )  # fmt: skip
    snapshot = runs.request_snapshot(project=project, actor=users["lead"], kind="sft", filters={})
    assert snapshot.state == SnapshotState.BUILDING
    wait_for(marker.exists, 60, "the build to reach its embedding step", doomed.log)
    doomed.kill()  # SIGKILL mid-task: the message was taken, never acknowledged
    task_id = re.search(r"build_snapshot_task\[([0-9a-f-]+)\] received", doomed.log.read_text()).group(1)
    half = DatasetSnapshot.objects.get(pk=snapshot.pk)
    assert (
        half.state == SnapshotState.BUILDING and half.stage == "embedding prompts" and not half.rows.exists()
    )

    rescuer = workers(redis, "rescuer", **SHORT)
    built = wait_for(
        lambda: DatasetSnapshot.objects.filter(pk=snapshot.pk, state=SnapshotState.READY).first(), 60,
        "another worker to build the snapshot", rescuer.log,
    )  # fmt: skip
    assert f"build_snapshot_task[{task_id}] received" in rescuer.log.read_text()  # the same message
    assert DatasetSnapshot.objects.filter(project=project).count() == 1
    assert built.rows.count() == built.train_count + built.val_count > 0
    assert AuditEvent.objects.filter(verb="snapshot.created").count() == 1

    # The same message once more (a second redelivery, an outbox copy): nothing changes.
    again = build_snapshot_task.apply_async(args=[snapshot.pk])
    assert again.get(timeout=30) == "skipped", rescuer.log.read_text()
    assert built.rows.count() == DatasetSnapshot.objects.get(pk=snapshot.pk).rows.count()
