"""The lead's pages: the production explorer (filters, histograms, the 2-D map, scoring, selection
and each batch's outcome, import, ingest tokens, settings), one sample with every score, coverage."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotation.active_learning import configure, ingest, quality, records, selecting, selectors, tasks
from annotation.active_learning.models import ProductionSample, SelectionBatch
from annotation.active_learning.scores import project_settings, scoring_status
from annotation.active_learning.scoring import SIGNALS
from annotation.active_learning.selection import STRATEGIES
from annotation.core import broker
from annotation.core.errors import ServiceError
from annotation.core.web import page, project_for, query_choice, query_page

TEMPLATES = "annotation/active_learning/"


COLOURS = ("selection", "cluster", "priority", "quality", "entropy")  # the map's colourings


@login_required
def explorer(request, pk):
    project = project_for(request, pk, "view_production")
    selectors.check_filters(request)
    qs, filters = selectors.filtered_samples(project, request.GET)
    colour = query_choice(request, "colour", COLOURS, "selection")
    page_obj = Paginator(qs.order_by("-priority", "id"), 50).get_page(query_page(request))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "samples": page_obj.object_list,
        "page_obj": page_obj,
        "filter_query": query.urlencode(),
        "filters": filters,
        "colour": colour,
        "total": qs.count(),
        "versions": ProductionSample.objects.filter(project=project)
        .values_list("model_version", flat=True)
        .distinct()
        .order_by("model_version"),
        "histograms": selectors.histograms(qs),
        "map": selectors.embedding_map(qs, colour=colour),
        "outcomes": selectors.batch_outcomes(project),
        "strategies": STRATEGIES,
        "outputs": SelectionBatch.Output.choices,
        "quality_model": quality.latest(project),
        "tokens": project.ingest_tokens.all()[:20],
        "new_token": request.session.pop("new_ingest_token", None),
        "al_settings": project_settings(project),
        "settings_errors": request.session.pop("al_settings_errors", None),
        "scoring": _scoring(project, request.session.pop("al_scoring_watch", False)),
    }
    return page(request, project, TEMPLATES + "explorer.html", TEMPLATES + "explorer.html", context)


@login_required
def sample_detail(request, pk, sample_id):
    project = project_for(request, pk, "view_production")
    sample = get_object_or_404(
        ProductionSample.objects.prefetch_related("scores"), project=project, pk=sample_id
    )
    return page(request, project, TEMPLATES + "sample.html", TEMPLATES + "sample.html", {"sample": sample})


@login_required
@require_POST
def select(request, pk):
    project = project_for(request, pk, "select_samples")
    try:
        batch = selecting.select(
            project=project,
            actor=request.user,
            strategy=request.POST.get("strategy", ""),
            budget=int(request.POST.get("budget") or 0),
            output=request.POST.get("output") or project_settings(project)["default_output"],
            seed=int(request.POST.get("seed") or 0),
        )
    except (ServiceError, ValueError) as exc:
        messages.error(request, f"Nothing selected: {exc}")
        return redirect("annotation:production", pk=project.pk)
    if selecting.needs_generation(batch):
        broker.send_on_commit(tasks.materialize_batch, [batch.pk])
    messages.success(request, f"Selected {batch.n_selected} samples (batch #{batch.pk}, {batch.strategy}).")
    return redirect("annotation:production", pk=project.pk)


@login_required
@require_POST
def score(request, pk):
    project = project_for(request, pk, "select_samples")
    margin = bool(request.POST.get("margin"))
    if request.POST.get("retrain"):
        broker.send_on_commit(tasks.retrain_quality, [project.pk, True])
    transaction.on_commit(lambda: tasks.queue_scoring(project, workers=1, margin=margin))
    # no "queued" banner: the explorer's scoring line shows the backlog, live, until it is scored
    request.session["al_scoring_watch"] = True
    return redirect("annotation:production", pk=project.pk)


@login_required
def scoring(request, pk):
    """The explorer's polled scoring line: the backlog scored by the current model; polls until none
    is left."""
    project = project_for(request, pk, "view_production")
    return render(
        request, TEMPLATES + "_scoring_status.html", {"project": project, "scoring": _scoring(project, True)}
    )


def _scoring(project, watch: bool) -> dict:
    status = scoring_status(project)
    return {**status, "watch": watch and status["pending"] > 0}


@login_required
@require_POST
def import_samples(request, pk):
    project = project_for(request, pk, "ingest_samples")
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a JSONL or CSV file.")
        return redirect("annotation:production", pk=project.pk)
    raw = upload.read()
    try:
        parsed = records.parse_text(
            raw, fmt=records.detect_format(upload.name, raw[:500].decode("utf-8", "ignore"))
        )
        result = ingest.ingest(project=project, records=parsed, actor=request.user, source=upload.name)
    except records.ImportFailed as exc:
        messages.error(request, str(exc))
        return redirect("annotation:production", pk=project.pk)
    messages.success(request, f"Imported {result.created} samples; {result.duplicates} duplicates skipped.")
    return redirect("annotation:production", pk=project.pk)


@login_required
@require_POST
def create_token(request, pk):
    project = project_for(request, pk, "manage_ingest_tokens")
    _, secret = ingest.create_token(project=project, actor=request.user, name=request.POST.get("name", ""))
    request.session["new_ingest_token"] = secret  # shown once, on the next page view
    return redirect("annotation:production", pk=project.pk)


@login_required
@require_POST
def revoke_token(request, pk, token_id):
    project = project_for(request, pk, "manage_ingest_tokens")
    token = get_object_or_404(project.ingest_tokens, pk=token_id)
    ingest.revoke_token(token=token, actor=request.user)
    messages.success(request, f"Ingest token {token.prefix}… revoked.")
    return redirect("annotation:production", pk=project.pk)


@login_required
@require_POST
def update_settings(request, pk):
    project = project_for(request, pk, "configure_active_learning")
    post = request.POST
    changes = {name: post[name].strip() for name in configure.FIELDS if name in post and name != "weights"}
    weights = {name: post[f"weight_{name}"].strip() for name in SIGNALS if f"weight_{name}" in post}
    if weights:
        changes["weights"] = weights
    try:
        configure.update(project=project, actor=request.user, changes=changes)
    except ServiceError as exc:
        request.session["al_settings_errors"] = exc.errors or {"settings": [exc.message]}
        messages.error(request, f"Settings not saved: {exc.message}")
        return redirect("annotation:production", pk=project.pk)
    messages.success(request, "Active-learning settings saved.")
    return redirect("annotation:production", pk=project.pk)


@login_required
@require_http_methods(["GET", "POST"])
def coverage(request, pk):
    project = project_for(request, pk, "view_production")
    if request.method == "POST":
        selectors.compute_coverage(project)
        return redirect("annotation:coverage", pk=project.pk)
    report = project.coverage_reports.first()
    return page(
        request, project, TEMPLATES + "coverage.html", TEMPLATES + "coverage.html", {"report": report}
    )
