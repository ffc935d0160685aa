"""The report page of a model version (every metric beside the base and the prompting baseline,
with intervals, charts, side-by-side generations, the flags, the lineage), its JSON download, the
model card, the per-project gates form, and promote / override / rollback.

Promotion goes through evaluation.promotion (gates, audited override); lead and up."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from annotation.core import charts
from annotation.core.errors import ServiceError
from annotation.core.forms import add_service_errors
from annotation.core.permissions import can
from annotation.core.web import object_for, page, project_for
from training.models import ModelVersion

from . import lineage, promotion
from .access import EVALUATE_ACTION as EVALUATE
from .access import VIEW_ACTION as VIEW
from .forms import GatesForm, PromoteForm
from .models import EvalRun, Promotion, PromotionAction

ARMS = ("model", "base", "baseline")
RATES = [  # (row label, short name in the chart, where in an arm's section)
    ("Held-out preference accuracy", "preference", ("preference",)),
    ("Forgetting suite accuracy", "forgetting", ("forgetting",)),
    ("Refusal on harmful prompts", "refusal", ("safety", "refusal")),
    ("Over-refusal on benign prompts", "over-refusal", ("safety", "over_refusal")),
    ("Consistency over paraphrases", "consistency", ("consistency",)),
    ("Format validity", "format", ("format",)),
]


# The rates chart's rows read "short name · model": the chart cuts labels at 32 characters, where
# "Held-out preference accuracy · v2" left three rows that read the same.
CHART_ARMS = {"baseline": "baseline"}


def _dig(section, path):
    for key in path:
        section = (section or {}).get(key) if isinstance(section, dict) else None
    return section


def arm_names(report) -> dict:
    against = report.get("against")
    return {
        "model": (report.get("model_version") or {}).get("name") or "model",
        "base": against["name"] if against else "base model",
        "baseline": "prompting baseline",
    }


def metric_rows(report) -> list[dict]:
    """One row per metric: its cell for each arm ({"rate", "low", "high", "n"}, {"value"} or None)."""
    rows = []
    for label, short, path in RATES:
        cells = []
        for arm in ARMS:
            value = _dig(report.get(arm), path)
            cells.append(value if isinstance(value, dict) and "rate" in value else None)
        rows.append({"label": label, "short": short, "cells": cells, "kind": "rate"})
    cells = [{"value": (report.get(arm) or {}).get("perplexity")} for arm in ARMS]
    rows.append({"label": "Perplexity on gold answers (lower is better)", "cells": cells, "kind": "value"})
    return rows


def report_charts(report) -> dict:
    names = arm_names(report)
    interval_rows = []
    for row in metric_rows(report):
        if row["kind"] != "rate":
            continue
        for arm, cell in zip(ARMS, row["cells"], strict=True):
            if cell and cell.get("rate") is not None:
                label = f"{row['short']} · {CHART_ARMS.get(arm, names[arm])}"
                interval_rows.append(
                    {"label": label, "estimate": cell["rate"],
                     "low": cell.get("low"), "high": cell.get("high")}
                )  # fmt: skip
    perplexity = [(report.get(arm) or {}).get("perplexity") for arm in ARMS]
    margins = sorted((_dig(report.get("model"), ("preference",)) or {}).get("margins") or [])
    return {
        "rates": charts.interval(
            interval_rows,
            title="Rates with Wilson 95% intervals",
            label_title="metric · model",
            value_title="rate",
            zero_line=False,
        ),  # fmt: skip
        "perplexity": charts.bar(
            [names[a] for a in ARMS],
            [("perplexity", perplexity)],
            title="Perplexity",
            label_title="model",
            value_title="perplexity",
        ),  # fmt: skip
        "margins": charts.line(
            [charts.series("implicit reward margin", list(enumerate(margins, start=1)))],
            title="Held-out reward margins, sorted",
            x_title="pair (sorted)",
            y_title="margin",
            zero_line=True,
            x_integer=True,
        ),  # fmt: skip
    }


def flags(report) -> list[dict]:
    leakage = report.get("leakage") or {}
    pref = _dig(report.get("model"), ("preference",)) or {}
    forgetting = (report.get("comparison") or {}).get("forgetting") or {}
    return [
        {"id": "leak", "on": bool(leakage.get("flagged")),
         "text": f"Eval prompts overlap the training snapshot: {leakage.get('exact', 0)} exact, "
                 f"{leakage.get('near', 0)} near-duplicate (cosine ≥ {leakage.get('threshold')})."},
        {"id": "both-fall", "on": bool(pref.get("both_fall_flag")),
         "text": "The reward margin grows while the log-probabilities of both the chosen and the rejected "
                 "answers fall: the model may be unlearning both rather than preferring the chosen."},
        {"id": "forgetting", "on": bool(forgetting.get("flag")),
         "text": f"Forgetting: accuracy on the general suite changed by {forgetting.get('change_points')} "
                 f"points, beyond the tolerance of {forgetting.get('tolerance')}."},
    ]  # fmt: skip


def _version_for(request, pk, action=VIEW) -> ModelVersion:
    return object_for(request, ModelVersion.objects.select_related("run", "snapshot"), pk, action)


@login_required
def report(request, pk):
    version = _version_for(request, pk)
    project = version.project
    data = version.eval_report or {}
    promoted_before = Promotion.objects.filter(model_version=version, action=PromotionAction.PROMOTE).exists()
    context = {
        "version": version,
        "report": data,
        "names": arm_names(data) if data else {},
        "rows": metric_rows(data) if data else [],
        "charts": report_charts(data) if data else None,
        "flags": flags(data) if data else [],
        "examples": data.get("examples") or [],
        "human": data.get("human"),
        "gates": promotion.check(version),
        "lineage": lineage.lineage(version),
        "runs": EvalRun.objects.filter(model_version=version).select_related("eval_set")[:20],
        "is_current": bool(version.adapter_path) and version.adapter_path == project.current_model_path,
        "can_promote": can(request.user, "train", project),
        "can_rollback": promoted_before,
        "promote_form": PromoteForm(),
        "history": Promotion.objects.filter(project=project).select_related("model_version", "by")[:20],
    }
    return page(request, project, "evaluation/report.html", "evaluation/report.html", context)


@login_required
def report_json(request, pk):
    version = _version_for(request, pk)
    if not version.eval_report:
        raise Http404("This version has no eval report yet.")
    response = JsonResponse(version.eval_report, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="eval-report-{version.pk}.json"'
    return response


@login_required
def model_card(request, pk):
    version = _version_for(request, pk)
    response = HttpResponse(lineage.model_card(version), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="README-{version.pk}.md"'
    return response


@login_required
@require_POST
def promote(request, pk):
    version = _version_for(request, pk, "train")
    form = PromoteForm(request.POST)
    reason = form.cleaned_data["override_reason"] if form.is_valid() else ""
    try:
        done = promotion.promote(version=version, actor=request.user, override_reason=reason)
    except ServiceError as exc:
        detail = " ".join(m for ms in (exc.errors or {}).values() for m in ms)
        messages.error(request, f"{exc.message} {detail}".strip())
    else:
        how = " (gates overridden; the reason is in the audit log)" if done.override_reason else ""
        messages.success(request, f"{version.name} is now the project's current model{how}.")
    return redirect("evaluation:report", pk=version.pk)


@login_required
@require_POST
def rollback(request, pk):
    version = _version_for(request, pk, "train")
    try:
        promotion.rollback(version=version, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Rolled back: {version.name} is the project's current model again.")
    return redirect("evaluation:report", pk=version.pk)


@login_required
@require_http_methods(["GET", "POST"])
def gates(request, pk):
    project = project_for(request, pk, VIEW)
    prefs = promotion.gates_for(project)
    status = 200
    form = GatesForm(instance=prefs)
    if request.method == "POST":
        project_for(request, pk, EVALUATE)
        form = GatesForm(request.POST, instance=promotion.gates_for(project))
        if form.is_valid():
            values = {k: form.cleaned_data[k] for k in form.Meta.fields}
            try:
                promotion.set_gates(project=project, actor=request.user, **values)
            except ServiceError as exc:
                add_service_errors(form, exc.errors or {"__all__": [exc.message]})
                status = exc.status
            else:
                messages.success(request, "Gates saved.")
                return redirect("evaluation:gates", pk=project.pk)
        else:
            status = 400
    return page(request, project, "evaluation/gates.html", "evaluation/gates.html", {"form": form}, status)
