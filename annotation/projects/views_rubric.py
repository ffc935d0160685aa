"""The lead's rubric pages: the builder (a form per criterion, a live preview of the annotator's
panel), the JSON path for power users, JSON export and the side-by-side comparison of two versions.

Every save goes through `services.create_rubric_version` (the next version, `validate_criteria`'s
rules); the preview saves nothing.
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.core.errors import ServiceError
from annotation.core.forms import add_service_errors
from annotation.core.rubric_diff import diff_criteria, diff_summary
from annotation.core.rubrics import RubricError, panel_criteria
from annotation.core.web import is_htmx, page, project_for, query_int
from annotation.projects import selectors, services
from annotation.projects.forms import RubricVersionForm
from annotation.projects.rubric_forms import (
    VersionForm,
    criteria_from_formset,
    criterion_formset,
    preview_criteria,
)


def _preview(formset, version_form, number):
    """The preview pane's context: the annotator's panel for what the builder holds, and its errors."""
    criteria, errors = preview_criteria(formset)
    instructions = version_form.cleaned_data.get("instructions", "") if version_form.is_valid() else ""
    return {
        "preview_errors": errors,
        "preview_version": {"number": number, "instructions": instructions},
        "preview_criteria": panel_criteria(criteria),
    }


def _rubric_response(
    request, project, *, json_form=None, formset=None, version_form=None, status=200, created=None, start=None
):
    """The rubric page; the builder starts from `start` (a version), by default the current one."""
    current = project.current_rubric_version()
    next_number = current.number + 1 if current else 1
    start = start or current
    if json_form is None:
        initial = {"criteria": json.dumps(current.criteria, indent=2) if current else "[]"}
        if current:
            initial["instructions"] = current.instructions
        json_form = RubricVersionForm(initial=initial)
    builder_errors = {}
    if formset is None:
        instructions = start.instructions if start else ""
        formset = criterion_formset(start.criteria if start else [])
        version_form = VersionForm(initial={"instructions": instructions})
        preview = {
            "preview_errors": {},
            "preview_version": {"number": next_number, "instructions": instructions},
            "preview_criteria": panel_criteria(start.criteria if start else []),
        }
    else:
        preview = _preview(formset, version_form, next_number)
        builder_errors = preview["preview_errors"]
    versions = list(selectors.rubric_versions(project))
    for version, older in zip(versions, versions[1:], strict=False):
        version.previous = older if older.rubric_id == version.rubric_id else None
    context = {
        "versions": versions,
        "form": json_form,
        "formset": formset,
        "version_form": version_form,
        "builder_errors": builder_errors,
        "next_number": next_number,
        "start": start if start and start != current else None,
        "created": created,
        **preview,
    }
    return page(request, project, "annotation/rubric.html", "annotation/_rubric.html", context, status)


def _created(request, project, version):
    if not is_htmx(request):
        messages.success(request, f"Created version {version.number}.")
        return redirect("annotation:rubric", pk=project.pk)
    return _rubric_response(request, project, created=version)


@login_required
@require_http_methods(["GET", "POST"])
def rubric(request, pk):
    """The rubric page; a POST here is the JSON path (criteria as a JSON list)."""
    project = project_for(request, pk, "edit_rubric")
    if request.method == "GET":
        start = None
        if "from" in request.GET:  # fill the builder with an older version ("Start the builder from")
            start = get_object_or_404(selectors.rubric_versions(project), pk=query_int(request, "from", 0))
        return _rubric_response(request, project, start=start)
    form = RubricVersionForm(request.POST)
    if not form.is_valid():
        return _rubric_response(request, project, json_form=form, status=400)
    try:
        version = services.create_rubric_version(project=project, actor=request.user, **form.cleaned_data)
    except ServiceError as exc:
        add_service_errors(form, exc.errors or {"__all__": [exc.message]})
        return _rubric_response(request, project, json_form=form, status=exc.status)
    return _created(request, project, version)


@login_required
@require_POST
def rubric_builder(request, pk):
    """Save what the builder holds as the next version."""
    project = project_for(request, pk, "edit_rubric")
    formset, version_form = criterion_formset(data=request.POST), VersionForm(request.POST)
    try:
        criteria = criteria_from_formset(formset)
    except RubricError:
        return _rubric_response(request, project, formset=formset, version_form=version_form, status=400)
    if not version_form.is_valid():
        return _rubric_response(request, project, formset=formset, version_form=version_form, status=400)
    try:
        version = services.create_rubric_version(
            project=project, actor=request.user, criteria=criteria, **version_form.cleaned_data
        )
    except ServiceError as exc:
        add_service_errors(version_form, exc.errors or {"__all__": [exc.message]})
        return _rubric_response(
            request, project, formset=formset, version_form=version_form, status=exc.status
        )
    return _created(request, project, version)


@login_required
@require_POST
def rubric_preview(request, pk):
    """The annotator's panel for the builder's current content (nothing is saved); 400 with the errors."""
    project = project_for(request, pk, "edit_rubric")
    current = project.current_rubric_version()
    formset, version_form = criterion_formset(data=request.POST), VersionForm(request.POST)
    context = _preview(formset, version_form, current.number + 1 if current else 1)
    status = 400 if context["preview_errors"] else 200
    return render(request, "annotation/_rubric_preview.html", context, status=status)


@login_required
@require_GET
def rubric_compare(request, pk):
    """Two versions side by side (`?a=<id>&b=<id>`; by default the one before the current, and the current)."""
    project = project_for(request, pk, "edit_rubric")
    versions = list(selectors.rubric_versions(project))
    by_pk = {v.pk: v for v in versions}
    chosen = {name: query_int(request, name) for name in ("a", "b")}
    old = by_pk.get(chosen["a"]) or (versions[1] if len(versions) > 1 else None)
    new = by_pk.get(chosen["b"]) or (versions[0] if versions else None)
    bad = [name for name, pk in chosen.items() if pk is not None and pk not in by_pk]
    rows = diff_criteria(old.criteria, new.criteria) if old and new else []
    context = {
        "versions": versions,
        "old": old,
        "new": new,
        "rows": rows,
        "summary": diff_summary(rows),
        "instructions_changed": bool(old and new and old.instructions != new.instructions),
        "bad": bad,
    }
    template, partial = "annotation/rubric_compare.html", "annotation/_rubric_compare.html"
    return page(request, project, template, partial, context, status=404 if bad else 200)


@login_required
@require_GET
def rubric_export(request, pk, version_pk):
    """One version's criteria as the JSON list the JSON path (and the API's `criteria`) accepts."""
    project = project_for(request, pk, "view_project")
    version = get_object_or_404(selectors.rubric_versions(project), pk=version_pk)
    body = json.dumps(version.criteria, indent=2, ensure_ascii=False) + "\n"
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="rubric-{project.pk}-v{version.number}.json"'
    return response
