"""Helpers every htmx page shares: htmx detection, the project lookup with its 404/403 rule (for a
project, or for any row of a project), and rendering a whole page or only its partial."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from annotation.core.permissions import can, role_for
from annotation.models import Project


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def project_for(request, pk, action="view_project") -> Project:
    """The project if the user may see it (404 otherwise) and may do `action` in it (403 otherwise)."""
    project = get_object_or_404(Project, pk=pk)
    _allow(request, project, action)
    return project


def object_for(request, queryset, pk, action="view_project"):
    """A row of a project (anything with a `project`), by `project_for`'s rule: 404 unless the user may
    see its project, 403 unless they may do `action` there. Its project comes in the same query."""
    obj = get_object_or_404(queryset.select_related("project"), pk=pk)
    _allow(request, obj.project, action)
    return obj


def _allow(request, project, action):
    if not can(request.user, "view_project", project):
        raise Http404("No such project.")
    if not can(request.user, action, project):
        raise PermissionDenied(f"You may not {action.replace('_', ' ')} in this project.")


def page(request, project, template, partial, context, status=200):
    """Render the whole page, or only its partial for an htmx request."""
    context = {
        "project": project,
        "role": role_for(request.user, project),
        "is_lead": can(request.user, "view_dashboard", project),
        **context,
    }
    return render(request, partial if is_htmx(request) else template, context, status=status)
