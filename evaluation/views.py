"""The evaluation pages (lead and up): eval sets (create, import, leakage check), eval runs (start,
live progress, cancel, resume). The report, gates and promotion pages are in evaluation.views_report.

Thin: writes go through evaluation.sets / evaluation.runs. Outsiders get 404, members without the
lead role 403 (annotation.core.web.project_for)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotation.core import broker
from annotation.core.errors import RowErrors, ServiceError
from annotation.core.forms import add_service_errors
from annotation.core.web import is_htmx, object_for, page, project_for, query_int
from training.models import ACTIVE_STATES, ModelVersion, RunState

from . import campaign, sets
from . import runs as run_actions
from .access import EVALUATE_ACTION as EVALUATE
from .access import VIEW_ACTION as VIEW
from .forms import EvalRunForm, EvalSetForm
from .models import EvalRun, EvalSet, EvalSetSource

RESUMABLE = (RunState.INTERRUPTED, RunState.FAILED, RunState.CANCELLED)


def versions_for(project):
    return ModelVersion.objects.filter(project=project).order_by("-id")


@login_required
@require_http_methods(["GET", "POST"])
def index(request, pk):
    """Eval sets (with the create/import form) and the project's eval runs."""
    project = project_for(request, pk, VIEW)
    status, row_errors = 200, []
    form = EvalSetForm()
    if request.method == "POST":
        project_for(request, pk, EVALUATE)
        form = EvalSetForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data["source"] == EvalSetSource.IMPORTED:
                    eval_set = sets.import_eval_set(
                        project=project, actor=request.user, text=data["text"], name=data["name"]
                    )
                else:
                    create = {
                        EvalSetSource.PRODUCTION: sets.create_from_production,
                        EvalSetSource.REVIEWED: sets.create_from_reviewed,
                    }[data["source"]]
                    eval_set = create(
                        project=project, actor=request.user, name=data["name"], limit=data["limit"] or 200
                    )
            except RowErrors as exc:
                row_errors, status = [e.as_dict() for e in exc.errors], 400
                form.add_error(None, str(exc))
            except ServiceError as exc:
                add_service_errors(form, exc.errors or {"__all__": [exc.message]})
                status = exc.status
            else:
                messages.success(request, f"Eval set “{eval_set.name}” created with {eval_set.size} prompts.")
                return redirect("evaluation:set", pk=eval_set.pk)
        else:
            status = 400
    context = {
        "form": form,
        "row_errors": row_errors,
        "eval_sets": EvalSet.objects.filter(project=project),
        "runs": EvalRun.objects.filter(project=project).select_related(
            "model_version", "eval_set", "against"
        )[:50],
        "versions": versions_for(project),
    }
    return page(request, project, "evaluation/index.html", "evaluation/index.html", context, status)


def _set_for(request, pk, action=VIEW) -> EvalSet:
    return object_for(request, EvalSet.objects, pk, action)


@login_required
def eval_set_detail(request, pk):
    """The set's examples, and the leakage check against a chosen version's training snapshot."""
    eval_set = _set_for(request, pk)
    versions = versions_for(eval_set.project)
    chosen = versions.filter(pk=query_int(request, "version", 0)).first()
    context = {
        "eval_set": eval_set,
        "examples": eval_set.examples.all()[:200],
        "versions": versions,
        "chosen": chosen,
        "leakage": sets.check_leakage(eval_set, chosen) if chosen is not None else None,
    }
    return page(request, eval_set.project, "evaluation/set.html", "evaluation/set.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def run_new(request, pk):
    project = project_for(request, pk, EVALUATE)
    versions, eval_sets = versions_for(project), EvalSet.objects.filter(project=project)
    status = 200
    if request.method == "POST":
        form = EvalRunForm(request.POST, versions=versions, eval_sets=eval_sets)
        if form.is_valid():
            data = form.cleaned_data
            try:
                run = run_actions.start_eval_run(
                    project=project, actor=request.user, version=versions.get(pk=data["version"]),
                    eval_set=eval_sets.get(pk=data["eval_set"]),
                    against=versions.get(pk=data["against"]) if data["against"] else None,
                    on_leak=data["on_leak"], config=form.config(),
                )  # fmt: skip
            except ServiceError as exc:
                add_service_errors(form, exc.errors or {"__all__": [exc.message]})
                if exc.errors:
                    form.add_error(None, exc.message)
                status = exc.status
            else:
                # no "queued" banner: the run page's badge shows its state, live, and the leak flag;
                # only a broker that does not answer needs words (the run is kept queued)
                broker.queued(request, None, f"Eval run #{run.pk}")
                return redirect("evaluation:run", pk=run.pk)
        else:
            status = 400
    else:
        initial = {name: query_int(request, name) for name in ("version", "eval_set")}
        form = EvalRunForm(
            initial={k: v for k, v in initial.items() if v}, versions=versions, eval_sets=eval_sets
        )
    context = {"form": form, "ready": versions.exists() and eval_sets.exists()}
    return page(request, project, "evaluation/run_new.html", "evaluation/run_new.html", context, status)


def _run_for(request, pk, action=VIEW) -> EvalRun:
    return object_for(
        request, EvalRun.objects.select_related("eval_set", "model_version", "against"), pk, action
    )


def _run_context(run, **extra) -> dict:
    return {
        "run": run,
        "project": run.project,
        "active": run.state in ACTIVE_STATES,
        "resumable": run.state in RESUMABLE,
        "stages": sorted((run.report or {}).get("results") or {}),
        **extra,
    }


@login_required
def run_detail(request, pk):
    run = _run_for(request, pk)
    return page(
        request, run.project, "evaluation/run.html", "evaluation/_run_progress.html", _run_context(run)
    )


@login_required
def run_progress(request, pk):
    """The polled partial: progress bar, finished suites, log; stops polling once the run ends."""
    run = _run_for(request, pk)
    return render(request, "evaluation/_run_progress.html", _run_context(run))


def _run_action(request, pk, action, notice):
    run = _run_for(request, pk, EVALUATE)
    status = 200
    try:
        action(run=run, actor=request.user)
    except ServiceError as exc:
        notice, status = exc.message, exc.status
    run.refresh_from_db()
    if not is_htmx(request):  # the run page's badge shows the new state; only a refusal needs words
        if status != 200:
            messages.error(request, notice)
        return redirect("evaluation:run", pk=run.pk)
    context = _run_context(run, notice=notice, error=status != 200)
    return render(request, "evaluation/_run_progress.html", context, status=status)


@login_required
@require_POST
def run_cancel(request, pk):
    return _run_action(request, pk, run_actions.cancel_eval_run, "Cancel requested.")


@login_required
@require_POST
def run_resume(request, pk):
    return _run_action(
        request, pk, run_actions.resume_eval_run, "Queued again; finished suites are kept and skipped."
    )


@login_required
@require_POST
def run_campaign(request, pk):
    """Start the blind comparison of a finished run's generations: items in the usual Compare queue."""
    return _run_action(
        request, pk, campaign.create_campaign,
        "Comparison items created: annotators judge them blind in Compare; refresh the win rate later.",
    )  # fmt: skip


def _refresh(*, run, actor):
    campaign.refresh_human(run)


@login_required
@require_POST
def run_campaign_refresh(request, pk):
    """Recompute the campaign's win rate from the judgments so far (stored in the run's report)."""
    return _run_action(request, pk, _refresh, "Win rate updated from the judgments so far.")
