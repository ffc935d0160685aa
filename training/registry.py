"""The model registry: a finished run's adapter becomes a ModelVersion (`register_model_version`,
inside the worker's finish transaction), and a lead promotes one (`promote`), which points the
project at it (`Project.current_model_path`, what later features score with).

Version names are "<project> <METHOD> v<n>", unique per project (a database constraint). The number
is allocated under a row lock on the project (lock order: the run, then its project), so two runs
that finish together get v1 and v2; an IntegrityError (a backend without row locks) retries.
"""

import tempfile
import zipfile
from pathlib import Path

from django.db import IntegrityError, transaction

from annotation.core import audit
from annotation.core.errors import Conflict
from annotation.models import Project

from . import pipeline, registry_links
from .access import require_train
from .models import ModelVersion

NAME_RETRIES = 5


def _result_get(result, name, default=None):
    if isinstance(result, dict):
        return result.get(name, default)
    return getattr(result, name, default)


def next_version_name(project, method: str) -> str:
    """The first free "<project> <METHOD> v<n>" with n > the number of versions; call under the
    project's row lock."""
    taken = set(ModelVersion.objects.filter(project=project).values_list("name", flat=True))
    n = len(taken) + 1
    while (name := f"{project.name[:80]} {method.upper()} v{n}") in taken:
        n += 1
    return name


def register_model_version(*, run, result) -> ModelVersion:
    """Add the run's adapter to the registry (called inside finish_run's transaction)."""
    adapter_dir = _result_get(result, "adapter_dir") or _result_get(result, "output_dir") or run.output_dir
    sha = _result_get(result, "adapter_sha256") or ""
    if not sha and adapter_dir and Path(adapter_dir).is_dir():
        sha = pipeline.weights_sha256(adapter_dir)
    metrics = pipeline.jsonable(_result_get(result, "metrics") or {})
    config = pipeline.jsonable(_result_get(result, "config") or run.config)
    versions = pipeline.jsonable(
        _result_get(result, "library_versions") or _result_get(result, "versions") or {}
    )
    fields = dict(
        project=run.project,
        run=run,
        method=run.method,
        base_model=config.get("base_model") or run.config.get("base_model", ""),
        adapter_path=str(adapter_dir),
        adapter_sha256=sha,
        snapshot=run.snapshot,
        config=config,
        library_versions=versions,
        device=pipeline.jsonable(_result_get(result, "device") or {}),
        metrics=metrics,
    )
    for attempt in range(NAME_RETRIES):
        project = Project.objects.select_for_update().get(pk=run.project_id)
        try:
            with transaction.atomic():  # a savepoint: a name taken meanwhile retries with the next
                version = ModelVersion.objects.create(name=next_version_name(project, run.method), **fields)
            break
        except IntegrityError:
            if attempt == NAME_RETRIES - 1:
                raise
    audit.record(
        actor=None, project=run.project, verb="model.registered", obj=version, run=run.pk, sha256=sha
    )
    transaction.on_commit(lambda: registry_links.registered(version))
    return version


@transaction.atomic
def promote(version: ModelVersion, *, by, guarded: bool = True) -> ModelVersion:
    """Make `version` the project's current model: `Project.current_model_path` becomes its adapter
    (or full model) path. Audited; lead and up. The registry's guards (`registry_links.GUARDS`, e.g.
    evaluation's gates) may refuse it (Conflict); a caller that has checked them itself (evaluation's
    promote with its override, its rollback) passes `guarded=False`."""
    project = Project.objects.select_for_update().get(pk=version.project_id)
    require_train(by, project)
    refused = registry_links.promotion_refused(version) if guarded else ""
    if refused:
        raise Conflict(refused)
    previous = project.current_model_path
    project.current_model_path = version.adapter_path
    project.save(update_fields=["current_model_path"])
    version.project = project
    audit.record(
        actor=by, project=project, verb="model.promoted", obj=version,
        path=version.adapter_path, previous=previous,
    )  # fmt: skip
    return version


def is_current(version: ModelVersion) -> bool:
    return bool(version.adapter_path) and version.project.current_model_path == version.adapter_path


def model_archive(version: ModelVersion):
    """The version's adapter (or full model) directory as a zip in a temporary file, rewound; None
    when the files are not on this server. Spooled to disk past 32 MiB: a full fine-tune's weights
    are never held in memory. The caller streams it (FileResponse) and closing it deletes it."""
    root = Path(version.adapter_path or "")
    if not version.adapter_path or not root.is_dir():
        return None
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            archive.write(file, arcname=str(file.relative_to(root)))
    spool.seek(0)
    return spool
