"""Who may do what in a project. One table, used by views and the API alike.

Roles rank annotator < lead < admin; a Django superuser acts as admin everywhere. annotation's own
actions are listed here; every other app registers its actions in its AppConfig.ready() with
`register_actions` (training: `train`, `view_training`), so this module names no higher app.
"""

from django.db.models import OuterRef, Subquery

from annotation.core.errors import Forbidden
from annotation.models import Membership, Project, Role

RANK = {None: 0, Role.ANNOTATOR: 1, Role.LEAD: 2, Role.ADMIN: 3}

# action -> the least role that may do it
ACTIONS = {
    "view_project": Role.ANNOTATOR,
    "annotate": Role.ANNOTATOR,
    "view_own_judgments": Role.ANNOTATOR,
    "view_all_judgments": Role.LEAD,
    "view_dashboard": Role.LEAD,
    "view_audit": Role.LEAD,
    "view_items": Role.LEAD,
    "manage_members": Role.LEAD,
    "grant_admin": Role.ADMIN,
    "edit_rubric": Role.LEAD,
    "import_items": Role.LEAD,
    "edit_project": Role.LEAD,
    "adjudicate": Role.LEAD,
    "delete_project": Role.ADMIN,
}


def register_actions(actions: dict[str, str]) -> None:
    """Add an app's actions (action -> the least role that may do it). Registering the same action
    again with the same role is a no-op; with another role it is an error (two apps disagree)."""
    for action, role in actions.items():
        if role not in RANK or role is None:
            raise ValueError(f"Unknown role {role!r} for action {action!r}")
        if ACTIONS.get(action, role) != role:
            raise ValueError(f"Action {action!r} is already registered for {ACTIONS[action]!r}")
        ACTIONS[action] = role


def _role_cache(user) -> dict:
    """project id -> role, kept on the user object (one request's lifetime)."""
    cache = getattr(user, "_tuneloop_roles", None)
    if cache is None:
        cache = user._tuneloop_roles = {}
    return cache


def role_for(user, project) -> str | None:
    """The user's role in the project, 'admin' for superusers, None for outsiders."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return Role.ADMIN
    cache = _role_cache(user)
    if project.pk not in cache:
        cache[project.pk] = (
            Membership.objects.filter(user=user, project=project).values_list("role", flat=True).first()
        )
    return cache[project.pk]


def with_caller_role(qs, user, project_field: str = "pk"):
    """Annotate `caller_role` (the user's role in each row's project) so that role_for() needs no
    query of its own: hot paths (next, submit) load the project and the role in one statement."""
    if not getattr(user, "is_authenticated", False) or user.is_superuser:
        return qs
    role = Membership.objects.filter(project=OuterRef(project_field), user=user).values("role")[:1]
    return qs.annotate(caller_role=Subquery(role))


def remember_role(user, project, row) -> None:
    """Keep the role that with_caller_role() loaded on `row` (the project, or a row joined to it), so
    that role_for() asks no query; a row loaded without it (a superuser's) changes nothing."""
    if hasattr(row, "caller_role"):
        _role_cache(user)[project.pk] = row.caller_role


def can(user, action: str, project) -> bool:
    if action not in ACTIONS:
        raise KeyError(f"Unknown action {action!r}")
    return RANK[role_for(user, project)] >= RANK[ACTIONS[action]]


def visible_projects(user):

    if not getattr(user, "is_authenticated", False):
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def require(user, action, project):
    """Raise Forbidden unless the user's role in the project allows the action."""
    if not can(user, action, project):
        raise Forbidden(f"You may not {action.replace('_', ' ')} in this project.")
