"""The import page."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from annotation.core.errors import ServiceError
from annotation.core.forms import add_service_errors
from annotation.core.web import object_for, page, project_for
from annotation.importing import bulk, external, jobs, tasks
from annotation.importing.forms import ExternalImportForm, ImportForm
from annotation.importing.parse import ImportFailed, detect_format
from annotation.models import ImportJob


@login_required
@require_http_methods(["GET", "POST"])
def import_items(request, pk):
    project = project_for(request, pk, "import_items")
    template, partial = "annotation/import.html", "annotation/_import.html"
    if request.method == "GET":
        return page(request, project, template, partial, {"form": ImportForm()})
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return page(request, project, template, partial, {"form": form}, status=400)
    upload, data = form.cleaned_data["file"], form.cleaned_data
    head = upload.read(200).decode("utf-8", "ignore")
    upload.seek(0)
    fmt = detect_format(upload.name, head)
    try:
        if jobs.needs_job(upload.size):  # a large file: a task imports it, the page shows its progress
            job = tasks.start_import(project=project, actor=request.user, upload=upload, fmt=fmt,
                                     mapping=data["mapping"], kind=data["kind"])  # fmt: skip
            return page(request, project, template, partial, {"form": ImportForm(), "job": job})
        result = bulk.import_file(
            project=project, actor=request.user, stream=upload, fmt=fmt, mapping=data["mapping"],
            kind=data["kind"], source=upload.name[:200], size=upload.size,
        )  # fmt: skip
    except ImportFailed as exc:
        context = {"form": form, "issues": exc.errors, "filename": upload.name}
        return page(request, project, template, partial, context, status=400)
    except ServiceError as exc:
        add_service_errors(form, exc.errors or {"__all__": [exc.message]})
        return page(request, project, template, partial, {"form": form}, status=exc.status)
    context = {"form": ImportForm(), "result": result, "filename": upload.name}
    return page(request, project, template, partial, context)


@login_required
def import_job(request, pk, job_pk):
    """The polled progress of an import job; its result or the file's issues once it ran."""
    job = object_for(request, ImportJob.objects.filter(project_id=pk), job_pk, "import_items")
    return render(request, "annotation/_import_progress.html", {"project": job.project, "job": job})


@login_required
@require_http_methods(["GET", "POST"])
def import_external(request, pk):
    """Label Studio exports and TRL preference datasets, with or without their judgments."""
    project = project_for(request, pk, "import_items")
    template, partial = "annotation/import_external.html", "annotation/_import_external.html"
    if request.method == "GET":
        return page(request, project, template, partial, {"form": ExternalImportForm()})
    form = ExternalImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return page(request, project, template, partial, {"form": form}, status=400)
    upload, data = form.cleaned_data["file"], form.cleaned_data
    try:
        parsed = external.parse_external(
            upload.read(), name=upload.name, fmt=data["format"], with_judgments=data["with_judgments"]
        )
        result = external.import_interchange(
            project=project, actor=request.user, parsed=parsed, source=upload.name[:200],
            with_judgments=data["with_judgments"],
        )  # fmt: skip
    except ImportFailed as exc:
        context = {"form": form, "issues": exc.errors, "filename": upload.name}
        return page(request, project, template, partial, context, status=400)
    except ServiceError as exc:
        add_service_errors(form, exc.errors or {"__all__": [exc.message]})
        return page(request, project, template, partial, {"form": form}, status=exc.status)
    context = {"form": ExternalImportForm(), "result": result, "filename": upload.name}
    return page(request, project, template, partial, context)
