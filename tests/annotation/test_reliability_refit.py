"""The Dawid-Skene refit moved out of the incremental recompute (annotation.quality.refit): on a worker an
incremental recompute keeps the latest fit, queues one debounced refit, and the refit's report equals a
full recompute's; reliability rows are rewritten only where they changed."""

import pytest
from django.utils import timezone

from annotation.models import AgreementReport, AnnotatorReliability
from annotation.quality import refit, reports, tasks
from tests.annotation.test_agreement_incremental import _judge_all, crowd  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(settings, monkeypatch):
    """A worker is configured; queued refits are recorded instead of sent."""
    settings.TUNELOOP_ASYNC_AGREEMENT = True
    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued = []
    monkeypatch.setattr(refit, "_send", lambda project_id, delay: queued.append([project_id]))
    return queued


def _figures(data):
    return {k: v for k, v in data.items() if k not in ("computed_at", "reliability_as_of")}


def _fit(data):
    return {
        (kind, r["user_id"]): (r["reliability"], r["weight"])
        for kind, rows in data["annotators"].items()
        for r in rows
    }


def test_an_incremental_recompute_on_a_worker_keeps_the_fit_and_queues_one_refit(crowd, worker):  # noqa: F811
    project, people, lead = crowd
    _judge_all(project, people, 4, lead, 0)
    first = reports.recompute_agreement(project=project)  # full: fits in place
    assert worker == [] and first.data["reliability_as_of"] == first.data["computed_at"]
    since = timezone.now()
    _judge_all(project, people, 6, lead, 100)
    second = reports.recompute_agreement(project=project, since=since)
    assert second.mode == "incremental" and worker == [[project.pk]]
    assert second.data["reliability_as_of"] == first.data["reliability_as_of"]  # the latest fit, kept
    kept = _fit(second.data)
    assert kept and all(kept[k] == v for k, v in _fit(first.data).items() if k in kept)
    assert second.data["judgments"] > first.data["judgments"]  # the sums are up to date
    since = timezone.now()
    _judge_all(project, people, 2, lead, 200)
    reports.recompute_agreement(project=project, since=since)
    assert worker == [[project.pk]]  # debounced: one refit pending
    refitted = AgreementReport.objects.get(pk=tasks.refit_reliability(project.pk))
    full = reports.build(project)[0]
    assert _figures(refitted.data) == _figures(full)  # the refit's report is a full recompute's
    assert refitted.data["reliability_as_of"] == refitted.data["computed_at"]
    since = timezone.now()
    _judge_all(project, people, 2, lead, 300)
    reports.recompute_agreement(project=project, since=since)
    assert worker == [[project.pk], [project.pk]]  # the refit started: a later change queues the next


def test_without_a_worker_every_recompute_refits_in_place(crowd):  # noqa: F811
    project, people, lead = crowd
    _judge_all(project, people, 3, lead, 0)
    reports.recompute_agreement(project=project)
    since = timezone.now()
    _judge_all(project, people, 3, lead, 100)
    stored = reports.recompute_agreement(project=project, since=since)
    assert stored.data["reliability_as_of"] == stored.data["computed_at"]
    assert _figures(stored.data) == _figures(reports.build(project)[0])
    assert refit.inline(since) and refit.inline(None)


def test_reliability_rows_are_rewritten_only_where_they_changed(crowd):  # noqa: F811
    project, people, lead = crowd
    _judge_all(project, people, 4, lead, 0)
    report = reports.recompute_agreement(project=project)
    before = dict(AnnotatorReliability.objects.filter(project=project).values_list("id", "updated_at"))
    assert before
    data = report.data
    changed_row = data["annotators"]["sft"][0]
    changed_row["judgments"] += 1
    again = AgreementReport.objects.create(project=project, data=data)
    refit.write_reliability(project, again, data)
    after = dict(AnnotatorReliability.objects.filter(project=project).values_list("id", "updated_at"))
    assert after.keys() == before.keys()
    rewritten = {pk for pk in after if after[pk] != before[pk]}
    assert rewritten == set(
        AnnotatorReliability.objects.filter(
            project=project, annotator_id=changed_row["user_id"], kind="sft"
        ).values_list("id", flat=True)
    )
    gone = data["annotators"]["sft"].pop()
    refit.write_reliability(project, again, data)
    assert not AnnotatorReliability.objects.filter(
        project=project, annotator_id=gone["user_id"], kind="sft"
    ).exists()


def test_the_refit_task_is_the_one_published_by_name():
    assert tasks.refit_reliability.name == refit.TASK


def test_an_incremental_run_keeping_the_fit_has_statements_that_do_not_grow(crowd, worker):  # noqa: F811
    from tests.annotation.test_agreement_incremental import _statements

    project, people, lead = crowd
    _judge_all(project, people, 3, lead, 0)
    reports.recompute_agreement(project=project)
    since = timezone.now()
    _judge_all(project, people, 2, lead, 100)
    small = _statements(lambda: reports.recompute_agreement(project=project, since=since))
    refit.started(project)  # the same cache state for both (a database cache costs statements)
    since = timezone.now()
    _judge_all(project, people, 8, lead, 200)
    large = _statements(lambda: reports.recompute_agreement(project=project, since=since))
    assert small == large and len(worker) == 2
