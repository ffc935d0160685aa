"""The htmx pages: project list, SFT review, and the lead pages (dashboard, members, rubric, import,
audit, settings). Thin: writes go through annotation.services, reads through annotation.selectors.

Outsiders get 404 for a project (its existence is not leaked); members without the role get 403.
Service errors are shown inline with the status the service gives them, never as a 500.
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .errors import NotFound, ServiceError
from .forms import (
    ImportForm,
    MemberForm,
    ProjectSettingsForm,
    RemoveMemberForm,
    RubricVersionForm,
    add_service_errors,
    sft_submission,
)
from .importing import detect_format, parse_items
from .models import FLAG_CHOICES, ItemKind, Project, Role
from .permissions import can, role_for

FLAG_KEYS = {"pii": "p", "unsafe": "u", "factual_error": "f", "off_topic": "o"}
DECISIONS = [("accept", "Accept", "a"), ("edit", "Edit", "e"), ("reject", "Reject", "r")]


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def project_for(request, pk, action="view_project") -> Project:
    """The project if the user may see it (404 otherwise) and may do `action` in it (403 otherwise)."""
    project = get_object_or_404(Project, pk=pk)
    if not can(request.user, "view_project", project):
        raise Http404("No such project.")
    if not can(request.user, action, project):
        raise PermissionDenied(f"You may not {action.replace('_', ' ')} in this project.")
    return project


def page(request, project, template, partial, context, status=200):
    """Render the whole page, or only its partial for an htmx request."""
    context = {
        "project": project,
        "role": role_for(request.user, project),
        "is_lead": can(request.user, "view_dashboard", project),
        **context,
    }
    return render(request, partial if is_htmx(request) else template, context, status=status)


# --- project list ---------------------------------------------------------------------------


@login_required
def project_list(request):
    return render(request, "annotation/project_list.html", {"rows": selectors.projects_for(request.user)})


# --- SFT review -----------------------------------------------------------------------------


def _criteria_for_display(criteria, scores, errors):
    out = []
    for index, criterion in enumerate(criteria):
        key = criterion["key"]
        current = scores.get(key)
        current = "" if current is None else str(current).lower()
        if criterion["type"] == "likert":
            options = [(str(n), str(n)) for n in range(1, 6)]
        elif criterion["type"] == "binary":
            options = [("yes", "Yes"), ("no", "No")]
            current = {"true": "yes", "1": "yes", "y": "yes", "false": "no", "0": "no", "n": "no"}.get(
                current, current
            )
        else:
            options = [(label, label) for label in criterion.get("labels", [])]
        out.append(
            {
                **criterion,
                "index": index,
                "options": [
                    {"value": value, "label": label, "checked": value.lower() == current, "n": i + 1}
                    for i, (value, label) in enumerate(options)
                ],
                "errors": (errors or {}).get(f"scores.{key}", []),
            }
        )
    return out


def _task_context(request, project, assignment, *, values=None, errors=None, notice="", elapsed=0):
    values = values or {}
    errors = errors or {}
    progress = selectors.project_progress(project, request.user)["mine"]
    context = {
        "project": project,
        "progress": progress,
        "notice": notice,
        "guidelines": project.guidelines,
        "flag_choices": [
            {"key": k, "label": v, "shortcut": FLAG_KEYS[k], "checked": k in values.get("flags", [])}
            for k, v in FLAG_CHOICES.items()
        ],
        "decisions": [
            {"value": v, "label": label, "shortcut": key, "checked": values.get("decision") == v}
            for v, label, key in DECISIONS
        ],
        "errors": errors,
        "values": values,
        "elapsed": elapsed,
    }
    if assignment is None:
        context["task"] = None
        return context
    version = project.current_rubric_version()
    if values.get("rubric_version_id"):
        version = selectors.rubric_versions(project).filter(pk=values["rubric_version_id"]).first() or version
    task = selectors.sft_task(assignment)
    response_text = task["response"].text if task["response"] else ""
    known = {"decision", "edited_text", "flags", "comment", "rubric_version", "duration_seconds"}
    context.update(
        task=task,
        rubric_version=version,
        criteria=_criteria_for_display(version.criteria if version else [], values.get("scores", {}), errors),
        edited_text=values.get("edited_text") or response_text,
        other_errors={k: v for k, v in errors.items() if k not in known and not k.startswith("scores.")},
        position=progress["done"] + 1,
    )
    return context


def _render_task(request, project, assignment, *, status=200, full=False, **kwargs):
    context = _task_context(request, project, assignment, **kwargs)
    template = "annotation/review.html" if full else "annotation/_sft_task.html"
    if full:
        context.update(
            role=role_for(request.user, project), is_lead=can(request.user, "view_dashboard", project)
        )
    return render(request, template, context, status=status)


def _next(request, project):
    return services.next_assignment(project=project, user=request.user, kind=ItemKind.SFT)


@login_required
def review(request, pk):
    project = project_for(request, pk, "annotate")
    try:
        assignment = _next(request, project)
    except ServiceError as exc:
        return render(request, "annotation/error.html", {"error": exc}, status=exc.status)
    return _render_task(request, project, assignment, full=not is_htmx(request))


@login_required
@require_POST
def submit(request, pk):
    try:
        assignment = services.get_assignment_for(assignment_id=pk, user=request.user)
    except NotFound as exc:
        return render(request, "annotation/_message.html", {"error": exc}, status=exc.status)
    project = assignment.project
    if not can(request.user, "view_project", project):
        raise Http404("No such project.")
    values = sft_submission(request.POST)
    try:
        judgment = services.submit_judgment(assignment=assignment, user=request.user, **values)
    except ServiceError as exc:
        return _render_task(
            request,
            project,
            assignment,
            values=values,
            errors=exc.errors or {"__all__": [exc.message]},
            elapsed=_float(values.get("duration_seconds")),
            status=exc.status,
            full=not is_htmx(request),
        )
    notice = f"Saved item #{judgment.item_id}: {judgment.get_decision_display().lower()}."
    if not is_htmx(request):
        messages.success(request, notice)
        return redirect("annotation:review", pk=project.pk)
    return _render_task(request, project, _next(request, project), notice=notice)


@login_required
@require_POST
def skip(request, pk):
    try:
        assignment = services.get_assignment_for(assignment_id=pk, user=request.user)
        project = assignment.project
        services.skip_assignment(
            assignment=assignment, user=request.user, reason=request.POST.get("reason", "")
        )
    except ServiceError as exc:
        return render(request, "annotation/_message.html", {"error": exc}, status=exc.status)
    notice = f"Skipped item #{assignment.item_id}."
    if not is_htmx(request):
        messages.info(request, notice)
        return redirect("annotation:review", pk=project.pk)
    try:
        nxt = _next(request, project)
    except ServiceError as exc:
        return render(request, "annotation/_message.html", {"error": exc}, status=exc.status)
    return _render_task(request, project, nxt, notice=notice)


def _float(value):
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 0


# --- lead pages -----------------------------------------------------------------------------


@login_required
def dashboard(request, pk):
    project = project_for(request, pk, "view_dashboard")
    data = selectors.dashboard(project)
    states = [{"state": state, "count": count} for state, count in data["progress"]["items_by_state"].items()]
    context = {
        **data,
        "states": states,
        "peak_hour": max((r["count"] for r in data["throughput"]), default=0),
    }
    return page(request, project, "annotation/dashboard.html", "annotation/_dashboard.html", context)


def _members_response(request, project, form=None, status=200, notice=""):
    context = {
        "notice": notice,
        "members": selectors.members(project),
        "form": form or MemberForm(),
        "roles": Role.choices,
        "can_grant_admin": can(request.user, "grant_admin", project),
    }
    return page(request, project, "annotation/members.html", "annotation/_members.html", context, status)


@login_required
@require_http_methods(["GET", "POST"])
def members(request, pk):
    project = project_for(request, pk, "manage_members")
    if request.method == "GET":
        return _members_response(request, project)
    form = MemberForm(request.POST)
    if not form.is_valid():
        return _members_response(request, project, form, status=400)
    try:
        user = services.resolve_user(username=form.cleaned_data["username"])
        services.set_membership(
            project=project, actor=request.user, user=user, role=form.cleaned_data["role"]
        )
    except ServiceError as exc:
        add_service_errors(form, exc.errors or {"__all__": [exc.message]})
        return _members_response(request, project, form, status=exc.status)
    notice = f"{user.username} is now {form.cleaned_data['role']}."
    if not is_htmx(request):
        messages.success(request, notice)
        return redirect("annotation:members", pk=project.pk)
    return _members_response(request, project, notice=notice)


@login_required
@require_POST
def member_remove(request, pk):
    project = project_for(request, pk, "manage_members")
    form = RemoveMemberForm(request.POST)
    if not form.is_valid():
        return _members_response(request, project, status=400)
    try:
        user = services.resolve_user(username=form.cleaned_data["username"])
        services.remove_membership(project=project, actor=request.user, user=user)
    except ServiceError as exc:
        error_form = MemberForm()
        add_service_errors(error_form, {"__all__": [exc.message]})
        return _members_response(request, project, error_form, status=exc.status)
    notice = f"Removed {user.username}."
    if not is_htmx(request):
        messages.success(request, notice)
        return redirect("annotation:members", pk=project.pk)
    return _members_response(request, project, notice=notice)


def _rubric_response(request, project, form=None, status=200, created=None):
    current = project.current_rubric_version()
    if form is None:
        initial = {"criteria": json.dumps(current.criteria, indent=2) if current else "[]"}
        if current:
            initial["instructions"] = current.instructions
        form = RubricVersionForm(initial=initial)
    context = {"versions": selectors.rubric_versions(project), "form": form, "created": created}
    return page(request, project, "annotation/rubric.html", "annotation/_rubric.html", context, status)


@login_required
@require_http_methods(["GET", "POST"])
def rubric(request, pk):
    project = project_for(request, pk, "edit_rubric")
    if request.method == "GET":
        return _rubric_response(request, project)
    form = RubricVersionForm(request.POST)
    if not form.is_valid():
        return _rubric_response(request, project, form, status=400)
    try:
        version = services.create_rubric_version(project=project, actor=request.user, **form.cleaned_data)
    except ServiceError as exc:
        add_service_errors(form, exc.errors or {"__all__": [exc.message]})
        return _rubric_response(request, project, form, status=exc.status)
    if not is_htmx(request):
        messages.success(request, f"Created version {version.number}.")
        return redirect("annotation:rubric", pk=project.pk)
    return _rubric_response(request, project, created=version)


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
def audit(request, pk):
    project = project_for(request, pk, "view_audit")
    context = {"events": selectors.audit_events(project)}
    return page(request, project, "annotation/audit.html", "annotation/_audit.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request, pk):
    project = project_for(request, pk, "edit_project")
    template, partial = "annotation/settings.html", "annotation/_settings.html"
    if request.method == "GET":
        return page(request, project, template, partial, {"form": ProjectSettingsForm.for_project(project)})
    form = ProjectSettingsForm.for_project(project, data=request.POST)
    if not form.is_valid():
        return page(request, project, template, partial, {"form": form}, status=400)
    changed = {k: v for k, v in form.cleaned_data.items() if getattr(project, k) != v}
    try:
        if changed:
            services.update_project(project=project, actor=request.user, **changed)
    except ServiceError as exc:
        project.refresh_from_db()
        add_service_errors(form, exc.errors or {"__all__": [exc.message]})
        return page(request, project, template, partial, {"form": form}, status=exc.status)
    if not is_htmx(request):
        messages.success(request, "Settings saved.")
        return redirect("annotation:settings", pk=project.pk)
    context = {"form": ProjectSettingsForm.for_project(project), "saved": sorted(changed)}
    return page(request, project, template, partial, context)
