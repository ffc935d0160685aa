"""Write paths of the annotation app: one function per use case, keyword-only, one transaction each.

Views, API views, tasks and management commands call these; none re-implements one.
"""

import random
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from . import audit, registry
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .importing import ItemRecord
from .models import (
    FLAG_CHOICES,
    Assignment,
    AssignmentState,
    Decision,
    Item,
    ItemKind,
    ItemState,
    Judgment,
    Membership,
    Project,
    Response,
    Role,
    Rubric,
    RubricVersion,
)
from .permissions import RANK, can, remember_role, role_for, with_caller_role
from .rubrics import RubricError, validate_criteria, validate_scores

User = get_user_model()
_shuffle = random.SystemRandom().shuffle
_gold_roll = random.SystemRandom().random  # tests replace it to decide whether a gold item is served


def _require(user, action, project):
    if not can(user, action, project):
        raise Forbidden(f"You may not {action.replace('_', ' ')} in this project.")


# --- projects and members -------------------------------------------------------------------


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
)


@transaction.atomic
def update_project(*, project: Project, actor, **fields) -> Project:
    _require(actor, "edit_project", project)
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
    from django.core.exceptions import ValidationError

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
    _require(actor, "manage_members", project)
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
    _require(actor, "manage_members", project)
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


# --- rubrics --------------------------------------------------------------------------------


@transaction.atomic
def create_rubric_version(
    *, project: Project, actor, criteria, instructions: str = "", changelog: str = "", rubric_name: str = ""
) -> RubricVersion:
    """Editing a rubric always makes its next version; versions that judgments use never change."""
    _require(actor, "edit_rubric", project)
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


# --- import ---------------------------------------------------------------------------------


@dataclass
class ImportResult:
    created: int = 0
    duplicates: int = 0
    item_ids: list[int] = field(default_factory=list)

    def as_dict(self):
        return {"created": self.created, "duplicates": self.duplicates}


@transaction.atomic
def import_items(*, project: Project, actor, records: list[ItemRecord], source: str = "") -> ImportResult:
    """Write parsed records (see annotation.importing) in one transaction; skip exact duplicates.

    Duplicates are by content hash, within the batch and against the project's items.
    """
    source = (source or "")[:200]  # a file name; the column holds 200 characters
    _require(actor, "import_items", project)
    hashes = [r.content_hash for r in records]
    existing = set()
    for start in range(0, len(hashes), 5000):
        chunk = hashes[start : start + 5000]
        existing.update(
            Item.objects.filter(project=project, content_hash__in=chunk).values_list(
                "content_hash", flat=True
            )
        )
    fresh, seen = [], set(existing)
    for record in records:
        if record.content_hash in seen:
            continue
        seen.add(record.content_hash)
        fresh.append(record)
    items = Item.objects.bulk_create(
        [
            Item(
                project=project,
                kind=r.kind,
                messages=r.messages,
                external_id=r.external_id,
                content_hash=r.content_hash,
                metadata=r.metadata,
                priority=r.priority,
                source=source,
            )
            for r in fresh
        ],
        batch_size=1000,
    )
    if not connection.features.can_return_rows_from_bulk_insert:  # pragma: no cover - all our backends can
        by_hash = dict(
            Item.objects.filter(
                project=project, content_hash__in=[r.content_hash for r in fresh]
            ).values_list("content_hash", "id")
        )
        for item in items:
            item.pk = by_hash[item.content_hash]
    Response.objects.bulk_create(
        [
            Response(
                item=item,
                position=pos,
                text=resp["text"],
                model_name=resp.get("model", ""),
                model_version=resp.get("model_version", ""),
                generation_params=resp.get("generation_params") or {},
            )
            for item, record in zip(items, fresh, strict=True)
            for pos, resp in enumerate(record.responses)
        ],
        batch_size=1000,
    )
    result = ImportResult(
        created=len(items), duplicates=len(records) - len(fresh), item_ids=[i.pk for i in items]
    )
    audit.record(
        actor=actor,
        project=project,
        verb="items.imported",
        object_type="project",
        source=source,
        **result.as_dict(),
    )
    return result


# --- the queue ------------------------------------------------------------------------------
#
# Bookkeeping: Item.active_count counts the slots held (unexpired leases plus submissions), and
# Item.state moves OPEN -> ASSIGNED when every slot is held, back to OPEN when a slot is freed
# (skip, expiry), and to COMPLETE when `overlap + extra_overlap` judgments are in (the item's own
# overlap: routing or a lead may add slots). Gold items (is_gold) keep their state: they are served
# by chance (Project.gold_share) to every annotator once, outside the overlap, and never routed. Counters change only in SQL
# (F expressions) under the item's row lock, so concurrent writers never lose an update.
#
# Lock order, to keep PostgreSQL free of deadlocks: the caller's user row (next only), then
# assignments, then items; several items only in ascending id order (release_expired_leases).

_OPEN_STATES = (ItemState.OPEN, ItemState.ASSIGNED)


def _lease_delta(project):
    return timedelta(minutes=project.lease_minutes or 30)


def _skip_locked() -> bool:
    return connection.features.has_select_for_update_skip_locked


def release_expired_leases(*, project: Project | None = None, now=None, limit: int = 500) -> int:
    """Expire up to `limit` leases that ran out and return their slots; the number released.

    Cheap when nothing expired (the partial index assignment_lease_idx). Leases another transaction
    holds (a late submit, a skip) are skipped, not waited for.
    """
    now = now or timezone.now()
    qs = Assignment.objects.filter(state=AssignmentState.LEASED, leased_until__lt=now)
    if project is not None:
        qs = qs.filter(project=project)
    if not qs.exists():  # the common case: one index probe, no transaction
        return 0
    with transaction.atomic():
        if _skip_locked():
            qs = qs.select_for_update(skip_locked=True, no_key=True)
        rows = list(qs.order_by("leased_until").values_list("pk", "item_id")[:limit])
        if not rows:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(state=AssignmentState.EXPIRED)
        per_item: dict[int, int] = {}
        for _, item_id in rows:
            per_item[item_id] = per_item.get(item_id, 0) + 1
        for item_id in sorted(per_item):  # ascending ids: two releases never wait on each other in a cycle
            _free_slot(item_id, count=per_item[item_id])
    return len(rows)


def _free_slot(item_id, count: int = 1):
    """Give back `count` held slots of an item; a full (ASSIGNED) item becomes OPEN again."""
    Item.objects.filter(pk=item_id).update(
        active_count=F("active_count") - count,
        state=Case(When(state=ItemState.ASSIGNED, then=Value(ItemState.OPEN)), default=F("state")),
    )


def queue_candidates(*, project: Project, user, kind: str = ItemKind.SFT):
    """Open items of the project and kind that `user` has not had, best first (priority, then oldest).

    The filter and order match the partial index item_queue_idx, so PostgreSQL walks the index and
    stops at the first row; "had" is an anti-join on the (item, annotator) unique index. An expired
    lease of the user's own does not count as "had": the item may come back to them.
    """
    had = Assignment.objects.filter(item=OuterRef("pk"), annotator=user).exclude(
        state=AssignmentState.EXPIRED
    )
    qs = Item.objects.filter(project=project, kind=kind, state=ItemState.OPEN, is_gold=False).filter(
        ~Exists(had)
    )
    if kind == ItemKind.COMPARISON:
        # Nobody judges a comparison that contains a response they wrote.
        qs = qs.filter(~Exists(Response.objects.filter(item=OuterRef("pk"), author=user)))
    return qs.order_by("-priority", "id")


def gold_candidates(*, project: Project, user, kind: str = ItemKind.SFT):
    """Gold items of the project and kind that `user` has not had (each annotator gets each once)."""
    had = Assignment.objects.filter(item=OuterRef("pk"), annotator=user).exclude(
        state=AssignmentState.EXPIRED
    )
    qs = Item.objects.filter(project=project, kind=kind, is_gold=True).exclude(state=ItemState.DISCARDED)
    qs = qs.filter(~Exists(had))
    if kind == ItemKind.COMPARISON:
        qs = qs.filter(~Exists(Response.objects.filter(item=OuterRef("pk"), author=user)))
    return qs.order_by("?")


def _serialise_user(user):
    """Make one user's concurrent next() calls (double clicks, two tabs) take turns; others pass.

    FOR NO KEY UPDATE, not FOR UPDATE: it must not block the FOR KEY SHARE locks that inserts of
    rows referencing the user (judgments, audit events) take in the user's other transactions.
    On SQLite every write transaction is already exclusive (transaction_mode IMMEDIATE).
    """
    if _skip_locked():
        list(User.objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk"))


def next_assignment(*, project: Project, user, kind: str = ItemKind.SFT, now=None) -> Assignment | None:
    """The caller's next item, leased to them; None when the queue has nothing for them.

    Strategies, in order (the winner is stored in Assignment.reason):
      1. resume  - the caller's own unexpired lease of this kind (the lease is renewed);
      2. gold    - with probability project.gold_share, a gold item the caller has not had (recorded
                   as "queue" too: nothing tells the annotator an item is gold);
      3. queue   - the open item with the highest priority, then the oldest, that the caller has not
                   had, found through the partial index item_queue_idx and locked with SKIP LOCKED.
    """
    _require(user, "annotate", project)
    if kind not in ItemKind.values:
        raise InvalidInput(errors={"kind": [f"Must be one of: {', '.join(ItemKind.values)}."]})
    now = now or timezone.now()
    release_expired_leases(project=project, now=now, limit=50)
    skip_locked = _skip_locked()
    with transaction.atomic():
        _serialise_user(user)
        mine = (
            Assignment.objects.select_related("item")
            .filter(
                annotator=user,
                project=project,
                state=AssignmentState.LEASED,
                leased_until__gte=now,
                item__kind=kind,
            )
            .order_by("created_at", "id")
        )
        if skip_locked:
            # Wait for a concurrent expiry of this lease; the row is re-checked after the wait.
            mine = mine.select_for_update(of=("self",), no_key=True)
        mine = mine.first()
        if mine is not None:
            mine.leased_until = now + _lease_delta(project)
            mine.reason = "resume"
            mine.save(update_fields=["leased_until", "reason"])
            return mine

        own_expired = Assignment.objects.filter(
            item=OuterRef("pk"), annotator=user, state=AssignmentState.EXPIRED
        ).values("pk")[:1]
        item = None
        if project.gold_share > 0 and _gold_roll() < project.gold_share:
            gold = gold_candidates(project=project, user=user, kind=kind).annotate(
                own_expired_id=Subquery(own_expired)
            )
            item = gold.first()  # gold items have no slot limit: no lock needed to take one
        if item is not None:
            return _lease(project, user, item, now)
        candidates = queue_candidates(project=project, user=user, kind=kind).annotate(
            own_expired_id=Subquery(own_expired)
        )
        if connection.vendor == "postgresql":
            from django.contrib.postgres.expressions import ArraySubquery

            # The display order's response ids come with the item: one round trip fewer.
            shown = Response.objects.filter(item=OuterRef("pk"), shown=True).order_by("id")
            candidates = candidates.annotate(
                response_ids=ArraySubquery(shown.values("id")),
                response_text_list=ArraySubquery(shown.values("text")),
            )
        if skip_locked:
            item = candidates.select_for_update(skip_locked=True, no_key=True, of=("self",)).first()
            if item is None:
                # SKIP LOCKED passed over items that other callers are leasing this instant; at the
                # end of the queue they may be all that is left and may still have a free slot.
                # Wait for them (re-checked after the wait) rather than report an empty queue.
                # Deadlock-free: we hold no item or assignment lock yet, only our own user row.
                item = candidates.select_for_update(no_key=True, of=("self",)).first()
        else:
            item = candidates.first()
        if item is None:
            return None
        return _lease(project, user, item, now)


def _lease(project, user, item, now) -> Assignment:
    """Lease `item` (annotated with own_expired_id) to `user`; inside next_assignment's transaction."""
    order = getattr(item, "response_ids", None)
    if order is None:
        order = list(item.responses.filter(shown=True).values_list("id", flat=True))
    order = list(order)
    texts = getattr(item, "response_text_list", None)
    _shuffle(order)
    fields = dict(
        state=AssignmentState.LEASED,
        leased_until=now + _lease_delta(project),
        display_order=order,
        reason="queue",
        submitted_at=None,
    )
    if item.own_expired_id is None:
        assignment = Assignment.objects.create(item=item, annotator=user, project=project, **fields)
    else:  # the caller's own lease on this item ran out earlier; lease it to them again
        assignment = Assignment.objects.get(pk=item.own_expired_id)
        for key, value in fields.items():
            setattr(assignment, key, value)
        assignment.save(update_fields=list(fields))
        assignment.item = item
    Item.objects.filter(pk=item.pk).update(
        active_count=F("active_count") + 1,
        state=Case(
            When(is_gold=True, then=F("state")),
            When(
                active_count__gte=F("extra_overlap") + (project.overlap - 1),
                then=Value(ItemState.ASSIGNED),
            ),
            default=F("state"),
        ),
    )
    if texts is not None:  # the pick brought the texts along: the task payload needs no query
        assignment.response_texts = list(zip(item.response_ids, texts, strict=True))
    item.active_count += 1
    if not item.is_gold and item.active_count >= project.overlap + item.extra_overlap:
        item.state = ItemState.ASSIGNED
    return assignment


def _normalise_flags(flags) -> list[str]:
    if flags in (None, ""):
        return []
    if isinstance(flags, str):
        flags = [f for f in flags.split(",") if f.strip()]
    if not isinstance(flags, list | tuple):
        raise InvalidInput(errors={"flags": ["Must be a list."]})
    out = []
    for flag in flags:
        flag = str(flag).strip()
        if flag not in FLAG_CHOICES:
            raise InvalidInput(
                errors={"flags": [f"Unknown flag {flag!r}; use one of {', '.join(FLAG_CHOICES)}."]}
            )
        if flag not in out:
            out.append(flag)
    return out


def _resolve_rubric_version(project, rubric_version_id):
    if rubric_version_id in (None, ""):
        return project.current_rubric_version()
    try:
        return RubricVersion.objects.get(pk=int(rubric_version_id), rubric__project=project)
    except (RubricVersion.DoesNotExist, ValueError, TypeError):
        raise InvalidInput(errors={"rubric_version": ["Not a rubric version of this project."]})


def validate_sft_answer(*, decision, edited_text, original_text) -> tuple[str, str]:
    decision = (decision or "").strip()
    if decision not in Decision.values:
        raise InvalidInput(errors={"decision": [f"Must be one of: {', '.join(Decision.values)}."]})
    edited_text = (edited_text or "").replace("\r\n", "\n")
    if decision == Decision.EDIT:
        if not edited_text.strip():
            raise InvalidInput(errors={"edited_text": ["An edit needs the corrected answer."]})
        if edited_text.strip() == (original_text or "").strip():
            raise InvalidInput(
                errors={"edited_text": ["The edit is identical to the response; accept it instead."]}
            )
    else:
        edited_text = ""
    return decision, edited_text


def submit_judgment(
    *,
    assignment: Assignment,
    user,
    decision: str = "",
    edited_text: str = "",
    scores: dict | None = None,
    flags=None,
    comment: str = "",
    payload: dict | None = None,
    rubric_version_id=None,
    duration_seconds: float | None = None,
    now=None,
) -> Judgment:
    """Record the annotator's judgment on their assignment.

    A second submit on the same assignment supersedes the first (append-only); an identical resubmit
    returns the existing judgment, so retries and double clicks never duplicate. A submit after the
    lease expired still counts when the item has a free slot, so work is not lost.
    """
    now = now or timezone.now()
    with transaction.atomic():
        try:
            locked = (
                # of=self: lock only the assignment; locking the joined project row would serialise
                # every submit and lease in the project. The project comes with its newest rubric
                # version and the caller's role: no query of their own.
                with_caller_role(
                    Assignment.objects.select_for_update(of=("self",)).select_related(
                        "item", "project", "project__latest_rubric_version"
                    ),
                    user,
                    project_field="project_id",
                ).get(pk=assignment.pk, annotator_id=user.pk)
            )
        except Assignment.DoesNotExist:  # other people's assignments do not exist for the caller
            raise NotFound("No such assignment.")
        project, item = locked.project, locked.item
        remember_role(user, project, locked)
        _require(user, "annotate", project)
        if locked.state == AssignmentState.SKIPPED:
            raise Conflict("You skipped this item.")
        rubric_version = _resolve_rubric_version(project, rubric_version_id)
        criteria = rubric_version.criteria if rubric_version else []
        try:
            # Rubric scores are required on SFT review; on comparisons the criteria are preferences.
            typed_scores = validate_scores(criteria, scores or {}, require_all=item.kind == ItemKind.SFT)
        except RubricError as exc:
            raise InvalidInput(errors=exc.errors)
        flags = _normalise_flags(flags)
        payload = payload or {}
        validate_payload = registry.payload_validators.get(item.kind)
        if validate_payload is not None:
            payload = validate_payload(
                item=item, assignment=locked, payload=payload, project=project, rubric_version=rubric_version
            )
        if item.kind == ItemKind.SFT:
            original = ""
            if (decision or "").strip() == Decision.EDIT:  # only an edit compares with the response
                original = item.responses.order_by("position").values_list("text", flat=True).first() or ""
            decision, edited_text = validate_sft_answer(
                decision=decision, edited_text=edited_text, original_text=original
            )
        comment = (comment or "").strip()
        if project.require_rationale and not comment and item.kind == ItemKind.COMPARISON:
            raise InvalidInput(errors={"comment": ["This project requires a rationale."]})
        if duration_seconds is not None:
            try:
                duration_seconds = max(0.0, float(duration_seconds))
            except (TypeError, ValueError):
                raise InvalidInput(errors={"duration_seconds": ["Must be a number."]})

        # Only a submitted assignment has judgments (leased and expired ones never do).
        prior = None
        if locked.state == AssignmentState.SUBMITTED:
            prior = locked.judgments.filter(is_current=True).first()
        content = dict(
            decision=decision,
            edited_text=edited_text,
            scores=typed_scores,
            flags=flags,
            comment=comment,
            payload=payload,
            rubric_version=rubric_version,
        )
        if prior is not None:
            same_version = prior.rubric_version_id == (rubric_version.pk if rubric_version else None)
            if same_version and all(
                getattr(prior, k) == v for k, v in content.items() if k != "rubric_version"
            ):
                return prior
            prior.is_current = False
            prior.save(update_fields=["is_current"])
        elif locked.state == AssignmentState.EXPIRED:
            # The slot went back to the queue; take it again if nobody filled it.
            taken = Item.objects.filter(
                Q(is_gold=True) | Q(active_count__lt=F("extra_overlap") + project.overlap),
                pk=item.pk,
                state__in=_OPEN_STATES,
            ).update(active_count=F("active_count") + 1)
            if not taken:
                raise Conflict("Your lease expired and the item was given to someone else.")
        judgment = Judgment.objects.create(
            assignment=locked,
            item=item,
            annotator=user,
            supersedes=prior,
            duration_seconds=duration_seconds,
            rushed=bool(
                project.min_seconds_per_item
                and duration_seconds is not None
                and duration_seconds < project.min_seconds_per_item
            ),
            **content,
        )
        if prior is None:
            locked.state = AssignmentState.SUBMITTED
            locked.submitted_at = now
            locked.save(update_fields=["state", "submitted_at"])
            Item.objects.filter(pk=item.pk).update(
                submitted_count=F("submitted_count") + 1,
                # SET sees the row before this update: submitted_count is the old count here.
                # Only queue states move; a lead's decision (discarded, disputed...) stays.
                state=Case(
                    When(Q(is_gold=True) | ~Q(state__in=_OPEN_STATES), then=F("state")),
                    When(
                        submitted_count__gte=F("extra_overlap") + (project.overlap - 1),
                        then=Value(ItemState.COMPLETE),
                    ),
                    When(
                        active_count__gte=F("extra_overlap") + project.overlap, then=Value(ItemState.ASSIGNED)
                    ),
                    default=Value(ItemState.OPEN),
                ),
            )
            if project.agreement_routing and not item.is_gold:
                from . import routing  # routing reads judgments; imported here to keep services light

                routing.route_if_complete(item_id=item.pk, project=project)
        audit.record(
            actor=user,
            project=project,
            verb="judgment.superseded" if prior else "judgment.submitted",
            obj=judgment,
            item=item.pk,
            decision=decision,
            rubric_version=rubric_version.number if rubric_version else None,
        )
        for callback in registry.after_submit.get(item.kind, ()):
            callback(judgment)
        return judgment


@transaction.atomic
def skip_assignment(*, assignment: Assignment, user, reason: str = "") -> Assignment:
    """Give the item back; the caller will not be offered it again."""
    try:
        locked = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(pk=assignment.pk, annotator_id=user.pk)
        )
    except Assignment.DoesNotExist:  # other people's assignments do not exist for the caller
        raise NotFound("No such assignment.")
    _require(user, "annotate", locked.project)  # a member removed since the lease may not act on it
    if locked.state == AssignmentState.SUBMITTED:
        raise Conflict("This item is already submitted.")
    if locked.state == AssignmentState.SKIPPED:
        return locked
    held_slot = locked.state == AssignmentState.LEASED
    locked.state = AssignmentState.SKIPPED
    locked.save(update_fields=["state"])
    if held_slot:
        _free_slot(locked.item_id)
    audit.record(
        actor=user,
        project=locked.project,
        verb="assignment.skipped",
        obj=locked,
        item=locked.item_id,
        reason=reason[:500],
    )
    return locked


def get_assignment_for(*, assignment_id, user) -> Assignment:
    """The assignment if it is the caller's own; NotFound otherwise (other people's do not exist)."""
    try:
        return Assignment.objects.select_related("item", "project").get(pk=int(assignment_id), annotator=user)
    except (Assignment.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such assignment.")


def set_item_priority(*, item: Item, actor, priority: int) -> Item:
    _require(actor, "edit_project", item.project)
    with transaction.atomic():
        old = item.priority
        Item.objects.filter(pk=item.pk).update(priority=priority)
        item.priority = priority
        audit.record(
            actor=actor, project=item.project, verb="item.priority_changed", obj=item, old=old, new=priority
        )
    return item


__all__ = [
    "ImportResult",
    "create_project",
    "update_project",
    "resolve_user",
    "set_membership",
    "remove_membership",
    "create_rubric_version",
    "import_items",
    "release_expired_leases",
    "next_assignment",
    "submit_judgment",
    "skip_assignment",
    "get_assignment_for",
    "set_item_priority",
]
