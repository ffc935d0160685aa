"""The queue's hot path on PostgreSQL, one statement per step (data-modifying CTEs):

  pick_and_lease   pick the best open item (the caller's candidates queryset, FOR NO KEY UPDATE SKIP
                   LOCKED through item_queue_idx), lease it (a new assignment, or the caller's own
                   expired one again), take its slot (`lifecycle.take_slot_sql`) and bring back the
                   item and its shown responses for the task payload;
  renew_lease      the caller's own live lease renewed (resume), with its item and shown responses;
  record_submit    a first submit's writes: the judgment (its id drawn from the sequence with the
                   assignment's lock: `with_new_judgment_id`), the assignment SUBMITTED, the item's
                   slot judged (`lifecycle.record_submission_sql`), the audit event; returns the
                   item's new state.

The reads around them are compiled once per process too (`statements.rows_once`: the ORM's own SQL,
the values put in afterwards): the API's next loads its project with the caller's role and whether a
lease ran out (`project_for_next`), locks the caller's user row with their own live lease's id
(`lock_user`); submit locks the caller's assignment with its item, project, newest rubric version,
role, shown response ids and a drawn judgment id (`lock_for_submit`). Compiling those querysets cost
more CPU than PostgreSQL takes to run them.

`annotation.queue.services` calls them on PostgreSQL and keeps the ORM steps elsewhere (SQLite).
Same rows, same locks, in the same order as the ORM steps: the lock order in `lifecycle` holds.
"""

import functools
import json

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import OuterRef, Subquery
from django.db.models.expressions import RawSQL

from annotation.core import statements, watermark
from annotation.core.permissions import with_caller_role
from annotation.kinds import registry
from annotation.models import Assignment, AssignmentState, Item, ItemState, Project, Response
from annotation.queue import lifecycle, selectors

User = get_user_model()


def _stand_in(user, user_id):
    """A user with only what the statements' shape reads (id, superuser), for compiling with marks."""
    return User(pk=user_id, is_superuser=user.is_superuser, is_active=True)


def project_for_next(*, project_id: int, user, now) -> Project | None:
    """The project of the API's next (`ProjectScoped.project_for`'s one statement): its newest rubric
    version, the caller's role (`caller_role`) and `expired_leases` as of `now`; None when it does not
    exist."""

    def build(project_id, user_id, now):
        projects = selectors.with_expired_leases(Project.objects.select_related("latest_rubric_version"), now)
        return with_caller_role(projects, _stand_in(user, user_id)).filter(pk=project_id).order_by("pk")[:1]

    key = f"next_project:{user.is_superuser}"
    rows = statements.rows_once(key, build, project_id=project_id, user_id=user.pk, now=now)
    return rows[0] if rows else None


def own_lease(user_id, project_id, kind: str, now):
    """A caller's own unexpired leases of `kind` in a project, oldest first, as a queryset."""
    return Assignment.objects.filter(
        annotator_id=user_id,
        project_id=project_id,
        state=AssignmentState.LEASED,
        leased_until__gte=now,
        item__kind=kind,
    ).order_by("created_at", "id")


def lock_user(*, user, project, kind: str, now) -> int | None:
    """The caller's user row locked FOR NO KEY UPDATE (`services._serialise_user`), with the id of
    their own oldest unexpired lease of `kind` in the project, read in the same statement."""

    def build(user_id, project_id, now):
        own = own_lease(user_id, project_id, kind, now)
        rows = User.objects.select_for_update(no_key=True).filter(pk=user_id)
        return rows.annotate(lease=Subquery(own.values("pk")[:1])).values_list("lease")

    rows = statements.rows_once(f"lock_user:{kind}", build, user_id=user.pk, project_id=project.pk, now=now)
    return rows[0][0] if rows else None


def lock_for_submit(*, assignment_id: int, user) -> Assignment | None:
    """The caller's assignment `assignment_id` locked (FOR UPDATE of the assignment only), with its
    item, project and the project's newest rubric version, the caller's role, the item's shown
    response ids and a drawn judgment id (`with_new_judgment_id`); None unless it is theirs."""

    def build(assignment_id, user_id):
        rows = Assignment.objects.select_for_update(of=("self",)).select_related(
            "item", "project", "project__latest_rubric_version"
        )
        rows = with_caller_role(
            with_new_judgment_id(with_shown_ids(rows)), _stand_in(user, user_id), project_field="project_id"
        )
        return rows.filter(pk=assignment_id, annotator_id=user_id).order_by()[:21]  # as .get() would

    key = f"lock_for_submit:{user.is_superuser}"
    rows = statements.rows_once(key, build, assignment_id=assignment_id, user_id=user.pk)
    return rows[0] if rows else None


def with_shown_ids(assignments):
    """PostgreSQL: each assignment's item's shown response ids (canonical order) come with the row,
    as `shown_response_ids`: a comparison's display slots need no query of their own."""
    if connection.vendor != "postgresql":
        return assignments
    # deferred: PostgreSQL-only module
    from django.contrib.postgres.expressions import ArraySubquery

    shown = Response.objects.filter(item=OuterRef("item_id"), shown=True).order_by("position", "id")
    return assignments.annotate(shown_response_ids=ArraySubquery(shown.values("id")))


_ITEM_COLUMNS = [f.column for f in Item._meta.concrete_fields]
_ITEM_ATTNAMES = [f.attname for f in Item._meta.concrete_fields]


def _shown(column: str, item_ref: str) -> str:
    return (
        f"ARRAY(SELECT r.{column} FROM annotation_response r WHERE r.item_id = {item_ref} AND r.shown"
        " ORDER BY r.position, r.id)"
    )


def pick_and_lease(
    *, candidates, kind: str, project, user, now, leased_until, skip_locked: bool
) -> Assignment | None:
    """Lease the first of `candidates(project=, user=, kind=)` (an ordered Item queryset) to `user`
    in one statement; None when there is none (all locked by others, with `skip_locked`). Inside the
    caller's transaction. The statement is compiled once per process, kind and `skip_locked`.

    The display order is the shown responses shuffled by PostgreSQL's random(); an item the caller
    let expire earlier is leased to them again through ON CONFLICT on (item, annotator), and only
    when that row is still EXPIRED (anything else: no lease, no slot taken)."""

    def build(project_id, user_id, now, leased_until, overlap):
        stand_in = Project(pk=project_id, overlap=overlap)
        shape = candidates(project=stand_in, user=_stand_in(user, user_id), kind=kind)
        return _pick_and_lease_sql(shape, stand_in, user_id, now, leased_until, skip_locked)

    # the kind's object: a kind registered again (tests) may narrow its candidates differently
    key = f"pick_and_lease:{kind}:{id(registry.get(kind))}:{skip_locked}"
    values = dict(project_id=project.pk, user_id=user.pk, now=now, leased_until=leased_until)
    sql, params = statements.once(key, build, **values, overlap=project.overlap)
    rows = _items(sql, params)
    if not rows:
        return None
    return _assignment(rows[0], project, user, leased_until, "queue")


def _pick_and_lease_sql(candidates, project, user_id, now, leased_until, skip_locked):
    pick = candidates.select_for_update(skip_locked=skip_locked, no_key=True, of=("self",)).values("id")[:1]
    pick_sql, pick_params = pick.query.sql_with_params()
    slot_sql, slot_params = lifecycle.take_slot_sql(project, RawSQL("SELECT item_id FROM lease", ()))
    returning = ", ".join(f'"annotation_item"."{c}"' for c in _ITEM_COLUMNS)
    sql = f"""
        WITH pick AS ({pick_sql}),
        lease AS (
            INSERT INTO annotation_assignment AS a (project_id, item_id, annotator_id, state,
                leased_until, display_order, reason, created_at, submitted_at)
            SELECT %s, pick.id, %s, %s, %s,
                COALESCE((SELECT jsonb_agg(r.id ORDER BY random()) FROM annotation_response r
                          WHERE r.item_id = pick.id AND r.shown), '[]'::jsonb),
                %s, %s, NULL
            FROM pick
            ON CONFLICT ON CONSTRAINT assignment_once_per_annotator DO UPDATE SET
                state = EXCLUDED.state, leased_until = EXCLUDED.leased_until,
                display_order = EXCLUDED.display_order, reason = EXCLUDED.reason, submitted_at = NULL
            WHERE a.state = %s
            RETURNING a.id, a.item_id, a.display_order, a.created_at
        ),
        slot AS ({slot_sql} RETURNING {returning})
        SELECT {", ".join(f"slot.{c}" for c in _ITEM_COLUMNS)},
            lease.id AS lease_id, lease.display_order::text AS lease_order, lease.created_at AS lease_created,
            {_shown("id", "slot.id")} AS response_ids, {_shown("text", "slot.id")} AS response_text_list
        FROM lease JOIN slot ON slot.id = lease.item_id
    """
    params = (
        *pick_params,
        project.pk,
        user_id,
        AssignmentState.LEASED,
        leased_until,
        "queue",
        now,
        AssignmentState.EXPIRED,
        *slot_params,
    )
    return sql, params


def renew_lease(*, lease_id: int, project, user, now, leased_until) -> Assignment | None:
    """Renew the caller's lease `lease_id` if it is still LEASED and unexpired at `now` (the UPDATE
    waits for a concurrent expiry or submit and re-checks); None otherwise. One statement, which
    brings the item and its shown responses for the task payload."""
    renew_sql, renew_params = statements.once(
        "renew_lease",
        lambda lease_id, now, leased_until: statements.update_sql(
            Assignment.objects.filter(pk=lease_id, state=AssignmentState.LEASED, leased_until__gte=now),
            leased_until=leased_until,
            reason="resume",
        ),
        lease_id=lease_id,
        now=now,
        leased_until=leased_until,
    )
    sql = f"""
        WITH renewed AS ({renew_sql} RETURNING "annotation_assignment"."item_id",
            "annotation_assignment"."id", "annotation_assignment"."display_order",
            "annotation_assignment"."created_at")
        SELECT {", ".join(f'i."{c}"' for c in _ITEM_COLUMNS)},
            renewed.id AS lease_id, renewed.display_order::text AS lease_order,
            renewed.created_at AS lease_created,
            {_shown("id", "i.id")} AS response_ids, {_shown("text", "i.id")} AS response_text_list
        FROM renewed JOIN annotation_item i ON i.id = renewed.item_id
    """
    rows = _items(sql, renew_params)
    if not rows:
        return None
    return _assignment(rows[0], project, user, leased_until, "resume")


_EXTRAS = ("lease_id", "lease_order", "lease_created", "response_ids", "response_text_list")


def _items(sql: str, params) -> list[Item]:
    """The rows of a statement above as Items (its columns, then _EXTRAS), as `Item.objects.raw` gives
    them (the fields' converters, e.g. JSON), without resolving the columns on every call."""
    with statements.cursor() as cursor:  # prepared: its constants are literals (statements.once)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return []
    compiler, converters = _item_converters()
    if converters:
        rows = compiler.apply_converters(rows, converters)
    out = []
    n = len(_ITEM_ATTNAMES)
    for row in rows:
        item = Item.from_db(connection.alias, _ITEM_ATTNAMES, row[:n])
        for name, value in zip(_EXTRAS, row[n:], strict=True):
            setattr(item, name, value)
        out.append(item)
    return out


@functools.cache
def _item_converters():
    compiler = Item.objects.all().query.get_compiler(connection.alias)
    table = Item._meta.db_table
    return compiler, compiler.get_converters([f.get_col(table) for f in Item._meta.concrete_fields])


def _assignment(item, project, user, leased_until, reason) -> Assignment:
    """The leased Assignment a statement above returned, with its item and (id, text) pairs."""
    assignment = Assignment(
        id=item.lease_id,
        project=project,
        item=item,
        annotator=user,
        state=AssignmentState.LEASED,
        leased_until=leased_until,
        display_order=json.loads(item.lease_order),
        reason=reason,
        created_at=item.lease_created,
        submitted_at=None,
    )
    assignment._state.adding, assignment._state.db = False, connection.alias
    assignment.response_texts = list(zip(item.response_ids, item.response_text_list, strict=True))
    return assignment


def with_new_judgment_id(assignments):
    """PostgreSQL: each row comes with `new_judgment_id`, the judgment sequence's next value, so that
        a first submit inserts its judgment in record_submit's statement, its id known to the audit event
        (a value drawn for a submit that stores no new judgment is a gap, like a rolled-back insert's). The
    draw holds a shared advisory lock to the end of the transaction: sums maintained up to the settled
    judgment id (annotation.core.watermark) cannot pass an id drawn but not yet committed."""
    if connection.vendor != "postgresql":
        return assignments
    sql, params = watermark.drawn_id_sql()  # the settled id waits for this transaction (core.watermark)
    return assignments.annotate(new_judgment_id=RawSQL(sql, params))


def record_submit(*, assignment: Assignment, item: Item, project, submitted_at, judgment, audit_event) -> str:
    """The writes of a first submit as one statement: `judgment` (unsaved, its id drawn by
    with_new_judgment_id) inserted, the assignment SUBMITTED at `submitted_at`,
    `lifecycle.record_submission` of its item, `audit_event` (unsaved, `annotation.core.audit.event`)
    inserted. Returns the item's state afterwards."""
    judgment_sql, judgment_params = statements.insert_sql(judgment, with_pk=True)
    done_sql, done_params = statements.once(
        "submit_done",
        lambda pk, at: statements.update_sql(
            Assignment.objects.filter(pk=pk), state=AssignmentState.SUBMITTED, submitted_at=at
        ),
        pk=assignment.pk,
        at=submitted_at,
    )
    item_sql, item_params = lifecycle.record_submission_sql(item, project)
    audit_sql, audit_params = statements.insert_sql(audit_event)
    with statements.cursor() as cursor:  # writes by key: prepared (statements.cursor)
        cursor.execute(
            f"WITH judged AS ({judgment_sql}), done AS ({done_sql}), slot AS ({item_sql} RETURNING state),"
            f" event AS ({audit_sql}) SELECT state FROM slot",
            (*judgment_params, *done_params, *item_params, *audit_params),
        )
        row = cursor.fetchone()
    judgment._state.adding, judgment._state.db = False, connection.alias
    assignment.state, assignment.submitted_at = AssignmentState.SUBMITTED, submitted_at
    return row[0] if row else ItemState.OPEN
