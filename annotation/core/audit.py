"""The audit trail: one call per thing worth remembering."""

from annotation.models import AuditEvent


def event(*, actor, project, verb: str, obj=None, object_type: str = "", **data) -> AuditEvent:
    """The AuditEvent `record` stores, unsaved (a hot path writes it inside a larger statement with
    `annotation.core.statements.insert_sql`). `data` must be JSON-serialisable."""
    return AuditEvent(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        project=project,
        verb=verb,
        object_type=object_type or (obj._meta.model_name if obj is not None else ""),
        object_id=str(obj.pk) if obj is not None else "",
        data=data,
    )


def record(*, actor, project, verb: str, obj=None, object_type: str = "", **data) -> AuditEvent:
    """Append an AuditEvent. `obj` supplies object type and id; `data` must be JSON-serialisable."""
    row = event(actor=actor, project=project, verb=verb, obj=obj, object_type=object_type, **data)
    row.save(force_insert=True)
    return row
