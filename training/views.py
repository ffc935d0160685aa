"""The training pages (lead and up): snapshots, runs with live progress, the model registry.

Thin: writes go through training.runs / training.registry, reads through training.selectors. Outsiders get 404,
members without the lead role 403 (annotation.core.web.project_for).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from annotation.core import broker
from annotation.core.errors import ServiceError
from annotation.core.forms import add_service_errors
from annotation.core.permissions import can
from annotation.core.web import is_htmx, object_for, page, project_for, query_choice, query_int

from . import exports, registry, registry_links, selectors
from . import runs as run_actions
from . import snapshots as snapshot_build
from .access import TRAIN_ACTION as TRAIN
from .access import VIEW_ACTION as VIEW
from .forms import RunForm, SnapshotForm
from .models import DatasetSnapshot, ModelVersion, RunState, SnapshotKind, Split, TrainingRun

# --- snapshots ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def snapshots(request, pk):
    project = project_for(request, pk, VIEW)
    status = 200
    form = SnapshotForm(
        initial={"kind": query_choice(request, "kind", SnapshotKind.values, SnapshotKind.SFT)}
    )
    if request.method == "POST":
        project_for(request, pk, TRAIN)
        form = SnapshotForm(request.POST)
        if form.is_valid():
            try:
                snapshot = run_actions.request_snapshot(
                    project=project, actor=request.user, **form.service_kwargs()
                )
            except ServiceError as exc:
                add_service_errors(form, exc.errors or {"__all__": [exc.message]})
                status = exc.status
            else:
                if snapshot.is_building:  # its page shows the live state; words only if the broker is down
                    broker.queued(request, None, f"Snapshot #{snapshot.pk}")
                else:
                    _flash_outcome(request, _snapshot_notice(snapshot))
                url = reverse("training:snapshot", args=[snapshot.pk])
                if is_htmx(request):
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = url
                    return response
                return redirect(url)
        else:
            status = 400
    context = {"form": form, "snapshots": selectors.snapshots_for(project)}
    return page(request, project, "training/snapshots.html", "training/_snapshots.html", context, status)


def _snapshot_notice(snapshot) -> tuple[str, bool] | None:
    """What the next page says of a requested snapshot: an outcome once there is one. A building
    snapshot gets no banner: its page shows the live state (a message would outlive the build)."""
    if snapshot.is_ready:
        return f"Snapshot #{snapshot.pk} built: {snapshot.total_count} rows.", True
    if snapshot.is_building:
        return None
    return f"Snapshot #{snapshot.pk} failed to build: {snapshot.error}", False


def _flash_outcome(request, outcome: tuple[str, bool] | None) -> None:
    if outcome is not None:
        notice, ok = outcome
        (messages.success if ok else messages.error)(request, notice)


def _snapshot_for(request, pk) -> DatasetSnapshot:
    return object_for(request, DatasetSnapshot.objects.select_related("created_by"), pk, VIEW)


@login_required
def snapshot_detail(request, pk):
    snapshot = _snapshot_for(request, pk)
    report = snapshot.quality_report or {}
    context = {
        "snapshot": snapshot,
        "report": report,
        "sample": selectors.snapshot_rows(snapshot, Split.TRAIN)[:5],
        "runs": snapshot.runs.order_by("-id")[:20],
        "length_fields": [(k, v) for k, v in (report.get("lengths") or {}).items() if v],
        "export_layouts": exports.layouts_for(snapshot.kind),
        "exports": snapshot.exports.order_by("-id")[:10],
    }
    return page(request, snapshot.project, "training/snapshot.html", "training/snapshot.html", context)


@login_required
def snapshot_progress(request, pk):
    """The polled partial of a building snapshot; once it is ready or failed, htmx reloads the page."""
    snapshot = _snapshot_for(request, pk)
    response = render(request, "training/_snapshot_progress.html", {"snapshot": snapshot})
    if not snapshot.is_building and is_htmx(request):
        response["HX-Refresh"] = "true"
    return response


@login_required
def snapshot_download(request, pk):
    snapshot = _snapshot_for(request, pk)
    split = query_choice(request, "split", Split.values, None)
    response = StreamingHttpResponse(
        snapshot_build.snapshot_jsonl(snapshot, split), content_type="application/x-ndjson"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="snapshot-{snapshot.pk}{"-" + split if split else ""}.jsonl"'
    )
    return response


# --- runs ----------------------------------------------------------------------------------------


@login_required
def runs(request, pk):
    project = project_for(request, pk, VIEW)
    return page(
        request, project, "training/runs.html", "training/runs.html", {"runs": selectors.runs_for(project)}
    )


def _run_form(project, data=None, initial=None):
    return RunForm(
        data,
        initial=initial,
        snapshots=selectors.snapshots_for(project),
        versions=selectors.model_versions_for(project).filter(method=SnapshotKind.SFT),
    )


@login_required
@require_http_methods(["GET", "POST"])
def run_new(request, pk):
    project = project_for(request, pk, TRAIN)
    status = 200
    if request.method == "POST":
        form = _run_form(project, request.POST)
        if form.is_valid():
            snapshot = selectors.snapshots_for(project).filter(pk=form.cleaned_data["snapshot"]).first()
            try:
                run = run_actions.start_run(
                    project=project, actor=request.user, snapshot=snapshot, config=form.config(snapshot.kind)
                )
            except ServiceError as exc:
                add_service_errors(form, {("snapshot" if k == "method" else k): v for k, v in exc.errors.items()}
                                   or {"__all__": [exc.message]})  # fmt: skip
                status = exc.status
            else:  # no banner: the run page's badge shows its state, live (a "queued" message would outlive it)
                broker.queued(request, None, f"Run #{run.pk}")  # words only when the broker does not answer
                return redirect("training:run", pk=run.pk)
        else:
            status = 400
    else:
        snapshot = selectors.snapshots_for(project).filter(pk=query_int(request, "snapshot", 0)).first()
        snapshot = snapshot or selectors.snapshots_for(project).first()
        method = snapshot.kind if snapshot else SnapshotKind.SFT
        initial = {k: v for k, v in run_actions.default_run_config(project, method).items() if v is not None}
        initial["snapshot"] = snapshot.pk if snapshot else None
        latest_sft = selectors.model_versions_for(project).filter(method=SnapshotKind.SFT).first()
        if method == SnapshotKind.DPO and latest_sft is not None:
            initial["init_model_version"] = latest_sft.pk
        form = _run_form(project, initial=initial)
    chosen = selectors.snapshots_for(project).filter(pk=query_int(request, "snapshot", 0)).first()
    context = {
        "form": form,
        "has_snapshots": bool(form.fields["snapshot"].choices),
        "pending": chosen if chosen is not None and not chosen.is_ready else None,
    }
    return page(request, project, "training/run_new.html", "training/run_new.html", context, status)


def _run_for(request, pk, action=VIEW) -> TrainingRun:
    return object_for(request, TrainingRun.objects.select_related("snapshot", "init_from"), pk, action)


def _run_context(run) -> dict:
    series = selectors.metric_series(run, ["loss", "eval_loss", "rewards/margins", "rewards/accuracies"])
    return {
        "run": run,
        "loss": series.get("loss", []),
        "eval_loss": series.get("eval_loss", []),
        "margins": series.get("rewards/margins", []),
        "accuracies": series.get("rewards/accuracies", []),
        "version": ModelVersion.objects.filter(run=run).first(),
    }


@login_required
def run_detail(request, pk):
    run = _run_for(request, pk)
    return page(request, run.project, "training/run.html", "training/_run_progress.html", _run_context(run))


@login_required
def run_progress(request, pk):
    """The polled partial: progress bar, charts and log tail; stops polling once the run ends."""
    run = _run_for(request, pk)
    return render(request, "training/_run_progress.html", {"project": run.project, **_run_context(run)})


@login_required
@require_POST
def run_cancel(request, pk):
    run = _run_for(request, pk, TRAIN)
    return _run_action(request, run, run_actions.cancel_run, "Cancel requested.")


@login_required
@require_POST
def run_resume(request, pk):
    run = _run_for(request, pk, TRAIN)
    return _run_action(
        request, run, run_actions.resume_run, "Run queued again; it continues from its last checkpoint."
    )


def _run_action(request, run, action, notice):
    status = 200
    try:
        run = action(run=run, actor=request.user)
    except ServiceError as exc:
        notice, status = exc.message, exc.status
    run.refresh_from_db()
    if status == 200 and run.state == RunState.QUEUED and not broker.available():
        notice = broker.queued_notice(f"Run #{run.pk}")
        if not is_htmx(request):
            messages.warning(request, notice)
    if not is_htmx(request):  # the run page's badge shows the new state; only a refusal needs words
        if status != 200:
            messages.error(request, notice)
        return redirect("training:run", pk=run.pk)
    context = {"project": run.project, "notice": notice, "error": status != 200, **_run_context(run)}
    return render(request, "training/_run_progress.html", context, status=status)


@login_required
@require_POST
def train_dpo(request, pk):
    """One click from the curated pairs page: a DPO snapshot of the approved pairs (default filters)
    is queued, then the run form opens prefilled with it (showing its progress until it is ready)."""
    project = project_for(request, pk, TRAIN)
    try:
        snapshot = run_actions.request_snapshot(
            project=project, actor=request.user, kind=SnapshotKind.DPO, filters={}, reuse_identical=True
        )
    except ServiceError as exc:
        messages.error(request, f"Could not build a DPO snapshot: {exc.message}")
        url = reverse("preferences:pairs", args=[project.pk])
    else:
        if snapshot.is_ready:  # a building one has no banner: the run form shows its progress, live
            messages.success(
                request, f"Snapshot #{snapshot.pk}: {snapshot.total_count} pairs. Review the run settings."
            )
        url = reverse("training:run-new", args=[project.pk]) + f"?snapshot={snapshot.pk}"
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


# --- model registry ----------------------------------------------------------------------------------


@login_required
def models(request, pk):
    project = project_for(request, pk, VIEW)
    versions = list(selectors.model_versions_for(project))
    for v in versions:
        v.links = registry_links.links_for(v)
    chosen = [v for v in versions if str(v.pk) in request.GET.getlist("compare")]
    context = {
        "versions": versions,
        "compare": _compare(chosen) if len(chosen) >= 2 else None,
        "can_promote": can(request.user, TRAIN, project),
    }
    return page(request, project, "training/models.html", "training/models.html", context)


@login_required
@require_POST
def model_promote(request, pk):
    version = object_for(request, ModelVersion.objects, pk, TRAIN)
    try:
        registry.promote(version, by=request.user)
    except ServiceError as exc:  # e.g. evaluation's gates: the message says where to promote instead
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{version.name} is now the project's current model.")
    url = reverse("training:models", args=[version.project_id])
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _side_by_side(versions, field: str) -> list[dict]:
    """One row per key of the versions' `field` dicts: the values by version, and whether they differ."""
    keys = sorted({k for v in versions for k in (getattr(v, field) or {})})
    rows = []
    for k in keys:
        values = [(getattr(v, field) or {}).get(k) for v in versions]
        rows.append({"key": k, "values": values, "differs": len({repr(x) for x in values}) > 1})
    return rows


def _compare(versions) -> dict:
    """Config keys that differ, every metric, and the environment (differences marked), side by side."""
    config = _side_by_side(versions, "config")
    diff = [row for row in config if row["differs"]]
    return {
        "versions": versions,
        "diff": diff,
        "metrics": _side_by_side(versions, "metrics"),
        "environment": _side_by_side(versions, "library_versions") + _side_by_side(versions, "device"),
        "same": len(config) - len(diff),
    }


@login_required
def model_download(request, pk):
    version = object_for(request, ModelVersion.objects, pk, VIEW)
    archive = registry.model_archive(version)
    if archive is None:
        raise Http404("The adapter files are not on this server.")
    return FileResponse(archive, as_attachment=True, filename=f"model-{version.pk}.zip")
