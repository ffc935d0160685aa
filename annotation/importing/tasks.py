"""The import job's Celery task (default queue) and the one place that queues it."""

from celery import shared_task

from annotation.core import broker
from annotation.importing import jobs
from annotation.models import ImportJob


@shared_task(acks_late=False, name="annotation.importing.tasks.run_import_job")
def run_import_job(job_id: int) -> str:
    """Import a queued job's file (annotation.importing.jobs.run); a job not queued is left alone."""
    return jobs.run(job_id)


def start_import(*, project, actor, upload, fmt: str, mapping: dict, kind: str) -> ImportJob:
    """Store the upload as a queued job and run it after commit on a worker; here and now when no
    worker is configured (CELERY_TASK_ALWAYS_EAGER)."""
    job = jobs.create(project=project, actor=actor, upload=upload, fmt=fmt, mapping=mapping, kind=kind)
    if run_import_job.app.conf.task_always_eager:
        run_import_job.apply(args=[job.pk])
        job.refresh_from_db()
    else:
        broker.send_on_commit(run_import_job, [job.pk])
    return job
