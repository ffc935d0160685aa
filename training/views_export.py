"""The export pages (lead and up): export a snapshot or the curated pairs page's view, the export
job's progress and download, the Hub push, and the diff of two snapshots.

Small exports (at most TUNELOOP_EXPORT_INLINE_ROWS rows) happen in the request: JSONL and CSV stream
straight to the browser as files (a page links each split's file, the dataset card README.md beside
them, and the zip of both); Parquet and Hugging Face folders are written and sent as a zip (the files
per split plus README.md). Larger ones run as a job whose page polls its progress and then offers the
download. Outsiders get 404, members below lead 403.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from annotation.core import broker
from annotation.core.errors import ServiceError
from annotation.core.web import is_htmx, mark_download, object_for, page, project_for, query_int, query_text

from . import exports, selectors
from . import runs as actions
from .access import TRAIN_ACTION as TRAIN
from .access import VIEW_ACTION as VIEW
from .forms import ExportForm, ExportFromPairsForm
from .models import DatasetSnapshot, ExportJob, SnapshotKind


def _redirect(request, url):
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _send_or_queue(request, snapshot, data, back_url):
    """Stream a small ready snapshot's export now; otherwise queue a job and open its page."""
    layout, fmt, provenance = data["layout"], data["format"], bool(data.get("provenance"))
    try:
        if snapshot.is_ready and exports.streams_inline(snapshot, fmt):
            exports.check_export(snapshot, layout, fmt)
            query = urlencode({"layout": layout, "format": fmt, "provenance": "1" if provenance else ""})
            return _redirect(request, reverse("training:snapshot-files", args=[snapshot.pk]) + "?" + query)
        if snapshot.is_ready and actions.exports_inline(snapshot):
            archive = exports.export_archive(snapshot, layout=layout, fmt=fmt, provenance=provenance)
            return mark_download(request, FileResponse(
                archive, as_attachment=True, filename=exports.archive_name(snapshot, layout, fmt),
                content_type="application/zip",
            ))  # fmt: skip
        job = actions.request_export(
            snapshot=snapshot, actor=request.user, layout=layout, fmt=fmt, provenance=provenance
        )
    except ServiceError as exc:
        messages.error(request, f"Could not export: {exc.message}")
        return _redirect(request, back_url)
    # no "queued" banner: the export page shows the job's state and progress, live; only a broker that
    # does not answer needs words (the job is kept queued)
    broker.queued(request, None, f"Export #{job.pk}")
    return _redirect(request, reverse("training:export", args=[job.pk]))


@login_required
@require_POST
def snapshot_export(request, pk):
    snapshot = object_for(request, DatasetSnapshot.objects, pk, TRAIN)
    back = reverse("training:snapshot", args=[snapshot.pk])
    form = ExportForm(request.POST, layouts=exports.layouts_for(snapshot.kind))
    if not form.is_valid():
        messages.error(
            request, "Could not export: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        )
        return _redirect(request, back)
    return _send_or_queue(request, snapshot, form.cleaned_data, back)


@login_required
@require_POST
def pairs_export(request, pk):
    """The curated pairs page's Export: a DPO snapshot of the pairs the page shows (reused when an
    identical one exists), then its export."""
    project = project_for(request, pk, TRAIN)
    back = reverse("preferences:pairs", args=[project.pk])
    form = ExportFromPairsForm(request.POST, layouts=exports.layouts_for(SnapshotKind.DPO))
    if not form.is_valid():
        messages.error(
            request, "Could not export: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        )
        return _redirect(request, back)
    try:
        snapshot = actions.snapshot_for_export(
            project=project, actor=request.user, source="pairs", filters=form.snapshot_filters()
        )
    except ServiceError as exc:
        messages.error(request, f"Could not snapshot the pairs: {exc.message}")
        return _redirect(request, back)
    return _send_or_queue(request, snapshot, form.cleaned_data, back)


def _stream_args(request, pk):
    snapshot = object_for(request, DatasetSnapshot.objects, pk, TRAIN)
    layout, fmt = query_text(request, "layout"), query_text(request, "format")
    return snapshot, layout, fmt, query_text(request, "provenance") in ("1", "on", "true")


def _bad(exc: ServiceError) -> HttpResponse:
    text = "; ".join(m for msgs in (exc.errors or {}).values() for m in msgs) or exc.message
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


@login_required
def snapshot_files(request, pk):
    """The files of a small JSONL / CSV export: one link a split (streamed), the card, the zip."""
    snapshot, layout, fmt, provenance = _stream_args(request, pk)
    try:
        exports.check_stream(snapshot, layout, fmt, exports.splits_of(snapshot)[0])
    except (ServiceError, IndexError) as exc:
        return _bad(exc) if isinstance(exc, ServiceError) else HttpResponse(status=400)
    query = urlencode({"layout": layout, "format": fmt, "provenance": "1" if provenance else ""})
    files = [
        (split, exports.file_name(snapshot, layout, split, fmt), f"{query}&split={split}")
        for split in exports.splits_of(snapshot)
    ]
    context = {"snapshot": snapshot, "layout": layout, "fmt": fmt, "provenance": provenance, "files": files,
               "query": query}  # fmt: skip
    return page(
        request, snapshot.project, "training/export_files.html", "training/export_files.html", context
    )


@login_required
def snapshot_file(request, pk):
    """One split of a small JSONL / CSV export, streamed as it is encoded."""
    snapshot, layout, fmt, provenance = _stream_args(request, pk)
    split = query_text(request, "split", "train")
    try:
        exports.check_stream(snapshot, layout, fmt, split)
    except ServiceError as exc:
        return _bad(exc)
    response = StreamingHttpResponse(
        exports.stream_file(snapshot, layout=layout, fmt=fmt, provenance=provenance, split=split),
        content_type=exports.STREAMED_FORMATS[fmt],
    )
    response["Content-Disposition"] = content_disposition_header(
        True, exports.file_name(snapshot, layout, split, fmt)
    )
    return response


@login_required
def snapshot_card(request, pk):
    """The dataset card (README.md) of a small export streamed as files."""
    snapshot, layout, fmt, provenance = _stream_args(request, pk)
    try:
        text = exports.card_text(snapshot, layout=layout, fmt=fmt, provenance=provenance)
    except ServiceError as exc:
        return _bad(exc)
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, "README.md")
    return response


@login_required
def snapshot_zip(request, pk):
    """The same small export zipped (the files per split and README.md)."""
    snapshot, layout, fmt, provenance = _stream_args(request, pk)
    try:
        if not actions.exports_inline(snapshot):
            raise ServiceError("This snapshot is too large to export in the request; export it as a job.")
        archive = exports.export_archive(snapshot, layout=layout, fmt=fmt, provenance=provenance)
    except ServiceError as exc:
        return _bad(exc)
    return FileResponse(
        archive, as_attachment=True, filename=exports.archive_name(snapshot, layout, fmt),
        content_type="application/zip",
    )  # fmt: skip


def _job_for(request, pk, action=VIEW) -> ExportJob:
    return object_for(request, ExportJob.objects.select_related("snapshot"), pk, action)


def _job_context(job) -> dict:
    return {"job": job, "can_push": bool(settings.TUNELOOP_HF_TOKEN) and job.format == "hf"}


@login_required
def export_detail(request, pk):
    job = _job_for(request, pk)
    return page(
        request, job.project, "training/export.html", "training/_export_progress.html", _job_context(job)
    )


@login_required
def export_progress(request, pk):
    """The polled partial; it stops polling once the job has ended."""
    job = _job_for(request, pk)
    return render(request, "training/_export_progress.html", {"project": job.project, **_job_context(job)})


@login_required
def export_download(request, pk):
    job = _job_for(request, pk)
    path = exports.job_file(job)
    if path is None:
        raise Http404("This export has no file (yet).")
    return FileResponse(
        open(path, "rb"), as_attachment=True, filename=path.name, content_type="application/zip"
    )


@login_required
@require_POST
def export_push(request, pk):
    job = _job_for(request, pk, TRAIN)
    try:
        actions.push_export(
            job=job, actor=request.user, repo_id=request.POST.get("repo_id", "").strip(),
            private=request.POST.get("public") != "on",
        )  # fmt: skip
    except ServiceError as exc:
        messages.error(request, f"Not pushed: {exc.message}")
    else:
        messages.success(request, f"Pushed to the Hub as {job.hub_repo}.")
    return _redirect(request, reverse("training:export", args=[job.pk]))


@login_required
def snapshot_diff(request, pk):
    """What changed from snapshot `pk` to `?against=` (both of this project)."""
    snapshot = object_for(request, DatasetSnapshot.objects, pk, VIEW)
    project = snapshot.project
    others = selectors.snapshots_for(project).exclude(pk=snapshot.pk)
    other, diff = None, None
    against = query_int(request, "against")
    if against is not None:
        other = others.filter(pk=against).first()
        if other is None:
            raise Http404("No such snapshot in this project.")
        diff = exports.diff(snapshot, other)
    context = {"snapshot": snapshot, "other": other, "others": others, "diff": diff}
    return page(request, project, "training/snapshot_diff.html", "training/snapshot_diff.html", context)
