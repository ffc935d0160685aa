"""Redis stopped: annotation and review keep working (pages and API, no request hangs), the training
pages say training is unavailable, work asked for meanwhile is kept (the outbox) and a real worker
runs it once Redis is back."""

import time

import pytest
from django.test import Client
from django.urls import reverse

from annotation.core import broker
from annotation.models import Assignment, AssignmentState, Judgment, PendingTask
from tests.annotation.factories import client_for
from tests.conftest import GOOD_SCORES, make_items
from tests.faults.conftest import wait_for
from tests.preferences.factories import make_cmp_project, make_comparisons
from tests.training.factories import sft_project_data, word_embedder
from training import runs, snapshots
from training.models import DatasetSnapshot, RunState, SnapshotState, TrainingRun

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]
HX = {"HTTP_HX_REQUEST": "true"}
QUICK = 3.0  # seconds: no request may wait on the dead broker longer than this


class timed:
    def __enter__(self):
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.seconds = time.monotonic() - self.start
        assert self.seconds < QUICK, f"the request took {self.seconds:.1f} s with the broker down"


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def annotate_without_the_broker(project, cmp, users):
    """Review (page and API) and compare (page and API) each take and submit an item."""
    annotator = page_client(users["annotator"])
    warm = page_client(users["annotator2"])  # the first render of each page (templates, URLs) is not timed
    warm.get(reverse("annotation:review", args=[project.pk]))
    warm.get(reverse("preferences:compare", args=[cmp.pk]))
    with timed():
        assert annotator.get(reverse("annotation:review", args=[project.pk])).status_code == 200
    leased = Assignment.objects.get(
        annotator=users["annotator"], project=project, state=AssignmentState.LEASED
    )
    form = {"decision": "accept", "score_helpfulness": "4", "score_safe": "yes", "duration_seconds": "3"}
    with timed():
        assert annotator.post(reverse("annotation:submit", args=[leased.pk]), form, **HX).status_code == 200
    with timed():
        assert annotator.get(reverse("preferences:compare", args=[cmp.pk])).status_code == 200
    compared = Assignment.objects.get(annotator=users["annotator"], project=cmp, state=AssignmentState.LEASED)
    with timed():
        r = annotator.post(
            reverse("preferences:compare-submit", args=[compared.pk]), {"choice": "A", "strength": "2"}, **HX
        )
    assert r.status_code == 200, r.content.decode()[-2000:]

    api = client_for(users["annotator2"])
    for p, kind, body in (
        (project, "sft", {"decision": "accept", "scores": GOOD_SCORES}),
        (cmp, "comparison", {"payload": {"choice": "B", "strength": 1}}),
    ):
        with timed():
            task = api.get(f"/api/projects/{p.pk}/next/?kind={kind}").json()
        with timed():
            r = api.post(f"/api/assignments/{task['assignment']}/submit/", body, format="json",
                         HTTP_IDEMPOTENCY_KEY=f"down-{kind}")  # fmt: skip
        assert r.status_code == 201, r.content
    assert Judgment.objects.filter(assignment__project__in=[project, cmp]).count() >= 4


def test_redis_stopped_annotation_goes_on_and_queued_work_runs_when_it_returns(
    private_broker, workers, project, users
):
    redis = private_broker
    sft_project_data(project, users, n=4)
    ready = snapshots.build_snapshot(
        project=project, actor=users["lead"], kind="sft", filters={"val_fraction": 0}, embedder=word_embedder
    )
    make_items(project, users["lead"], 3, start=100)
    cmp = make_cmp_project(users)
    make_comparisons(cmp, users["lead"], 3)

    redis.stop()
    annotate_without_the_broker(project, cmp, users)

    lead = page_client(users["lead"])
    with timed():
        page = lead.get(reverse("training:runs", args=[project.pk])).content.decode()
    assert 'data-broker="down"' in page and "Training is unavailable" in page
    # Asking for a snapshot: a clear message, not a 500, and the snapshot waits in `building`.
    with timed():
        r = lead.post(reverse("training:snapshots", args=[project.pk]), {"kind": "sft", "val_fraction": "0"},
                      follow=True)  # fmt: skip
    assert r.status_code == 200
    html = r.content.decode()
    assert "is kept queued and starts when it is back" in html
    waiting = DatasetSnapshot.objects.exclude(pk=ready.pk).get()
    assert waiting.state == SnapshotState.BUILDING
    # A training run (a base model that does not exist: the worker fails it fast; the point is that it runs).
    with timed():
        run = runs.start_run(
            project=project, actor=users["lead"], snapshot=ready,
            config={"base_model": "/nonexistent/model", "max_steps": 1},
        )  # fmt: skip
    assert TrainingRun.objects.get(pk=run.pk).state == RunState.QUEUED
    assert sorted(PendingTask.objects.values_list("name", flat=True)) == [
        "training.snapshots.build_snapshot_task",
        "training.tasks.run_training_task",
    ]
    assert not broker.available()

    redis.start()
    worker = workers(redis, "back")
    worker.wait_ready()
    # The worker flushed the outbox as it started: the snapshot is built and the run was taken.
    wait_for(lambda: DatasetSnapshot.objects.get(pk=waiting.pk).state == SnapshotState.READY, 60,
             "the snapshot asked for while Redis was down", worker.log)  # fmt: skip
    run = wait_for(lambda: TrainingRun.objects.filter(pk=run.pk).exclude(state=RunState.QUEUED).first(), 60,
                   "the run asked for while Redis was down", worker.log)  # fmt: skip
    assert run.worker_hostname == worker.node
    assert not PendingTask.objects.exists()
    built = DatasetSnapshot.objects.get(pk=waiting.pk)
    assert built.rows.count() == built.train_count + built.val_count > 0
    broker._state.update(checked=0.0)
    assert broker.available()
    assert 'data-broker="down"' not in lead.get(reverse("training:runs", args=[project.pk])).content.decode()


def test_a_publish_with_the_broker_down_fails_fast_and_is_kept(private_broker, project, users):
    from annotation.tasks import worker_heartbeat

    private_broker.stop()
    start = time.monotonic()
    assert broker.send(worker_heartbeat) is False
    assert time.monotonic() - start < QUICK
    assert PendingTask.objects.get().name == "annotation.tasks.worker_heartbeat"
    assert broker.flush() == 0 and PendingTask.objects.get().attempts == 1  # still down: kept
    private_broker.start()
    flushed = broker.flush()
    assert flushed == 1 and not PendingTask.objects.exists(), PendingTask.objects.get().error
