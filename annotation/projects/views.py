"""The lead's project pages: project list, dashboard, members, audit, settings (rubric: views_rubric)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from annotation.core import charts, keyset
from annotation.core.errors import ServiceError
from annotation.core.forms import add_service_errors
from annotation.core.permissions import can
from annotation.core.web import is_htmx, page, project_for, query_text
from annotation.models import Role
from annotation.people import selectors as people_selectors
from annotation.people import services as people_services
from annotation.people.forms import AccountsForm
from annotation.projects import selectors, services
from annotation.projects.forms import MemberForm, ProjectSettingsForm, RemoveMemberForm

AUDIT_PER_PAGE = 100


@login_required
def project_list(request):
    return render(request, "annotation/project_list.html", {"rows": selectors.projects_for(request.user)})


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


def _members_response(request, project, form=None, status=200, notice="", accounts_form=None, created=None):
    context = {
        "notice": notice,
        "members": selectors.members(project),
        "form": form or MemberForm(),
        "roles": Role.choices,
        "can_grant_admin": can(request.user, "grant_admin", project),
        "accounts_form": accounts_form or AccountsForm(),
        "invitations": people_selectors.pending_invitations(project),
        "created": created,
    }
    response = page(request, project, "annotation/members.html", "annotation/_members.html", context, status)
    if created:  # one-time passwords and invite links: shown once, never cached
        add_never_cache_headers(response)
    return response


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


@login_required
@require_POST
def member_accounts(request, pk):
    """New annotator accounts from a list: one-time passwords or invite links, shown once (no redirect)."""
    project = project_for(request, pk, "manage_members")
    form = AccountsForm(request.POST)
    if not form.is_valid():
        return _members_response(request, project, accounts_form=form, status=400)
    try:
        accounts = people_services.create_accounts(
            project=project,
            actor=request.user,
            text=form.cleaned_data["lines"],
            mode=form.cleaned_data["mode"],
        )
    except ServiceError as exc:
        add_service_errors(form, exc.errors or {"__all__": [exc.message]})
        return _members_response(request, project, accounts_form=form, status=exc.status)
    created = people_selectors.shown_once(request, accounts)
    what = "invitation" if form.cleaned_data["mode"] == people_services.INVITE else "account"
    notice = f"Created {len(created)} {what}{'s' if len(created) != 1 else ''}: copy them now, they are shown once."
    return _members_response(request, project, notice=notice, created=created)


@login_required
@require_POST
def invitation_revoke(request, pk, invitation_id):
    project = project_for(request, pk, "manage_members")
    try:
        invitation = people_services.revoke_invitation(
            project=project, actor=request.user, invitation_id=invitation_id
        )
    except ServiceError as exc:
        error_form = MemberForm()
        add_service_errors(error_form, {"__all__": [exc.message]})
        return _members_response(request, project, error_form, status=exc.status)
    notice = f"Withdrew the invitation of {invitation.username}."
    if not is_htmx(request):
        messages.success(request, notice)
        return redirect("annotation:members", pk=project.pk)
    return _members_response(request, project, notice=notice)


@login_required
def audit(request, pk):
    project = project_for(request, pk, "view_audit")
    verb = query_text(request, "verb", max_length=64)
    page_obj = keyset.paginate(
        selectors.audit_events(project, limit=None, verb=verb), ["-id"], request.GET, AUDIT_PER_PAGE
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
