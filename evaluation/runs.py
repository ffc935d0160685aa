"""The lead's actions on eval runs: start (after the leakage check: refuse, or flag and go on),
cancel, resume. One transaction each; the task is queued after commit (evaluation.tasks)."""

import uuid

from django.db import transaction

from annotation.core import audit
from annotation.core.errors import Conflict, InvalidInput
from training.models import ACTIVE_STATES, RunState

from . import sets, tasks
from .access import require_evaluate
from .models import EvalRun

LEAK_POLICIES = ("refuse", "flag")
CONFIG_KEYS = {
    "beta": float,
    "max_new_tokens": int,
    "batch_size": int,
    "forgetting_limit": int,
    "safety_limit": int,
}


def clean_config(config: dict | None) -> dict:
    out, errors = {}, {}
    for key, value in (config or {}).items():
        if key not in CONFIG_KEYS:
            errors[f"config.{key}"] = [f"Unknown setting; known: {', '.join(sorted(CONFIG_KEYS))}."]
            continue
        try:
            out[key] = CONFIG_KEYS[key](value)
        except (TypeError, ValueError):
            errors[f"config.{key}"] = ["Must be a number."]
            continue
        if out[key] <= 0:
            errors[f"config.{key}"] = ["Must be positive."]
    if errors:
        raise InvalidInput("Invalid eval configuration.", errors)
    return out


def start_eval_run(
    *, project, actor, version, eval_set, against=None, on_leak="refuse", config=None, embed=None
) -> EvalRun:
    require_evaluate(actor, project)
    if version.project_id != project.pk or eval_set.project_id != project.pk:
        raise InvalidInput("The version and the eval set must belong to this project.")
    if against is not None and against.project_id != project.pk:
        raise InvalidInput(
            "The version compared against must belong to this project.", {"against": ["Not in this project."]}
        )
    if on_leak not in LEAK_POLICIES:
        raise InvalidInput("Unknown leakage policy.", {"on_leak": [f"One of {', '.join(LEAK_POLICIES)}."]})
    config = clean_config(config)
    leakage = sets.check_leakage(eval_set, version, embed=embed)
    leaks = leakage["exact"] + leakage["near"]
    if leaks and on_leak == "refuse":
        listed = [
            f"example {r['position'] + 1}: {r['kind']} ({r['cosine']}) of {r['split']} row {r['row_position']}"
            for r in leakage["rows"][:50]
        ]
        raise InvalidInput(
            f"{leaks} eval prompt(s) overlap the training snapshot #{leakage['snapshot']}.",
            {"eval_set": listed},
        )
    leakage["flagged"] = bool(leaks)
    with transaction.atomic():
        run = EvalRun.objects.create(
            project=project, eval_set=eval_set, model_version=version, against=against, config=config,
            leakage=leakage, created_by=actor, celery_task_id=str(uuid.uuid4()),
        )  # fmt: skip
        audit.record(
            actor=actor, project=project, verb="eval.queued", obj=run, version=version.pk, leaks=leaks
        )
        tasks.queue_eval_run(run)
    return run


@transaction.atomic
def cancel_eval_run(*, run, actor) -> EvalRun:
    require_evaluate(actor, run.project)
    run = EvalRun.objects.select_for_update().get(pk=run.pk)
    if run.state not in ACTIVE_STATES:
        raise Conflict("Only a queued or running evaluation can be cancelled.")
    run.cancel_requested = True
    if run.state == RunState.QUEUED:
        run.state = RunState.CANCELLED
    run.save(update_fields=["cancel_requested", "state"])
    audit.record(actor=actor, project=run.project, verb="eval.cancel_requested", obj=run)
    return run


@transaction.atomic
def resume_eval_run(*, run, actor) -> EvalRun:
    """A new attempt of an interrupted, failed or cancelled run; finished suites are kept."""
    require_evaluate(actor, run.project)
    run = EvalRun.objects.select_for_update().get(pk=run.pk)
    if run.state in ACTIVE_STATES or run.state == RunState.COMPLETED:
        raise Conflict("Only an interrupted, failed or cancelled evaluation can be resumed.")
    run.state, run.attempt, run.cancel_requested, run.error = RunState.QUEUED, run.attempt + 1, False, ""
    run.finished_at = None
    run.celery_task_id = str(uuid.uuid4())
    run.save()
    audit.record(actor=actor, project=run.project, verb="eval.resumed", obj=run, attempt=run.attempt)
    tasks.queue_eval_run(run)
    return run
