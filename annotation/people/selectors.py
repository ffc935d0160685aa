"""Read paths for people: a project's invitations, whether an account still has a one-time password."""

from django.urls import reverse
from django.utils import timezone

from annotation.models import Invitation, PasswordChangeRequired


def pending_invitations(project):
    """Invitations not yet used, withdrawn or expired, newest first (with who sent them)."""
    return (
        Invitation.objects.filter(
            project=project, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
        )
        .select_related("created_by")
        .order_by("-id")
    )


def must_change_password(user) -> bool:
    return PasswordChangeRequired.objects.filter(user=user).exists()


def shown_once(request, accounts) -> list[dict]:
    """New accounts as the lead sees them, once (the page and the API): the username and email, the
    one-time password or the absolute invite URL, and when the invitation expires."""
    return [
        {
            "username": a.username,
            "email": a.email,
            "password": a.password,
            "invite_url": request.build_absolute_uri(reverse("annotation:invite", args=[a.token]))
            if a.token
            else "",
            "expires_at": a.expires_at,
        }
        for a in accounts
    ]
