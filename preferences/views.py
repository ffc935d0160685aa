"""The preference pages: comparison (annotators), curated pairs and leaderboard (leads).

Thin, like annotation.views: writes go through annotation.services / preferences.services, reads
through the selectors. Outsiders get 404 for a project, members without the role 403; service errors
come back inline with their status.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotation.core import keyset, recomputes
from annotation.core.errors import ServiceError
from annotation.core.web import is_htmx, object_for, page, project_for, query_text
from annotation.kinds.task import build_task
from annotation.queue.task_flow import TaskFlow

from . import charts, curation, selectors, services, tasks
from .forms import (
    CRITERION_OVERALL,
    LeaderboardForm,
    PairBulkForm,
    PairFilterForm,
    PairUpdateForm,
    RecomputeForm,
    comparison_submission,
)
from .kinds import COMPARISON
from .models import PairStatus, PreferencePair

CHOICES = [
    ("A", "A is better", "a"),
    ("B", "B is better", "b"),
    ("tie", "Tie", "t"),
    ("both_bad", "Both bad", "x"),
]
STRENGTHS = [("1", "Slightly better", "1"), ("2", "Clearly better", "2"), ("3", "Much better", "3")]
PAIRS_PER_PAGE = 50

# --- comparison -------------------------------------------------------------------------------


def _criteria_for_display(criteria, values, errors, task):
    given = (values.get("payload") or {}).get("criteria") or {}
    out = []
    for index, criterion in enumerate(criteria):
        key = criterion["key"]
        current = str(given.get(key, ""))
        options = []
        if task and task["pairwise"]:
            options = [
                {"value": v, "label": label, "checked": current.lower() == v.lower()}
                for v, label in (("A", "A"), ("B", "B"), ("tie", "Tie"))
            ]
        out.append(
            {
                **criterion,
                "index": index,
                "current": current,
                "options": options,
                "errors": (errors or {}).get(f"criteria.{key}", []),
            }
        )
    return out


class Comparison(TaskFlow):
    kind = COMPARISON
    page_url = "preferences:compare"
    full_template = "preferences/compare.html"
    partial_template = "preferences/_compare_task.html"

    def parse(self, post):
        return comparison_submission(post)

    def context(self, request, project, assignment, *, values, errors):
        payload = values.get("payload") or {}
        context = {"require_rationale": project.require_rationale, "payload": payload}
        if assignment is None:
            return context
        task = build_task(assignment)
        version = task["rubric_version"]
        harmful = {str(h).upper() for h in payload.get("harmful") or []}
        for response in task["responses"]:
            response["harmful"] = response["slot"] in harmful
        known = {"choice", "strength", "ranking", "improved_text", "harmful", "comment", "payload"}
        context.update(
            task=task,
            rubric_version=version,
            criteria=_criteria_for_display(version.criteria if version else [], values, errors, task),
            choices=[
                {"value": v, "label": label, "shortcut": key, "checked": str(payload.get("choice", "")) == v}
                for v, label, key in CHOICES
            ],
            strengths=[
                {
                    "value": v,
                    "label": label,
                    "shortcut": key,
                    "checked": str(payload.get("strength", "")) == v,
                }
                for v, label, key in STRENGTHS
            ],
            slots="".join(r["slot"] for r in task["responses"]),
            other_errors={
                k: v for k, v in errors.items() if k not in known and not k.startswith("criteria.")
            },
        )
        return context


COMPARE = Comparison()
compare, compare_submit, compare_skip = COMPARE.views()


@login_required
@require_GET
def compare_diff(request, pk):
    """The word-level difference between two responses of the caller's own comparison (`left`,
    `right`: slot letters), as a partial the compare page shows on demand."""
    try:
        assignment = COMPARE.own(request, pk)
        context = selectors.response_diff(
            assignment, left=query_text(request, "left", "A"), right=query_text(request, "right", "B")
        )
    except ServiceError as exc:
        return render(request, "preferences/_compare_diff.html", {"error": exc}, status=exc.status)
    return render(request, "preferences/_compare_diff.html", context)


# --- curated pairs ----------------------------------------------------------------------------


def _pair_filters(request) -> tuple[PairFilterForm, dict]:
    """The pairs page's filter form (from the query string, on GET and POST alike) and the
    candidate_pairs keyword arguments it gives (none when invalid)."""
    form = PairFilterForm(request.GET or None)
    return form, (form.selector_kwargs() if form.is_valid() else {})


def _pairs_response(
    request, project, *, status=200, notice="", recompute_form=None, stats=None, bulk_errors=(), fresh=False
):
    form, kwargs = _pair_filters(request)
    qs = selectors.candidate_pairs(project, **kwargs)
    counts = selectors.cached_pair_counts(project, qs, kwargs, fresh=fresh)
    page_obj = keyset.paginate(qs, selectors.PAIR_ORDER, request.GET, PAIRS_PER_PAGE)
    context = {
        "filter_form": form,
        "filter_query": keyset.filter_query(request.GET),
        "page_query": request.GET.urlencode(),
        "bulk_errors": bulk_errors,
        "choices": selectors.pair_filter_choices(project),
        "criterion_overall": CRITERION_OVERALL,
        "counts": counts,
        "page_obj": page_obj,
        "pairs": page_obj.object_list,
        "statuses": PairStatus.choices,
        "recompute_form": recompute_form or RecomputeForm(),
        "notice": notice,
        "stats": stats,
        "recompute": selectors.latest_consensus_recompute(project),
    }
    context["percent"] = recomputes.percent(context["recompute"]) if context["recompute"] else 0
    return page(request, project, "preferences/pairs.html", "preferences/_pairs.html", context, status)


@login_required
@require_GET
def pairs(request, pk):
    project = project_for(request, pk, "adjudicate")
    return _pairs_response(request, project)


@login_required
@require_POST
def recompute(request, pk):
    project = project_for(request, pk, "adjudicate")
    form = RecomputeForm(request.POST)
    if not form.is_valid():
        return _pairs_response(request, project, status=400, recompute_form=form)
    try:
        rec = tasks.request_consensus(
            project=project,
            actor=request.user,
            rule=form.cleaned_data["rule"],
            min_confidence=form.cleaned_data.get("min_confidence") or 0.0,
            full=bool(form.cleaned_data.get("full")),
        )
    except ServiceError as exc:
        form.add_error(None, exc.message)
        return _pairs_response(request, project, status=exc.status, recompute_form=form)
    stats = rec.result if rec.state == "done" else None
    if stats is None:  # queued: the progress bar (polled) says what happens; a notice would outlive it
        notice = ""
    else:
        notice = (
            f"Consensus recomputed ({form.cleaned_data['rule']}): "
            f"{stats['comparisons']} comparisons, {stats['pairs']} pairs, {stats['ties']} ties, "
            f"{stats['both_bad']} sent to SFT review; {stats['adjudicated']} follow a lead's adjudication, "
            f"{stats['discarded']} discarded."
        )
        if stats["harmful"]:
            notice += f" {stats['harmful']} pair(s) have a chosen response most judges reported harmful."
        if stats.get("mode") == "incremental":
            notice += " (Only the comparisons changed since the last run were recomputed.)"
    if not is_htmx(request):
        if notice:
            messages.success(request, notice)
        return redirect("preferences:pairs", pk=project.pk)
    return _pairs_response(request, project, notice=notice, stats=stats)


@login_required
@require_POST
def pair_update(request, pk):
    pair = object_for(request, PreferencePair.objects, pk, "adjudicate")
    project = pair.project
    form = PairUpdateForm(request.POST)
    errors = {}
    if form.is_valid():
        try:
            pair = services.set_pair_status(pair=pair, actor=request.user, **form.service_kwargs())
        except ServiceError as exc:
            errors = exc.errors or {"__all__": [exc.message]}
    else:
        errors = form.errors
    if not is_htmx(request):
        if errors:
            messages.error(request, "; ".join(m for msgs in errors.values() for m in msgs))
        else:
            messages.success(request, f"Pair #{pair.pk}: {pair.get_status_display().lower()}.")
        return redirect(_pairs_url(request, project))
    pair = selectors.candidate_pairs(project, include_stale=True).get(pk=pair.pk)
    _, kwargs = _pair_filters(request)  # the page's filters ride on the row forms' query string
    counts = selectors.cached_pair_counts(
        project, selectors.candidate_pairs(project, **kwargs), kwargs, fresh=not errors
    )
    context = {
        "pair": pair,
        "statuses": PairStatus.choices,
        "row_errors": errors,
        "saved": not errors,
        "filter_query": keyset.filter_query(request.GET),
        "counts": counts,
        "oob_counts": True,  # the page's "N candidate, M approved" line, swapped out of band
    }
    return render(request, "preferences/_pair_row.html", context, status=400 if errors else 200)


def _pairs_url(request, project) -> str:
    """The pairs page with the query string the request came with (filters and page)."""
    url = reverse("preferences:pairs", args=[project.pk])
    return f"{url}?{request.GET.urlencode()}" if request.GET else url


@login_required
@require_POST
def pairs_bulk(request, pk):
    """Approve or exclude the checked pairs, or approve every candidate matching the page's filters
    (the query string) with confidence >= `min_confidence`; the page (or its panel) comes back."""
    project = project_for(request, pk, "adjudicate")
    form = PairBulkForm(request.POST)
    errors, notice = [], ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            if data["min_confidence"] is not None:
                result = curation.approve_confident(
                    project=project,
                    actor=request.user,
                    min_confidence=data["min_confidence"],
                    filters=_pair_filters(request)[1],
                )
            else:
                result = curation.curate_pairs(
                    project=project, actor=request.user, action=data["action"], ids=data["ids"]
                )
            notice = result.sentence()
        except ServiceError as exc:
            errors = [m for msgs in (exc.errors or {"": [exc.message]}).values() for m in msgs]
    else:
        errors = [m for msgs in form.errors.values() for m in msgs]
    if not is_htmx(request):
        for m in errors:
            messages.error(request, m)
        if notice:
            messages.success(request, notice)
        return redirect(_pairs_url(request, project))
    return _pairs_response(
        request, project, status=400 if errors else 200, notice=notice, bulk_errors=errors, fresh=True
    )


# --- leaderboard ------------------------------------------------------------------------------


@login_required
@require_GET
def leaderboard(request, pk):
    project = project_for(request, pk, "view_dashboard")
    form = LeaderboardForm(request.GET or None)
    baseline = form.cleaned_data.get("baseline", "") if form.is_valid() else ""
    data = selectors.leaderboard(project, baseline=baseline)
    context = {
        "form": form,
        "board": data,
        "chart": charts.strength_chart(data["models"]),
        "matrix": charts.matrix_rows(data["names"], data["matrix"]),
        "matrix_chart": charts.matrix_chart(data["names"], data["matrix"]),
        "bias": charts.bias_rows(data.get("position_bias")),
    }
    context["bias_chart"] = charts.bias_chart(context["bias"])
    return page(request, project, "preferences/leaderboard.html", "preferences/_leaderboard.html", context)
