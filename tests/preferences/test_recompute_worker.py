"""A real Celery worker (a subprocess on Redis and the PostgreSQL test database) runs a lead's
consensus recompute: the request only records and queues it; the worker's progress and result land
on the `Recompute` row the page polls."""

import pytest

from annotation.models import Recompute
from preferences import tasks
from preferences.models import Consensus
from tests.annotation.test_worker import worker  # noqa: F401  (the fixture)
from tests.preferences.factories import judge, make_cmp_project, make_comparisons

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


class OnQueue:
    """The consensus task, sent to the test worker's own queue."""

    def __init__(self, queue):
        self.queue, self.results = queue, []

    def delay(self, recompute_id):
        self.results.append(tasks.recompute_consensus.apply_async((recompute_id,), queue=self.queue))


def test_the_worker_runs_a_queued_consensus_recompute(worker, users, settings):  # noqa: F811
    from annotation.core import recomputes

    settings.TUNELOOP_ASYNC_AGREEMENT, settings.CELERY_TASK_ALWAYS_EAGER = True, False
    cmp = make_cmp_project(users)
    make_comparisons(cmp, users["lead"], 3)
    for _ in range(3):
        judge(cmp, users["annotator"], prefer="model-a")
    task = OnQueue(worker["queue"])
    rec = recomputes.request(
        project=cmp, what="consensus:majority", params={"rule": "majority", "min_confidence": 0.0},
        actor=users["lead"], task=task,
    )  # fmt: skip
    assert rec.state == "queued" and not Consensus.objects.exists()  # the request returned at once
    assert task.results[0].get(timeout=60) == rec.pk, worker["log"].read_text()
    rec = Recompute.objects.get(pk=rec.pk)
    assert (rec.state, rec.mode, rec.result["comparisons"]) == ("done", "full", 3)
    assert rec.done == rec.total > 0 and Consensus.objects.filter(item__project=cmp).count() == 3
