"""The audit trail: one call per thing worth remembering."""

from annotation.models import AuditEvent


def record(*, actor, project, verb: str, obj=None, object_type: str = "", **data) -> AuditEvent:
    """Append an AuditEvent. `obj` supplies object type and id; `data` must be JSON-serialisable."""
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        project=project,
        verb=verb,
        object_type=object_type or (obj._meta.model_name if obj is not None else ""),
        object_id=str(obj.pk) if obj is not None else "",
        data=data,
    )
