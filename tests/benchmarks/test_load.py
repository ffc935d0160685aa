"""benchmarks/load.py: the checks it runs after the load find what they must (a lost, an unacknowledged,
a duplicated judgment, an item over its overlap, counters that disagree with the assignments), and a
short bounded run (8 annotators for 15 s through gunicorn on PostgreSQL) loses nothing. Correctness
only: timings on a shared machine prove nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from annotation.models import Assignment, Item, Judgment
from annotation.queue import services as queue_services
from benchmarks.load import verify
from tests.conftest import GOOD_SCORES

ROOT = Path(__file__).resolve().parents[2]


def _judge(project, user, *, decision="accept"):
    a = queue_services.next_assignment(project=project, user=user)
    j = queue_services.submit_judgment(assignment=a, user=user, decision=decision, scores=GOOD_SCORES)
    return a, j


@pytest.mark.django_db
def test_verify_holds_for_what_was_acknowledged_and_finds_each_violation(project, users, items):
    one, two = users["annotator"], users["annotator2"]
    a1, j1 = _judge(project, one)
    _, j2 = _judge(project, two)
    skipped = queue_services.next_assignment(project=project, user=one)
    queue_services.skip_assignment(assignment=skipped, user=one, reason="unclear")
    j3 = queue_services.submit_judgment(assignment=a1, user=one, decision="reject", scores=GOOD_SCORES)
    acked = {(j1.item_id, one.pk): j3.pk, (j2.item_id, two.pk): j2.pk}
    ids = [j1.pk, j2.pk, j3.pk]
    skips = [(skipped.item_id, one.pk)]
    assert verify([project.pk], acked, ids, skips) == []

    # a lost acknowledgement, one never told, a superseded one reported as current, an unknown row
    assert any("lost" in p for p in verify([project.pk], {**acked, (items[4].pk, one.pk): 999}, ids, skips))
    assert any(
        "never acknowledged" in p for p in verify([project.pk], {(j1.item_id, one.pk): j3.pk}, ids, skips)
    )
    stale = {**acked, (j1.item_id, one.pk): j1.pk}
    assert any("the last acknowledged" in p for p in verify([project.pk], stale, ids, skips))
    assert any("no submit was told" in p for p in verify([project.pk], acked, [j1.pk, j2.pk], skips))
    # a judgment on an item the annotator skipped
    assert any("skipped" in p for p in verify([project.pk], acked, ids, [(j1.item_id, one.pk)]))


@pytest.mark.django_db
def test_verify_finds_items_over_their_overlap_and_counters_off(project, users, items, django_user_model):
    project.overlap = 1
    project.save(update_fields=["overlap"])
    one, two = users["annotator"], users["annotator2"]
    _, j1 = _judge(project, one)
    assert verify([project.pk], {(j1.item_id, one.pk): j1.pk}, [j1.pk], []) == []
    # a second annotator's judgment on the full item, written behind the queue's back
    a = Assignment.objects.create(
        item_id=j1.item_id, annotator=two, project=project, state="submitted", leased_until=timezone.now()
    )
    j2 = Judgment.objects.create(assignment=a, item_id=j1.item_id, annotator=two, decision="accept")
    acked = {(j1.item_id, one.pk): j1.pk, (j1.item_id, two.pk): j2.pk}
    problems = verify([project.pk], acked, [j1.pk, j2.pk], [])
    assert any("2 annotators, its overlap is 1" in p for p in problems)
    assert any("its assignments say" in p for p in problems)  # lifecycle.check_item's finding
    assert Item.objects.get(pk=j1.item_id).submitted_count == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_short_load_run_loses_nothing():
    settings = connection.settings_dict
    url = (
        f"postgres://{settings['USER']}:{settings['PASSWORD'] or ''}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    connection.close()  # the server and the script use their own connections to the test database
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/load.py",
            "--no-migrate",
            "--annotators",
            "8",
            "--duration",
            "15",
            "--think",
            "0.3",
            "--items",
            "300",
            "--comparisons",
            "200",
            "--client-processes",
            "2",
            "--skip-rate",
            "0.1",
            "--retry-rate",
            "0.2",
            "--resubmit-rate",
            "0.2",
            "--gunicorn-workers",
            "2",
            "--gunicorn-threads",
            "4",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "all hold" in out and "errors by call and status: none" in out, out[-4000:]
    for call in ("next", "submit", "skip", "retry", "resubmit"):
        assert f"\n  {call} " in out, f"no {call} call was made:\n{out[-3000:]}"
