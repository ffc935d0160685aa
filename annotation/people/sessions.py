"""A one-time password's forced change: noted in the session at login (one query then, none after),
enforced by `ForcePasswordChange` on every request until the user picks their own password.

Pages redirect to the password change form; the API answers 403 with code "password_change_required".
"""

from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from annotation.people import selectors

SESSION_KEY = "tuneloop_must_change_password"
# Paths a user with a one-time password may still open (besides the password change form itself).
OPEN_PREFIXES = ("/logout/", "/static/", "/favicon.ico", "/invite/", "/healthz")


def note_on_login(sender, request, user, **kwargs):
    """user_logged_in receiver: remember in the session whether the user must change their password."""
    if request is not None and hasattr(request, "session") and selectors.must_change_password(user):
        request.session[SESSION_KEY] = True


def clear(request) -> None:
    request.session.pop(SESSION_KEY, None)


class ForcePasswordChange:
    """Middleware (after AuthenticationMiddleware): until a one-time password is replaced, every page
    sends the user to the password change form."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.get(SESSION_KEY):
            change = reverse("password_change")
            path = request.path
            if path != change and not path.startswith(OPEN_PREFIXES):
                if path.startswith("/api/"):
                    return JsonResponse(
                        {
                            "detail": "Change your one-time password first (on the web page).",
                            "code": "password_change_required",
                        },
                        status=403,
                    )
                return redirect(f"{change}?required=1")
        return self.get_response(request)
