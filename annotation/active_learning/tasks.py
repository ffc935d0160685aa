"""Celery tasks of active learning: thin, load ids and call a service. The model-using ones
(score_uncertainty, score_margin, materialize_batch) are routed to the `gpu` queue
(CELERY_TASK_ROUTES); the rest run on the default queue. Several score_* tasks for one project
share its backlog chunk by chunk (scores.claim)."""

from celery import shared_task

from annotation.active_learning import quality, scores, selecting, selectors
from annotation.active_learning.models import SelectionBatch
from annotation.core import broker
from annotation.models import Project


def _project(project_id):
    return Project.objects.filter(pk=project_id).first()


@shared_task(name="annotation.active_learning.tasks.embed_samples")
def embed_samples(project_id: int) -> int:
    """Embed new samples and items, score them with the latest quality model, re-rank."""
    project = _project(project_id)
    if project is None:
        return 0
    done = scores.embed_pending(project)
    quality.predict_samples(project)
    scores.update_priorities(project)
    return done


@shared_task(name="annotation.active_learning.tasks.score_uncertainty")
def score_uncertainty(project_id: int, max_chunks: int | None = None) -> int:
    project = _project(project_id)
    if project is None:
        return 0
    stored = scores.score_uncertainty_backlog(project, max_chunks=max_chunks)
    scores.update_priorities(project)
    return stored


@shared_task(name="annotation.active_learning.tasks.score_margin")
def score_margin(project_id: int, max_chunks: int | None = None) -> int:
    project = _project(project_id)
    if project is None:
        return 0
    stored = scores.score_margin_backlog(
        project, quality_predict=quality.predictor(project), max_chunks=max_chunks
    )
    scores.update_priorities(project)
    return stored


@shared_task(name="annotation.active_learning.tasks.retrain_quality")
def retrain_quality(project_id: int, force: bool = False) -> int | None:
    """Retrain the quality model when N new decisions came in (or now, with `force`); its id."""
    project = _project(project_id)
    if project is None:
        return None
    scores.embed_pending(project)
    record = quality.train(project) if force else quality.maybe_retrain(project)
    if record is not None:
        quality.predict_samples(project, record)
        scores.update_priorities(project)
    return record.pk if record else None


@shared_task(name="annotation.active_learning.tasks.refresh")
def refresh() -> list[int]:
    """Beat (every TUNELOOP_AL_REFRESH_SECONDS): projects with samples get new samples embedded,
    a due quality model retrained, and priorities recomputed; their ids."""
    done = []
    for project in Project.objects.filter(production_samples__isnull=False).distinct():
        scores.embed_pending(project)
        if quality.maybe_retrain(project) is None:
            quality.predict_samples(project)
        scores.update_priorities(project)
        done.append(project.pk)
    return done


@shared_task(name="annotation.active_learning.tasks.compute_coverage")
def compute_coverage(project_id: int) -> int | None:
    project = _project(project_id)
    if project is None:
        return None
    scores.embed_pending(project)
    return selectors.compute_coverage(project).pk


@shared_task(name="annotation.active_learning.tasks.materialize_batch")
def materialize_batch(batch_id: int) -> int:
    """Generate the fresh responses of a versus_fresh batch and create its items."""
    batch = SelectionBatch.objects.select_related("project").filter(pk=batch_id).first()
    if batch is None:
        return 0
    try:
        return selecting.materialize(batch)
    except Exception as exc:
        SelectionBatch.objects.filter(pk=batch_id).update(
            state=SelectionBatch.State.FAILED, error=str(exc)[:2000]
        )
        raise


def queue_scoring(project, *, workers: int = 1, margin: bool = False) -> None:
    """Queue `workers` uncertainty tasks (and margin tasks) that share the project's backlog."""
    broker.send(embed_samples, [project.pk])
    for _ in range(max(1, workers)):
        broker.send(score_uncertainty, [project.pk])
        if margin:
            broker.send(score_margin, [project.pk])
