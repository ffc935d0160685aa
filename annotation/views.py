"""The htmx pages: project list, SFT review, and the lead pages (dashboard, members, rubric, import,
audit, settings). Thin: writes go through annotation.services, reads through annotation.selectors.

Outsiders get 404 for a project (its existence is not leaked); members without the role get 403.
Service errors are shown inline with the status the service gives them, never as a 500.
"""

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import charts, selectors, services
from .errors import ServiceError
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
from .models import FLAG_CHOICES, ItemKind, Role
from .permissions import can
from .task_flow import TaskFlow
from .web import is_htmx, page, project_for

FLAG_KEYS = {"pii": "p", "unsafe": "u", "factual_error": "f", "off_topic": "o"}
DECISIONS = [("accept", "Accept", "a"), ("edit", "Edit", "e"), ("reject", "Reject", "r")]
AUDIT_PER_PAGE = 100


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


class SftReview(TaskFlow):
    kind = ItemKind.SFT
    noun = "item"
    page_url = "annotation:review"
    full_template = "annotation/review.html"
    partial_template = "annotation/_sft_task.html"

    def parse(self, post):
        return sft_submission(post)

    def saved_notice(self, judgment):
        return f"Saved item #{judgment.item_id}: {judgment.get_decision_display().lower()}."

    def context(self, request, project, assignment, *, values, errors):
        context = {
            "flag_choices": [
                {"key": k, "label": v, "shortcut": FLAG_KEYS[k], "checked": k in values.get("flags", [])}
                for k, v in FLAG_CHOICES.items()
            ],
            "decisions": [
                {"value": v, "label": label, "shortcut": key, "checked": values.get("decision") == v}
                for v, label, key in DECISIONS
            ],
        }
        if assignment is None:
            return context
        version = project.current_rubric_version()
        if values.get("rubric_version_id"):
            version = (
                selectors.rubric_versions(project).filter(pk=values["rubric_version_id"]).first() or version
            )
        task = selectors.sft_task(assignment)
        response_text = task["response"].text if task["response"] else ""
        known = {"decision", "edited_text", "flags", "comment", "rubric_version", "duration_seconds"}
        criteria = version.criteria if version else []
        context.update(
            task=task,
            rubric_version=version,
            criteria=_criteria_for_display(criteria, values.get("scores", {}), errors),
            edited_text=values.get("edited_text") or response_text,
            other_errors={k: v for k, v in errors.items() if k not in known and not k.startswith("scores.")},
        )
        return context


review, submit, skip = SftReview().views()


# --- lead pages -----------------------------------------------------------------------------


def _hour_labels(hours):
    """ISO hours -> "HH:00", with the date where a day starts (and on the first)."""
    out, day = [], None
    for hour in hours:
        date, time = hour[:10], hour[11:16]
        out.append(time if date == day else f"{date[5:]} {time}")
        day = date
    return out


@login_required
def dashboard(request, pk):
    project = project_for(request, pk, "view_dashboard")
    data = selectors.dashboard(project)
    states = [{"state": state, "count": count} for state, count in data["progress"]["items_by_state"].items()]
    context = {
        **data,
        "states": states,
        "peak_hour": max((r["count"] for r in data["throughput"]), default=0),
        "throughput_chart": charts.bar(
            _hour_labels([r["hour"] for r in data["throughput"]]),
            [("judgments", [r["count"] for r in data["throughput"]])],
            title="Judgments submitted per hour (UTC)",
            label_title="hour (UTC)",
            value_title="judgments",
            counts=True,
            height=260,
        ),
        "annotator_chart": charts.bar(
            [a["username"] for a in data["annotators"]],
            [(key, [a[key] for a in data["annotators"]]) for key in ("submitted", "skipped", "leased")],
            title="Work per annotator",
            label_title="annotator",
            value_title="assignments",
            horizontal=True,
            counts=True,
        ),
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
    verb = request.GET.get("verb", "")[:64]
    page_obj = Paginator(selectors.audit_events(project, limit=None, verb=verb), AUDIT_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "events": page_obj.object_list,
        "page_obj": page_obj,
        "filter_query": urlencode({"verb": verb}) if verb else "",
        "verb": verb,
        "verbs": selectors.audit_verbs(project),
    }
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
