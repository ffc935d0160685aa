"""The import page."""

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_http_methods

from annotation.core.errors import ServiceError
from annotation.core.forms import add_service_errors
from annotation.core.web import page, project_for
from annotation.importing import services
from annotation.importing.forms import ImportForm
from annotation.importing.parse import detect_format, parse_items


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
