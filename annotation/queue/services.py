"""The assignment queue: the next item (one indexed pick, SKIP LOCKED), leases, submit and skip.

Item state and slot counters change only through `annotation.queue.lifecycle`'s steps.
"""

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from annotation.core import audit, versions
from annotation.core.errors import Conflict, InvalidInput, NotFound
from annotation.core.permissions import remember_role, require, with_caller_role
from annotation.core.rubrics import RubricError, validate_scores
from annotation.kinds import registry
from annotation.models import (
    FLAG_CHOICES,
    Assignment,
    AssignmentState,
    Item,
    ItemKind,
    ItemState,
    Judgment,
    Project,
    RubricVersion,
    SkipReason,
)
from annotation.queue import hot_sql, lifecycle, routing

User = get_user_model()
_shuffle = random.SystemRandom().shuffle


_gold_roll = random.SystemRandom().random  # tests replace it to decide whether a gold item is served


def lease_delta(project):
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
            lifecycle.free_slots(item_id, count=per_item[item_id])
    return len(rows)


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
    return registry.get(kind).candidates(qs, user).order_by("-priority", "id")


def gold_candidates(*, project: Project, user, kind: str = ItemKind.SFT):
    """Gold items of the project and kind that `user` has not had (each annotator gets each once)."""
    had = Assignment.objects.filter(item=OuterRef("pk"), annotator=user).exclude(
        state=AssignmentState.EXPIRED
    )
    qs = Item.objects.filter(project=project, kind=kind, is_gold=True).exclude(state=ItemState.DISCARDED)
    qs = qs.filter(~Exists(had))
    return registry.get(kind).candidates(qs, user).order_by("?")


def _own_lease(user, project, kind, now):
    """The caller's own unexpired lease of this kind (oldest first), as a queryset."""
    return hot_sql.own_lease(user.pk, project.pk, kind, now)


def _serialise_user(user, *, project, kind, now) -> int | None:
    """Make one user's concurrent next() calls (double clicks, two tabs) take turns; others pass.
    Returns the id of the caller's own live lease (`_own_lease`'s first), read in the same statement.

    FOR NO KEY UPDATE, not FOR UPDATE: it must not block the FOR KEY SHARE locks that inserts of
    rows referencing the user (judgments, audit events) take in the user's other transactions.
    On SQLite every write transaction is already exclusive (transaction_mode IMMEDIATE).
    """
    if connection.vendor == "postgresql":
        return hot_sql.lock_user(user=user, project=project, kind=kind, now=now)
    own_lease = _own_lease(user, project, kind, now)
    mine = Subquery(own_lease.values("pk")[:1])
    if _skip_locked():
        rows = User.objects.select_for_update(no_key=True).filter(pk=user.pk).annotate(lease=mine)
        return next(iter(rows.values_list("lease", flat=True)), None)
    return own_lease.values_list("pk", flat=True).first()


def next_assignment(*, project: Project, user, kind: str = ItemKind.SFT, now=None) -> Assignment | None:
    """The caller's next item, leased to them; None when the queue has nothing for them.

    Strategies, in order (the winner is stored in Assignment.reason):
      1. resume  - the caller's own unexpired lease of this kind (the lease is renewed);
      2. gold    - with probability project.gold_share, a gold item the caller has not had (recorded
                   as "queue" too: nothing tells the annotator an item is gold);
      3. queue   - the open item with the highest priority, then the oldest, that the caller has not
                   had, found through the partial index item_queue_idx and locked with SKIP LOCKED.

    Statements on PostgreSQL: BEGIN, the user row locked with the own lease's id, then one statement:
    `hot_sql.renew_lease` (resume) or `hot_sql.pick_and_lease` (queue), COMMIT. Expired leases are
    released first only when there are some: a project loaded with `expired_leases` (the API's
    NextView) says so without a probe.
    """
    require(user, "annotate", project)
    if kind not in registry.names():
        raise InvalidInput(errors={"kind": [f"Must be one of: {', '.join(registry.names())}."]})
    now = now or timezone.now()
    if getattr(project, "expired_leases", True):
        release_expired_leases(project=project, now=now, limit=50)
    skip_locked = _skip_locked()
    with transaction.atomic():
        lease_id = _serialise_user(user, project=project, kind=kind, now=now)
        if lease_id is not None and connection.vendor == "postgresql":
            mine = hot_sql.renew_lease(
                lease_id=lease_id,
                project=project,
                user=user,
                now=now,
                leased_until=now + lease_delta(project),
            )
            if mine is not None:
                return mine
        elif lease_id is not None:  # SQLite: the write transaction is exclusive, nothing to wait for
            mine = _own_lease(user, project, kind, now).filter(pk=lease_id).select_related("item").first()
            if mine is not None:
                mine.leased_until = now + lease_delta(project)
                mine.reason = "resume"
                mine.save(update_fields=["leased_until", "reason"])
                return mine

        item = None
        if project.gold_share > 0 and _gold_roll() < project.gold_share:
            gold = gold_candidates(project=project, user=user, kind=kind).annotate(
                own_expired_id=_own_expired(user)
            )
            item = gold.first()  # gold items have no slot limit: no lock needed to take one
        if item is not None:
            return _lease(project, user, item, now)
        if connection.vendor == "postgresql":
            lease = dict(
                candidates=queue_candidates,
                kind=kind,
                project=project,
                user=user,
                now=now,
                leased_until=now + lease_delta(project),
            )
            assignment = hot_sql.pick_and_lease(skip_locked=skip_locked, **lease)
            for _ in range(WAIT_ROUNDS if skip_locked and assignment is None else 0):
                # SKIP LOCKED passed over items that other callers are leasing or submitting this
                # instant; at the end of the queue they may be all that is left and may still have a
                # free slot. Wait for the first of them, then pick again, rather than report an empty
                # queue. The wait locks that one row inside a savepoint rolled back at once: a pick
                # that waited by scanning FOR UPDATE without SKIP LOCKED kept every row it had locked
                # and found taken, and two such picks with two submits deadlocked (CI, session 7).
                blocked = queue_candidates(project=project, user=user, kind=kind).values_list("pk", flat=True)
                blocked = blocked.first()
                if blocked is None:
                    break
                _wait_for_item(blocked)
                assignment = hot_sql.pick_and_lease(skip_locked=True, **lease)
                if assignment is not None:
                    break
            return assignment
        candidates = queue_candidates(project=project, user=user, kind=kind)
        item = candidates.annotate(own_expired_id=_own_expired(user)).first()
        if item is None:
            return None
        return _lease(project, user, item, now)


WAIT_ROUNDS = 20  # each round waits for a transaction that held a candidate to end


def _wait_for_item(item_id: int) -> None:
    """Wait until no other transaction holds item `item_id`'s row, holding nothing afterwards: its lock
    is taken in a savepoint and let go with it."""
    sid = transaction.savepoint()
    try:
        list(Item.objects.select_for_update(no_key=True).filter(pk=item_id).values_list("pk", flat=True))
    finally:
        transaction.savepoint_rollback(sid)


def _own_expired(user):
    """The caller's own expired assignment of the outer item, if any (it is leased to them again)."""
    return Subquery(
        Assignment.objects.filter(item=OuterRef("pk"), annotator=user, state=AssignmentState.EXPIRED).values(
            "pk"
        )[:1]
    )


def _lease(project, user, item, now) -> Assignment:
    """Lease `item` (annotated with own_expired_id) to `user`; inside next_assignment's transaction."""
    order = list(item.responses.filter(shown=True).values_list("id", flat=True))
    _shuffle(order)
    fields = dict(
        state=AssignmentState.LEASED,
        leased_until=now + lease_delta(project),
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
    lifecycle.take_slot(item, project)
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
        # of=self: lock only the assignment; locking the joined project row would serialise every
        # submit and lease in the project. The project comes with its newest rubric version and the
        # caller's role: no query of their own. PostgreSQL: compiled once (hot_sql.lock_for_submit).
        if connection.vendor == "postgresql":
            locked = hot_sql.lock_for_submit(assignment_id=assignment.pk, user=user)
        else:
            rows = Assignment.objects.select_for_update(of=("self",)).select_related(
                "item", "project", "project__latest_rubric_version"
            )
            rows = with_caller_role(rows, user, project_field="project_id")
            locked = rows.filter(pk=assignment.pk, annotator_id=user.pk).first()
        if locked is None:  # other people's assignments do not exist for the caller
            raise NotFound("No such assignment.")
        project, item = locked.project, locked.item
        kind = registry.get(item.kind)
        remember_role(user, project, locked)
        require(user, "annotate", project)
        if locked.state == AssignmentState.SKIPPED:
            raise Conflict("You skipped this item.")
        rubric_version = _resolve_rubric_version(project, rubric_version_id)
        criteria = rubric_version.criteria if rubric_version else []
        try:
            typed_scores = validate_scores(criteria, scores or {}, require_all=kind.scores_required)
        except RubricError as exc:
            raise InvalidInput(errors=exc.errors)
        flags = _normalise_flags(flags)
        answer = kind.validate(
            item=item,
            assignment=locked,
            project=project,
            rubric_version=rubric_version,
            answer={"decision": decision, "edited_text": edited_text, "payload": payload or {}},
        )
        decision, edited_text, payload = answer["decision"], answer["edited_text"], answer["payload"]
        comment = (comment or "").strip()
        if project.require_rationale and not comment and kind.rationale_applies:
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
            taken = lifecycle.retake_slot(item, project)
            if not taken:
                raise Conflict("Your lease expired and the item was given to someone else.")
        judgment = Judgment(
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
        hot = prior is None and connection.vendor == "postgresql"
        if hot:  # its id was drawn with the lock: it is inserted with the rest, in one statement
            judgment.pk = locked.new_judgment_id
        else:
            judgment.save(force_insert=True)
        event = audit.event(
            actor=user,
            project=project,
            verb="judgment.superseded" if prior else "judgment.submitted",
            obj=judgment,
            item=item.pk,
            decision=decision,
            rubric_version=rubric_version.number if rubric_version else None,
        )
        if hot:
            # One statement: the judgment, assignment submitted, the item's slot judged, the audit event.
            state = hot_sql.record_submit(
                assignment=locked,
                item=item,
                project=project,
                submitted_at=now,
                judgment=judgment,
                audit_event=event,
            )
            versions.bump(project.pk)  # as lifecycle.record_submission does (record_submission_sql)
            if state == ItemState.COMPLETE and project.agreement_routing and not item.is_gold:
                routing.route_if_complete(item_id=item.pk, project=project)
        else:
            if prior is None:
                locked.state = AssignmentState.SUBMITTED
                locked.submitted_at = now
                locked.save(update_fields=["state", "submitted_at"])
                lifecycle.record_submission(item, project)
                if project.agreement_routing and not item.is_gold:
                    routing.route_if_complete(item_id=item.pk, project=project)
            else:
                lifecycle.touch(item, project.pk)  # a superseding judgment: recomputes redo this item
            event.save(force_insert=True)
        kind.after_submit(judgment)
        return judgment


def skip_reason_of(reason) -> str:
    """A skip's `reason` as one of SkipReason's values: a value (or its label) as given, free text
    is "other", nothing is "" (the free text itself goes into the audit event)."""
    text = str(reason or "").strip()
    for value, label in SkipReason.choices:
        if text.lower() in (value, label.lower()):
            return value
    return SkipReason.OTHER if text else ""


@transaction.atomic
def skip_assignment(*, assignment: Assignment, user, reason: str = "") -> Assignment:
    """Give the item back; the caller will not be offered it again (unless they undo the skip).
    `reason`: one of SkipReason's values, stored on the assignment, or free text (stored as "other")."""
    try:
        locked = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(pk=assignment.pk, annotator_id=user.pk)
        )
    except Assignment.DoesNotExist:  # other people's assignments do not exist for the caller
        raise NotFound("No such assignment.")
    require(user, "annotate", locked.project)  # a member removed since the lease may not act on it
    if locked.state == AssignmentState.SUBMITTED:
        raise Conflict("This item is already submitted.")
    if locked.state == AssignmentState.SKIPPED:
        return locked
    held_slot = locked.state == AssignmentState.LEASED
    locked.state = AssignmentState.SKIPPED
    locked.skip_reason = skip_reason_of(reason)
    locked.save(update_fields=["state", "skip_reason"])
    if held_slot:
        lifecycle.free_slots(locked.item_id)
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
