"""The quality report: facts gathered in a fixed number of queries (not one per item), computed by one
pure function; gold accuracy defined once and read from the stored report; one rule deciding whether
a lead's "Recompute" queues the task or computes in the request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation import tasks
from annotation.models import AgreementReport, Item
from annotation.quality import adjudication, reports
from annotation.quality import selectors as quality_selectors
from annotation.quality import tasks as quality_tasks
from annotation.queue import services as queue_services
from tests.conftest import GOOD_SCORES, make_items
from tests.preferences.factories import judge, make_comparisons

pytestmark = pytest.mark.django_db


def judge_everything(project, users, *, sft, comparisons, start):
    make_items(project, users["lead"], sft, start=start)
    make_comparisons(project, users["lead"], comparisons, start=start, models=("m1", "m2", "m3"))
    for n, who in enumerate(("annotator", "annotator2")):
        user = users[who]
        while (a := queue_services.next_assignment(project=project, user=user)) is not None:
            decision = "accept" if (a.item_id + n) % 3 else "reject"
            queue_services.submit_judgment(assignment=a, user=user, decision=decision, scores=GOOD_SCORES)
        while queue_services.next_assignment(project=project, user=user, kind="comparison") is not None:
            judge(project, user, payload={"ranking": ["A", "B", "C"] if n else ["C", "A", "B"]})


def report_queries(project, build):
    with CaptureQueriesContext(connection) as queries:
        data = build(project)
    return len(queries.captured_queries), data


@pytest.mark.parametrize("build", [reports.reference_report, reports.build_report])
def test_a_report_takes_the_same_few_queries_for_n_and_3n_items(project, users, build):
    judge_everything(project, users, sft=3, comparisons=2, start=0)
    small, data = report_queries(project, build)
    judge_everything(project, users, sft=6, comparisons=4, start=100)
    large, bigger = report_queries(project, build)
    assert bigger["items_judged"] == 3 * data["items_judged"] == 15
    assert small == large
    if build is reports.reference_report:
        assert small == 3  # items, compared responses, current judgments


def test_gold_accuracy_is_the_reports_and_the_dashboard_reads_the_stored_one(client, project, users):
    make_items(project, users["lead"], 2)
    gold = Item.objects.filter(project=project).order_by("id").first()
    adjudication.set_gold(
        item=gold, actor=users["lead"], answer={"decision": "reject", "scores": {"safe": False}}
    )
    project.gold_share = 1.0
    project.save(update_fields=["gold_share"])
    for who, decision in (("annotator", "reject"), ("annotator2", "accept")):
        a = queue_services.next_assignment(project=project, user=users[who])
        assert a.item_id == gold.pk
        queue_services.submit_judgment(assignment=a, user=users[who], decision=decision, scores=GOOD_SCORES)
    live = quality_selectors.gold_accuracy(project)
    assert [(r["username"], r["n"], r["correct"], r["accuracy"]) for r in live] == [
        ("annotator1", 1, 1, 1.0),
        ("annotator2", 1, 0, 0.0),
    ]
    stored = reports.recompute_agreement(project=project, actor=users["lead"]).data
    assert stored["gold"] == live
    by_name = {r["username"]: r for r in stored["annotators"]["sft"]}
    assert by_name["annotator1"]["gold_accuracy"] == 1.0 and by_name["annotator2"]["gold_accuracy"] == 0.0

    client.force_login(users["lead"])
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("annotation:agreement", args=[project.pk])).content.decode()
    assert 'id="gold"' in page
    assert not any('"is_gold"' in q["sql"] for q in queries.captured_queries)  # nothing recomputed


@pytest.mark.parametrize(
    "async_agreement, eager, outcome",
    [(False, False, "recomputed"), (True, True, "recomputed"), (True, False, "queued")],
)
def test_one_rule_decides_between_queueing_and_computing_now(
    project, users, settings, monkeypatch, async_agreement, eager, outcome, django_capture_on_commit_callbacks
):
    settings.TUNELOOP_ASYNC_AGREEMENT, settings.CELERY_TASK_ALWAYS_EAGER = async_agreement, eager
    queued = []
    monkeypatch.setattr(tasks.run_agreement_recompute, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):  # the task is queued once the row is committed
        done = quality_tasks.request_recompute(project=project, actor=users["lead"])
    assert done.outcome == outcome
    if outcome == "queued":
        assert queued == [(done.recompute.pk,)] and done.report is None
        assert not AgreementReport.objects.exists()
        assert (
            tasks.run_agreement_recompute(*queued[0]) == AgreementReport.objects.get().pk
        )  # the worker's side
        assert AgreementReport.objects.get().computed_by == users["lead"]
        done.recompute.refresh_from_db()
        assert done.recompute.state == "done" and done.recompute.total == done.recompute.done
    else:
        assert queued == [] and done.report == AgreementReport.objects.get()


def test_the_api_says_queued_or_returns_the_report(project, users, settings, monkeypatch):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(users["lead"])
    url = f"/api/projects/{project.pk}/agreement/recompute/"
    assert api.post(url).status_code == 201
    settings.TUNELOOP_ASYNC_AGREEMENT = True
    monkeypatch.setattr(tasks.run_agreement_recompute, "delay", lambda *args: None)
    res = api.post(url)
    assert res.status_code == 202 and res.json()["detail"] == "Queued."
    from annotation.models import Recompute

    assert Recompute.objects.get(pk=res.json()["recompute"]).state == "queued"
