"""Read paths for people: a project's invitations, whether an account still has a one-time password."""

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
