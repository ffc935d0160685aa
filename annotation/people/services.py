"""Write paths for people: a lead's new accounts (one-time passwords or invite links), accepting and
revoking invitations, and the end of a one-time password. One transaction each, audited.

Accounts a lead creates join the lead's project as annotators. A list is all or nothing: any bad line
(see `lines`), a name that already has an account or a pending invitation, and nothing is written.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from annotation.core import audit
from annotation.core.errors import InvalidInput, NotFound, ServiceError
from annotation.core.permissions import require
from annotation.models import Invitation, Membership, PasswordChangeRequired, Project, Role
from annotation.people import lines, tokens

User = get_user_model()

PASSWORD = "password"
INVITE = "invite"
MODES = {PASSWORD: "one-time passwords", INVITE: "invite links"}


class InvitationUnusable(ServiceError):
    """The link was used, revoked or has expired (410 Gone)."""

    status = 410
    code = "invitation_unusable"


@dataclass(frozen=True)
class NewAccount:
    """What the lead must pass on, shown once: a one-time password or an invite link's token."""

    username: str
    email: str = ""
    password: str = ""
    token: str = ""
    expires_at: datetime | None = None


def _refuse_taken(project, entries) -> list[lines.LineError]:
    wanted = {e.username.lower(): e for e in entries}
    errors = []
    taken = (
        User.objects.annotate(key=Lower("username"))
        .filter(key__in=list(wanted))
        .values_list("key", flat=True)
    )
    for key in taken:
        errors.append(
            lines.LineError(
                wanted[key].line, f"{wanted[key].username!r} already has an account: add it as a member."
            )
        )
    pending = (
        Invitation.objects.filter(
            project=project, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
        )
        .annotate(key=Lower("username"))
        .filter(key__in=list(wanted))
        .values_list("key", flat=True)
    )
    for key in set(pending) - set(taken):
        errors.append(
            lines.LineError(wanted[key].line, f"{wanted[key].username!r} already has a pending invitation.")
        )
    return errors


@transaction.atomic
def create_accounts(*, project: Project, actor, text: str, mode: str) -> list[NewAccount]:
    """Accounts (mode "password") or invitations (mode "invite") for each line of `text`."""
    require(actor, "manage_members", project)
    if mode not in MODES:
        raise InvalidInput(errors={"mode": [f"Must be one of: {', '.join(MODES)}."]})
    parsed = lines.parse(text)
    errors = parsed.errors + _refuse_taken(project, parsed.entries)
    if errors:
        raise InvalidInput(errors={"lines": [str(e) for e in sorted(errors, key=lambda e: e.line)]})
    if mode == PASSWORD:
        return _with_passwords(project, actor, parsed.entries)
    return _with_invitations(project, actor, parsed.entries)


def _with_passwords(project, actor, entries) -> list[NewAccount]:
    created = []
    for entry in entries:
        password = tokens.one_time_password()
        user = User.objects.create_user(username=entry.username, email=entry.email, password=password)
        PasswordChangeRequired.objects.create(user=user)
        Membership.objects.create(user=user, project=project, role=Role.ANNOTATOR)
        created.append(NewAccount(username=user.username, email=entry.email, password=password))
    audit.record(
        actor=actor,
        project=project,
        verb="member.accounts_created",
        object_type="project",
        users=[a.username for a in created],
        role=Role.ANNOTATOR,
        credentials="one-time passwords",
    )
    return created


def _with_invitations(project, actor, entries) -> list[NewAccount]:
    expires_at = timezone.now() + timedelta(days=settings.TUNELOOP_INVITE_DAYS)
    created, rows = [], []
    for entry in entries:
        token, token_hash = tokens.new_token()
        rows.append(
            Invitation.objects.create(
                project=project,
                role=Role.ANNOTATOR,
                username=entry.username,
                email=entry.email,
                token_hash=token_hash,
                created_by=actor,
                expires_at=expires_at,
            )
        )
        created.append(
            NewAccount(username=entry.username, email=entry.email, token=token, expires_at=expires_at)
        )
    audit.record(
        actor=actor,
        project=project,
        verb="member.invited",
        object_type="project",
        users=[a.username for a in created],
        invitations=[row.pk for row in rows],
        role=Role.ANNOTATOR,
        expires=expires_at.isoformat(timespec="minutes"),
    )
    return created


def usable_invitation(token: str, *, lock: bool = False) -> Invitation:
    """The invitation a link stands for, if it can still be used: NotFound for a link that is not one
    (bad signature, unknown), InvitationUnusable when it was used, revoked or has expired."""
    token_hash = tokens.hash_of(token or "")
    rows = Invitation.objects.select_related("project")
    if lock:
        rows = rows.select_for_update(of=("self",))
    invitation = rows.filter(token_hash=token_hash).first() if token_hash else None
    if invitation is None:
        raise NotFound("This invitation link is not valid.")
    if invitation.accepted_at is not None:
        raise InvitationUnusable("This invitation link was already used: log in instead.")
    if invitation.revoked_at is not None:
        raise InvitationUnusable("This invitation was withdrawn: ask your project lead for a new one.")
    if invitation.expires_at <= timezone.now():
        raise InvitationUnusable(
            f"This invitation expired on {invitation.expires_at:%Y-%m-%d %H:%M} UTC: ask your project lead for a new one."
        )
    return invitation


@transaction.atomic
def accept_invitation(*, token: str, username: str, password: str):
    """Use an invitation once: create the account with the invitee's password, join the project."""
    invitation = usable_invitation(token, lock=True)
    username = (username or "").strip()
    if not lines.USERNAME.match(username):
        raise InvalidInput(
            errors={"username": ["Letters, digits and @ . + - _ only, at most 150 characters."]}
        )
    if User.objects.filter(username__iexact=username).exists():
        raise InvalidInput(errors={"username": [f"{username!r} is taken: choose another name."]})
    user = User.objects.create_user(username=username, email=invitation.email, password=password)
    Membership.objects.create(user=user, project=invitation.project, role=invitation.role)
    invitation.accepted_at, invitation.accepted_by = timezone.now(), user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit.record(
        actor=user,
        project=invitation.project,
        verb="invitation.accepted",
        obj=invitation,
        user=username,
        invited_as=invitation.username,
        role=invitation.role,
    )
    return user


@transaction.atomic
def revoke_invitation(*, project: Project, actor, invitation_id) -> Invitation:
    require(actor, "manage_members", project)
    invitation = Invitation.objects.select_for_update().filter(project=project, pk=invitation_id).first()
    if invitation is None:
        raise NotFound(errors={"invitation": ["No such invitation in this project."]})
    if invitation.accepted_at is not None:
        raise InvalidInput(errors={"invitation": ["Already accepted: remove the member instead."]})
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor, project=project, verb="invitation.revoked", obj=invitation, user=invitation.username
        )
    return invitation


def password_changed(*, user) -> None:
    """The user chose their own password: a one-time password no longer blocks them."""
    PasswordChangeRequired.objects.filter(user=user).delete()
