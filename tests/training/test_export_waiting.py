"""An export of a snapshot still building waits, queued, and starts when the build ends, whatever the
timing: the request and the build's end take turns on the snapshot's row (exports.lock_snapshot); a
queued export never starts from a snapshot that is not ready; a lost message is sent again."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.training.factories import make_pairs
from training import exports, runs, snapshots, tasks
from training.models import ExportJob, RunState, SnapshotState

FILTERS = {"near_dup_threshold": 1.0, "val_fraction": 0}


def building_snapshot(project, users, n=4):
    make_pairs(project, users["lead"], [f"Prompt {i}?" for i in range(n)])
    snap, created = snapshots.create_snapshot(
        project=project, actor=users["lead"], kind="dpo", filters=FILTERS
    )
    assert created and snap.state == SnapshotState.BUILDING
    return snap


@pytest.mark.django_db
def test_an_export_of_a_building_snapshot_waits_and_starts_when_the_build_ends(
    project, users, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    snap = building_snapshot(project, users)
    job = runs.request_export(snapshot=snap, actor=users["lead"], layout="trl-preference", fmt="jsonl")
    assert job.state == RunState.QUEUED
    # a message that arrives early (a duplicate, a sweep) does not start it from a half-built snapshot
    assert tasks.run_export_task.apply(args=[job.pk, job.attempt]).get() == "skipped"
    job.refresh_from_db()
    assert job.state == RunState.QUEUED and job.started_at is None
    assert tasks.build_snapshot_task(snap.pk) == SnapshotState.READY
    job.refresh_from_db()
    assert job.state == RunState.COMPLETED and job.rows_done == 4


@pytest.mark.django_db
def test_a_queued_export_whose_message_was_lost_is_sent_again(project, users, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    snap = building_snapshot(project, users, n=2)
    tasks.build_snapshot_task(snap.pk)
    job = ExportJob.objects.create(project=project, snapshot=snap, layout="trl-preference", format="csv")
    assert tasks.recover_stale_exports() == []  # just queued: its message may still be on its way
    job.refresh_from_db()
    assert job.state == RunState.QUEUED
    ExportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(hours=1))
    tasks.recover_stale_exports()
    job.refresh_from_db()
    assert job.state == RunState.COMPLETED and job.rows_done == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_export_requested_while_the_build_ends_is_never_forgotten(project, users, settings, tmp_path,
                                                                     monkeypatch):  # fmt: skip
    """The request reads `building` and, before it commits, the build ends. Without the lock, the
    build's end would look for waiting exports before the request's job exists, and the request would
    not queue it either: the job would stay queued forever. With it, the build's end waits."""
    settings.DATA_DIR = tmp_path
    snap = building_snapshot(project, users)
    has_read, go = threading.Event(), threading.Event()
    real_lock = exports.lock_snapshot

    def lock_then_pause(pk):
        snapshot = real_lock(pk)
        has_read.set()
        go.wait(10)  # the request's transaction stays open, the snapshot's row locked
        return snapshot

    monkeypatch.setattr(exports, "lock_snapshot", lock_then_pause)
    errors = []

    def in_thread(fn):
        def run():
            try:
                fn()
            except Exception as exc:  # surfaced by the asserts below
                errors.append(exc)
            finally:
                connection.close()

        return threading.Thread(target=run)

    request = in_thread(
        lambda: runs.request_export(snapshot=snap, actor=users["lead"], layout="trl-preference", fmt="jsonl")
    )
    request.start()
    assert has_read.wait(10)
    build_end = in_thread(lambda: tasks.build_snapshot_task(snap.pk))
    build_end.start()
    build_end.join(3)  # without the lock it would be done by now, having found no waiting export
    blocked = build_end.is_alive()
    go.set()
    request.join(30)
    build_end.join(60)
    assert not errors, errors
    assert blocked, "the build's end did not wait for the export request's commit"
    job = ExportJob.objects.get(snapshot=snap)
    assert job.state == RunState.COMPLETED and job.rows_done == 4
