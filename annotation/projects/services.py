"""Write paths for projects, memberships, rubric versions and item priority: one function per use case."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.core import audit
from annotation.core.errors import Forbidden, InvalidInput, NotFound
from annotation.core.permissions import RANK, can, require, role_for
from annotation.core.rubrics import RubricError, validate_criteria
from annotation.models import (
    Item,
    Membership,
    Project,
    Role,
    Rubric,
    RubricVersion,
)

User = get_user_model()


@transaction.atomic
def create_project(*, name: str, created_by, **fields) -> Project:
    """Create a project; its creator becomes its admin. `fields` are Project fields."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput(errors={"name": ["This field is required."]})
    allowed = {f.name for f in Project._meta.fields} - {"id", "created_by", "created_at", "name"}
    unknown = set(fields) - allowed
    if unknown:
        raise InvalidInput(errors={k: ["Unknown field."] for k in sorted(unknown)})
    # The operator's defaults (TUNELOOP_BASE_MODEL, TUNELOOP_LEASE_MINUTES) unless the creator chose.
    fields.setdefault("base_model", settings.TUNELOOP_DEFAULT_BASE_MODEL)
    fields.setdefault("lease_minutes", settings.TUNELOOP_DEFAULT_LEASE_MINUTES)
    project = Project(name=name, created_by=created_by, **fields)
    _full_clean(project)
    project.save()
    Membership.objects.create(user=created_by, project=project, role=Role.ADMIN)
    audit.record(actor=created_by, project=project, verb="project.created", obj=project, name=name)
    return project


# The project settings a lead may change (the API's project fields and update_project's contract).
PROJECT_SETTINGS = (
    "name",
    "description",
    "guidelines",
    "base_model",
    "overlap",
    "agreement_threshold",
    "lease_minutes",
    "min_seconds_per_item",
    "require_rationale",
    "agreement_routing",
    "max_extra_annotators",
    "gold_share",
    "dataset_license",
    "count_external_judgments",
    "blind_review",
    "show_gold_feedback",
)


@transaction.atomic
def update_project(*, project: Project, actor, **fields) -> Project:
    require(actor, "edit_project", project)
    unknown = set(fields) - set(PROJECT_SETTINGS)
    if unknown:
        raise InvalidInput(errors={k: ["Not editable."] for k in sorted(unknown)})
    before = {k: getattr(project, k) for k in fields}
    for key, value in fields.items():
        setattr(project, key, value)
    _full_clean(project)
    project.save()
    audit.record(
        actor=actor,
        project=project,
        verb="project.updated",
        obj=project,
        before=before,
        after={k: getattr(project, k) for k in fields},
    )
    return project


def _full_clean(obj):
    try:
        obj.full_clean(exclude=["created_by"])
    except ValidationError as exc:
        raise InvalidInput(errors=exc.message_dict)


def resolve_user(*, user_id=None, username=None):
    if user_id not in (None, ""):
        try:
            return User.objects.get(pk=int(user_id))
        except (User.DoesNotExist, ValueError, TypeError):
            raise NotFound(errors={"user": [f"No user with id {user_id}."]})
    if username:
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist:
            raise NotFound(errors={"username": [f"No user named {username!r}."]})
    raise InvalidInput(errors={"user": ["Give a user id or a username."]})


@transaction.atomic
def set_membership(*, project: Project, actor, user, role: str) -> Membership:
    """Add `user` to the project or change their role. Only admins grant or take away admin."""
    if role not in Role.values:
        raise InvalidInput(errors={"role": [f"Must be one of: {', '.join(Role.values)}."]})
    require(actor, "manage_members", project)
    existing = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if (role == Role.ADMIN or (existing and existing.role == Role.ADMIN)) and not can(
        actor, "grant_admin", project
    ):
        raise Forbidden("Only a project admin may grant or remove the admin role.")
    if existing and RANK[role_for(actor, project)] < RANK[existing.role]:
        raise Forbidden("You may not change the role of someone above you.")
    if existing:
        old = existing.role
        existing.role = role
        existing.save(update_fields=["role"])
        audit.record(
            actor=actor,
            project=project,
            verb="member.role_changed",
            obj=existing,
            user=user.username,
            old_role=old,
            new_role=role,
        )
        membership = existing
    else:
        membership = Membership.objects.create(project=project, user=user, role=role)
        audit.record(
            actor=actor, project=project, verb="member.added", obj=membership, user=user.username, role=role
        )
    if hasattr(user, "_tuneloop_roles"):
        user._tuneloop_roles.pop(project.pk, None)
    return membership


@transaction.atomic
def remove_membership(*, project: Project, actor, user) -> None:
    require(actor, "manage_members", project)
    membership = Membership.objects.filter(project=project, user=user).first()
    if membership is None:
        raise NotFound(errors={"user": ["Not a member of this project."]})
    if membership.role == Role.ADMIN and not can(actor, "grant_admin", project):
        raise Forbidden("Only a project admin may remove an admin.")
    membership.delete()
    audit.record(
        actor=actor,
        project=project,
        verb="member.removed",
        object_type="membership",
        user=user.username,
        role=membership.role,
    )


@transaction.atomic
def create_rubric_version(
    *, project: Project, actor, criteria, instructions: str = "", changelog: str = "", rubric_name: str = ""
) -> RubricVersion:
    """Editing a rubric always makes its next version; versions that judgments use never change."""
    require(actor, "edit_rubric", project)
    try:
        normalised = validate_criteria(criteria)
    except RubricError as exc:
        raise InvalidInput(errors=exc.errors)
    rubric = Rubric.objects.select_for_update().filter(project=project).order_by("id").first()
    if rubric is None:
        rubric = Rubric.objects.create(project=project, name=rubric_name or f"{project.name} rubric")
    elif rubric_name and rubric_name != rubric.name:
        rubric.name = rubric_name
        rubric.save(update_fields=["name"])
    previous = rubric.versions.order_by("-number").first()
    version = RubricVersion.objects.create(
        rubric=rubric,
        number=(previous.number + 1) if previous else 1,
        instructions=instructions,
        criteria=normalised,
        changelog=changelog,
        created_by=actor,
    )
    Project.objects.filter(pk=project.pk).update(latest_rubric_version=version)
    if "latest_rubric_version" in project._state.fields_cache:  # refresh a copy loaded with it
        project.latest_rubric_version = version
    audit.record(
        actor=actor,
        project=project,
        verb="rubric.version_created",
        obj=version,
        number=version.number,
        criteria=[c["key"] for c in normalised],
        previous=previous.number if previous else None,
        changelog=changelog,
    )
    return version


def set_item_priority(*, item: Item, actor, priority: int) -> Item:
    require(actor, "edit_project", item.project)
    with transaction.atomic():
        old = item.priority
        Item.objects.filter(pk=item.pk).update(priority=priority)
        item.priority = priority
        audit.record(
            actor=actor, project=item.project, verb="item.priority_changed", obj=item, old=old, new=priority
        )
    return item
