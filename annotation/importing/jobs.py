"""Large item files imported on a worker, with progress: the `ImportJob` write paths.

An upload larger than `TUNELOOP_IMPORT_TASK_BYTES` (page and API) is not imported in the request:
`create` stores it under `TUNELOOP_DATA_DIR/imports/` (the worker must see that folder, as it sees
exports) and creates a queued `ImportJob`; `annotation.importing.tasks.start_import` does that and
queues the task on the default queue after commit (here and now under CELERY_TASK_ALWAYS_EAGER).
`run`, the task's body, claims the
queued job, imports the file with `bulk.import_file` (all or nothing, as in the request), writes the
progress to the job's row between chunks (committed, so the page and the API see it), then the result
or the line-numbered issues, and removes the file. Smaller uploads stay synchronous.
"""

import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from annotation.core.errors import ServiceError
from annotation.core.permissions import require
from annotation.importing import bulk
from annotation.importing.parse import ImportFailed
from annotation.models import ImportJob, Project

# Of the progress bar: reading and staging; the insert is the rest. On PostgreSQL, with the Items
# page's trigram indexes moved to a side table filled after commit, the read is about half of the
# import's time (benchmarks/README.md, "Where the time goes").
READ_SHARE = 0.5


def needs_job(size: int | None) -> bool:
    return size is not None and size > settings.TUNELOOP_IMPORT_TASK_BYTES


def create(*, project: Project, actor, upload, fmt: str, mapping: dict, kind: str) -> ImportJob:
    """Store `upload` (a Django UploadedFile, any binary file) and create its queued job (`tasks.start_import` queues it)."""
    require(actor, "import_items", project)
    folder = Path(settings.DATA_DIR) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.{fmt}"
    upload.seek(0)
    with open(path, "wb") as out:
        shutil.copyfileobj(upload, out, 1 << 20)
    return ImportJob.objects.create(
        project=project, created_by=actor, filename=(getattr(upload, "name", "") or "")[:200], path=str(path),
        size=path.stat().st_size, fmt=fmt, kind=kind, mapping=mapping or {},
    )  # fmt: skip


def run(job_id: int) -> str:
    """Import a queued job's file; returns the job's final state (a job not queued is left alone)."""
    claimed = ImportJob.objects.filter(pk=job_id, state=ImportJob.State.QUEUED).update(
        state=ImportJob.State.RUNNING, stage="reading"
    )
    if not claimed:
        return ImportJob.objects.filter(pk=job_id).values_list("state", flat=True).first() or "missing"
    job = ImportJob.objects.select_related("project", "created_by").get(pk=job_id)

    def progress(stage: str, lines: int, fraction: float):
        share = READ_SHARE * fraction if stage == "reading" else READ_SHARE
        ImportJob.objects.filter(pk=job_id).update(stage=stage, lines=lines, progress=share)

    done = {"state": ImportJob.State.FAILED, "finished_at": timezone.now()}
    try:
        with open(job.path, "rb") as stream:
            result = bulk.import_file(
                project=job.project, actor=job.created_by, stream=stream, fmt=job.fmt, mapping=job.mapping,
                kind=job.kind, source=job.filename, size=job.size, progress=progress,
            )  # fmt: skip
        done.update(state=ImportJob.State.DONE, stage="", progress=1.0, **result.as_dict())
    except ImportFailed as exc:
        done.update(issues=[issue.as_dict() for issue in exc.errors], stage="")
    except ServiceError as exc:
        done.update(error=exc.message, stage="")
    except Exception as exc:  # anything else: the job says so instead of staying "running"
        done.update(error=f"{type(exc).__name__}: {exc}"[:2000], stage="")
        raise
    finally:
        done["finished_at"] = timezone.now()
        ImportJob.objects.filter(pk=job_id).update(**done)
        Path(job.path).unlink(missing_ok=True)
    return done["state"]
