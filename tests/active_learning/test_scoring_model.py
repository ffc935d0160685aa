"""Scores computed with a tiny model and stored per model version, never recomputed for the same
version; a promoted model adds the committee; margins with two sampled responses."""

import pytest

from annotation.active_learning import scores, tasks
from annotation.active_learning.models import ProductionSample, SampleScore, ScoreKind
from tests.active_learning.conftest import ingest_rows, sample_rows

pytestmark = pytest.mark.django_db


def test_scores_stored_per_version_and_not_recomputed(project, users, tiny_model_dir, tmp_path):
    from tests.fixtures.tiny_models import build_tiny_model

    project.base_model = str(tiny_model_dir)
    project.save()
    ingest_rows(project, users["lead"], sample_rows(5))
    assert tasks.score_uncertainty(project.pk) == 5
    rows = SampleScore.objects.filter(kind=ScoreKind.UNCERTAINTY)
    assert rows.count() == 5 and all(r.entropy > 0 and r.logprob < 0 for r in rows)
    first = {r.sample_id: (r.pk, r.computed_at) for r in rows}
    assert tasks.score_uncertainty(project.pk) == 0  # same version: nothing recomputed
    assert {r.sample_id: (r.pk, r.computed_at) for r in rows.all()} == first
    assert (
        ProductionSample.objects.filter(
            project=project, entropy__isnull=False, priority__isnull=False
        ).count()
        == 5
    )
    ingest_rows(project, users["lead"], sample_rows(2, start=50))
    assert tasks.score_uncertainty(project.pk) == 2
    # a promoted model: both versions scored, the committee appears
    project.current_model_path = str(build_tiny_model(tmp_path / "promoted", seed=1))
    project.save()
    assert tasks.score_uncertainty(project.pk) == 7
    assert SampleScore.objects.filter(kind=ScoreKind.COMMITTEE).count() == 7
    assert ProductionSample.objects.filter(committee__isnull=False).count() == 7


def test_claims_split_a_backlog_into_chunks(project, users, settings):
    settings.TUNELOOP_AL_CHUNK_SIZE = 3
    ingest_rows(project, users["lead"], sample_rows(7))
    a = scores.claim(project, kind=ScoreKind.UNCERTAINTY, version="m")
    b = scores.claim(project, kind=ScoreKind.UNCERTAINTY, version="m")
    c = scores.claim(project, kind=ScoreKind.UNCERTAINTY, version="m")
    assert len(a) == 3 and len(b) == 3 and len(c) == 1 and not set(a) & set(b)
    assert scores.claim(project, kind=ScoreKind.UNCERTAINTY, version="m") == []
    assert len(scores.claim(project, kind=ScoreKind.UNCERTAINTY, version="other")) == 0  # all held
    scores.release(a)
    assert sorted(scores.claim(project, kind=ScoreKind.UNCERTAINTY, version="m")) == sorted(a)


def test_margin_scores_two_sampled_responses(project, users, tiny_model_dir):
    project.base_model = str(tiny_model_dir)
    project.save()
    ingest_rows(project, users["lead"], sample_rows(3))
    assert tasks.score_margin(project.pk) == 3
    row = SampleScore.objects.filter(kind=ScoreKind.MARGIN).first()
    assert len(row.details["responses"]) == 2 and row.value >= 0 and row.details["method"] == "mean_logprob"
