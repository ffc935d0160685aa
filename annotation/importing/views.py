"""The import page."""

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_http_methods

from annotation.core.errors import ServiceError
from annotation.core.forms import add_service_errors
from annotation.core.web import page, project_for
from annotation.importing import external, services
from annotation.importing.forms import ExternalImportForm, ImportForm
from annotation.importing.parse import ImportFailed, detect_format, parse_items


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
    upload = form.cleaned_data["file"]
    data = upload.read()
    text_head = data[:200].decode("utf-8", "ignore")
    parsed = parse_items(
        data,
        fmt=detect_format(upload.name, text_head),
        mapping=form.cleaned_data["mapping"],
        kind=form.cleaned_data["kind"],
    )
    if not parsed.ok:
        context = {"form": form, "issues": parsed.errors, "filename": upload.name}
        return page(request, project, template, partial, context, status=400)
    try:
        result = services.import_items(
            project=project, actor=request.user, records=parsed.records, source=upload.name[:200]
        )
    except ServiceError as exc:
        add_service_errors(form, exc.errors or {"__all__": [exc.message]})
        return page(request, project, template, partial, {"form": form}, status=exc.status)
    context = {"form": ImportForm(), "result": result, "filename": upload.name}
    return page(request, project, template, partial, context)


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
