"""Helpers every htmx page shares: htmx detection, the project lookup with its 404/403 rule (for a
project, or for any row of a project), rendering a whole page or only its partial, and reading a
query parameter safely (`query_text`, `query_choice`, `query_int`, `query_float`, `query_page`: a value
outside what the page takes is a 400 that names the parameter, never a 500 from the database)."""

import math
import re

from django.core.exceptions import BadRequest, PermissionDenied
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


# --- query parameters ---------------------------------------------------------------------------

QUERY_TEXT_MAX = 200  # the longest free text a page filter takes
QUERY_INT_MAX = 2**31 - 1  # fits every integer column (PostgreSQL's `integer` included)


class BadQuery(BadRequest):
    """A query parameter the page does not take: Django answers 400 (`bad_request` shows the message)."""


def query_text(request, name, default="", *, max_length=QUERY_TEXT_MAX) -> str:
    """GET parameter `name` (absent -> `default`); a NUL, a lone surrogate or more than `max_length`
    characters is a 400. An empty value is returned as given (an empty filter means "any")."""
    value = request.GET.get(name)
    if value is None:
        return default
    if len(value) > max_length:
        raise BadQuery(f"The {name!r} parameter is longer than {max_length} characters.")
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
        raise BadQuery(f"The {name!r} parameter contains a character that is not allowed.")
    return value


def query_choice(request, name, choices, default=""):
    """GET parameter `name`, one of `choices` (values; absent or empty -> `default`), else 400."""
    value = query_text(request, name, "")
    if value == "":
        return default
    allowed = [str(c) for c in choices]
    if value not in allowed:
        shown = ", ".join(allowed[:12]) + (", ..." if len(allowed) > 12 else "")
        raise BadQuery(f"The {name!r} parameter must be one of: {shown}.")
    return value


def query_int(request, name, default=None, *, minimum=1, maximum=QUERY_INT_MAX):
    """GET parameter `name` as a whole number in [minimum, maximum] (absent or empty -> `default`)."""
    value = query_text(request, name, "", max_length=24)
    if value == "":
        return default
    digits = value[1:] if value.startswith("-") else value
    if not (digits.isascii() and digits.isdigit()) or not minimum <= int(value) <= maximum:
        raise BadQuery(f"The {name!r} parameter must be a whole number from {minimum} to {maximum}.")
    return int(value)


def query_float(request, name, default=None):
    """GET parameter `name` as a finite number (absent or empty -> `default`), else 400."""
    value = query_text(request, name, "", max_length=40)
    if value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise BadQuery(f"The {name!r} parameter must be a number.")
    return number


def query_page(request, name="page") -> int:
    """A page number for `Paginator.get_page` (1 when absent; past the last page shows the last)."""
    return query_int(request, name, 1)


DOWNLOAD_COOKIE = "tl_download"
_DOWNLOAD_TOKEN = re.compile(r"[A-Za-z0-9]{1,32}")


def mark_download(request, response):
    """A file answering a plain form's POST leaves the page where it is: the cookie tells busy.js
    (which sent `download_token` with the form) that the response arrived, so the button stops
    showing "Working…". Returns the response."""
    token = request.POST.get("download_token", "")
    if _DOWNLOAD_TOKEN.fullmatch(token):
        response.set_cookie(DOWNLOAD_COOKIE, token, max_age=120, samesite="Lax")
    return response


def bad_request(request, exception, template_name="400.html"):
    """config.urls' handler400: our own `BadQuery` says what was wrong; anything else (Django's
    SuspiciousOperation) stays unexplained."""
    message = str(exception) if isinstance(exception, BadQuery) else ""
    return render(request, template_name, {"message": message}, status=400)
