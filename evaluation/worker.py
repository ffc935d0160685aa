"""The worker's side of an eval run, on training.worker's generic `Jobs` (claim with an attempt
number, heartbeat, stop check, fail, interrupted jobs). Each finished (arm, suite) result is stored
on the run at once (`report["results"]`), so a resumed attempt skips what is done; the last step
builds the report (evaluation.report) and writes it to the run and to `ModelVersion.eval_report`."""

import logging
import traceback

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.core import audit
from training import pipeline
from training.models import ModelVersion, RunState
from training.worker import Jobs, append_log, pulse_seconds, refresh_connection

from . import lineage, sets
from . import report as reports
from .metrics import engine
from .models import EvalRun, EvalSettings

log = logging.getLogger(__name__)
EVALS = Jobs(EvalRun, verb="eval")


def settings_for(project) -> EvalSettings:
    return EvalSettings.objects.get_or_create(project=project)[0]


def spec_for(run) -> engine.Spec:
    prefs = settings_for(run.project)
    examples = [
        {
            "messages": e.messages,
            "reference": e.reference,
            "chosen": e.chosen,
            "rejected": e.rejected,
            "group": e.group,
        }
        for e in run.eval_set.examples.order_by("position")
    ]
    cfg = run.config or {}
    forgetting = engine.forgetting_items()[: int(cfg.get("forgetting_limit") or 10**9)]
    safety = engine.limit_safety(
        engine.safety_items(), int(cfg["safety_limit"]) if cfg.get("safety_limit") else None
    )
    return engine.Spec(
        examples=examples, forgetting=forgetting, safety=safety, beta=float(cfg.get("beta", 0.1)),
        tolerance=float(settings.TUNELOOP_EVAL_FORGETTING_TOLERANCE),
        schema=prefs.output_schema, regex=prefs.output_regex,
    )  # fmt: skip


def load_arms(run) -> dict:
    cfg = run.config or {}
    kw = {"batch_size": int(cfg.get("batch_size", 8)), "max_new_tokens": int(cfg.get("max_new_tokens", 64))}
    cache = settings.TUNELOOP_MODEL_CACHE
    version = run.model_version
    arms = {"model": engine.Arm.load(version.base_model, version.adapter_path, cache_dir=cache, **kw)}
    against = run.against
    if against is not None:
        arms["base"] = engine.Arm.load(against.base_model, against.adapter_path, cache_dir=cache, **kw)
    else:
        arms["base"] = engine.Arm.load(version.base_model, cache_dir=cache, **kw)
    prefs = settings_for(run.project)
    base_only = (
        arms["base"] if against is None else engine.Arm.load(version.base_model, cache_dir=cache, **kw)
    )
    arms["baseline"] = base_only.with_prefix(
        engine.baseline_prefix(
            prefs.system_prompt, sets.few_shot_examples(run.project, exclude=run.eval_set, n=prefs.few_shot)
        )
    )
    return arms


def _save_result(run_id, attempt, key, value, fraction) -> bool:
    with transaction.atomic():
        run = (
            EvalRun.objects.select_for_update()
            .filter(pk=run_id, attempt=attempt, state=RunState.RUNNING)
            .first()
        )
        if run is None:
            return False
        report = dict(run.report or {})
        report.setdefault("results", {})[key] = pipeline.jsonable(value)
        run.report, run.progress, run.stage, run.heartbeat_at = report, fraction, key, timezone.now()
        append_log(run, f"[{run.heartbeat_at:%H:%M:%S}] {key} done")
        run.save(update_fields=["report", "progress", "stage", "heartbeat_at", "log_tail"])
    return True


@transaction.atomic
def finish(*, run_id: int, attempt: int, spec) -> EvalRun:
    run = (
        EvalRun.objects.select_for_update()
        .select_related("project", "model_version", "eval_set")
        .get(pk=run_id)
    )
    if run.state != RunState.RUNNING or run.attempt != attempt:
        return run
    full = reports.build(run, spec)
    run.report = {**run.report, "summary": full}
    run.state, run.finished_at, run.progress = RunState.COMPLETED, timezone.now(), 1.0
    append_log(run, f"[{run.finished_at:%H:%M:%S}] completed")
    run.save()
    ModelVersion.objects.filter(pk=run.model_version_id).update(eval_report=full)
    version_id = run.model_version_id
    transaction.on_commit(lambda: lineage.write_model_card_quietly(ModelVersion.objects.get(pk=version_id)))
    audit.record(
        actor=None, project=run.project, verb="eval.completed", obj=run, version=run.model_version_id
    )
    return run


@transaction.atomic
def mark_cancelled(*, run_id: int, attempt: int) -> EvalRun:
    run = EvalRun.objects.select_for_update().get(pk=run_id)
    if run.state == RunState.RUNNING and run.attempt == attempt:
        run.state, run.finished_at = RunState.CANCELLED, timezone.now()
        append_log(run, f"[{run.finished_at:%H:%M:%S}] cancelled at {run.stage}")
        run.save()
    return run


def execute(run) -> str:
    """Run the claimed attempt to its end; returns the final state. Never raises for eval errors."""
    run_id, attempt = run.pk, run.attempt
    stop = EVALS.stop_check(run_id, attempt, float(settings.TUNELOOP_CANCEL_POLL_SECONDS))
    try:
        spec = spec_for(run)
        done = dict((run.report or {}).get("results") or {})
        with EVALS.pulse(run_id, attempt, pulse_seconds()):
            arms = load_arms(run)
            total = len(arms) * len(engine.SUITES)

            def on_result(key, value):
                fraction = (len(done) + 1) / total
                done[key] = value
                if not _save_result(run_id, attempt, key, value, fraction):
                    stop.stop = True

            engine.run_suites(spec, arms, done=done, on_result=on_result, should_stop=stop)
    except engine.Stopped:
        refresh_connection()
        return mark_cancelled(run_id=run_id, attempt=attempt).state
    except Exception as exc:  # an eval error fails the run, it does not crash the worker
        log.exception("eval run %s failed", run_id)
        refresh_connection()
        text = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=20)}"
        return EVALS.fail(job_id=run_id, attempt=attempt, error=text).state
    refresh_connection()
    return finish(run_id=run_id, attempt=attempt, spec=spec).state
