"""A real Celery worker (a subprocess on Redis and the PostgreSQL test database) runs an import job:
the file staged by COPY in chunks, the job's progress written between them, then the result."""

import json
import time
from io import BytesIO

import pytest

from annotation.importing import bulk, jobs
from annotation.importing.tasks import run_import_job
from annotation.models import AuditEvent, ImportJob, Item
from tests.annotation.test_worker import worker  # noqa: F401  (the fixture: a worker on a queue of its own)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def wait_for_state(job, states, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if job.state in states:
            return job
        assert time.monotonic() < deadline, f"the job stayed {job.state}"
        time.sleep(0.2)


def file_of(n, bad_line=None) -> BytesIO:
    rows = [json.dumps({"prompt": f"Q{i}?", "response": f"A{i}."}) for i in range(n)]
    if bad_line:
        rows[bad_line - 1] = json.dumps({"prompt": "no answer"})
    return BytesIO(("\n".join(rows) + "\n").encode())


def test_worker_imports_a_large_file_with_progress(worker, project, users, settings, tmp_path):  # noqa: F811
    settings.DATA_DIR = tmp_path
    n = 3 * bulk.CHUNK_ROWS + 7  # several COPY chunks, a progress write after each
    job = jobs.create(
        project=project, actor=users["lead"], upload=file_of(n), fmt="jsonl", mapping={}, kind="sft"
    )
    run_import_job.apply_async(args=[job.pk], queue=worker["queue"])
    job = wait_for_state(job, {ImportJob.State.DONE, ImportJob.State.FAILED})
    assert job.state == ImportJob.State.DONE, (job.error, job.issues, worker["log"].read_text()[-2000:])
    assert (job.created, job.duplicates, job.lines, job.progress) == (n, 0, n, 1.0)
    assert job.finished_at is not None and job.issues == [] and job.error == ""
    assert Item.objects.filter(project=project).count() == n
    assert AuditEvent.objects.filter(project=project, verb="items.imported").count() == 1
    assert list((tmp_path / "imports").iterdir()) == []


def test_worker_failure_names_the_line_and_stores_nothing(worker, project, users, settings, tmp_path):  # noqa: F811
    settings.DATA_DIR = tmp_path
    n = 2 * bulk.CHUNK_ROWS + 10
    job = jobs.create(project=project, actor=users["lead"], upload=file_of(n, bad_line=n - 3), fmt="jsonl",
                      mapping={}, kind="sft")  # fmt: skip
    run_import_job.apply_async(args=[job.pk], queue=worker["queue"])
    job = wait_for_state(job, {ImportJob.State.DONE, ImportJob.State.FAILED})
    assert job.state == ImportJob.State.FAILED
    assert [(i["line"], i["field"]) for i in job.issues] == [(n - 3, "response")]
    assert job.lines == n and job.created is None
    assert not Item.objects.filter(project=project).exists()
