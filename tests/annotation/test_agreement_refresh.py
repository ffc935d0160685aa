"""Agreement reports stay current without anyone computing them on a page view: beat's refresh task
recomputes the projects whose judgments or adjudications changed, and the lead's button can hand
the work to the Celery worker (TUNELOOP_ASYNC_AGREEMENT)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation import tasks
from annotation.models import AgreementReport, Judgment
from annotation.quality import selectors as quality_selectors
from annotation.queue import services as queue_services
from tests.conftest import GOOD_SCORES, make_items

pytestmark = pytest.mark.django_db


def judge_all(project, users, n):
    make_items(project, users["lead"], n)
    for who in ("annotator", "annotator2"):
        while (a := queue_services.next_assignment(project=project, user=users[who])) is not None:
            queue_services.submit_judgment(
                assignment=a, user=users[who], decision="accept", scores=GOOD_SCORES
            )


def test_refresh_recomputes_only_projects_that_changed(project, users):
    assert tasks.refresh_agreement_reports() == []  # no judgments, nothing to compute
    judge_all(project, users, 3)
    assert tasks.refresh_agreement_reports() == [project.pk]
    first = AgreementReport.objects.get(project=project)
    assert first.data["judgments"] == 6
    assert tasks.refresh_agreement_reports() == []  # nothing new since
    # a judgment newer than the report makes it stale again
    AgreementReport.objects.filter(pk=first.pk).update(computed_at=timezone.now() - timedelta(minutes=5))
    Judgment.objects.filter(pk=Judgment.objects.latest("id").pk).update(created_at=timezone.now())
    assert quality_selectors.projects_with_stale_agreement() == [project]
    assert tasks.refresh_agreement_reports() == [project.pk]
    assert AgreementReport.objects.filter(project=project).count() == 2


def test_the_refresh_runs_on_beat(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["refresh-agreement-reports"]
    assert schedule["task"] == tasks.refresh_agreement_reports.name and schedule["schedule"] > 0


def test_the_recompute_button_queues_a_task_when_asked_to(
    client, project, users, settings, django_capture_on_commit_callbacks
):
    from config.celery import app

    judge_all(project, users, 2)
    settings.TUNELOOP_ASYNC_AGREEMENT = True
    client.force_login(users["lead"])
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the worker's side runs here
    try:
        with django_capture_on_commit_callbacks(execute=True):  # queued once the request's row commits
            res = client.post(reverse("annotation:agreement", args=[project.pk]), HTTP_HX_REQUEST="true")
    finally:
        app.conf.task_always_eager = eager
    assert res.status_code == 200 and "Recomputing in the background" in res.content.decode()
    assert AgreementReport.objects.filter(project=project).count() == 1
