"""Celery tasks of the preferences app (thin: load ids, call a service), and the one place a lead's
"Recompute consensus" is queued (as annotation.quality.tasks.request_recompute for agreement)."""

from celery import shared_task

from annotation.core import recomputes
from annotation.core.errors import Forbidden, InvalidInput
from annotation.core.permissions import can

from . import services
from .consensus import RULES


@shared_task(name="preferences.tasks.recompute_consensus")
def recompute_consensus(recompute_id: int):
    """Run a recorded consensus recompute (annotation.core.recomputes): incremental when it can be."""
    rec = recomputes.run(recompute_id, services.consensus_body)
    return rec.pk if rec is not None else None


def request_consensus(*, project, actor, rule: str = "majority", min_confidence: float = 0.0, full=False):
    """A lead's "Recompute consensus": record it and queue it (annotation.core.recomputes); the
    `Recompute` row (its result holds the stats once done)."""
    if not can(actor, "adjudicate", project):
        raise Forbidden("Only leads recompute consensus.")
    if rule not in RULES:
        raise InvalidInput(errors={"rule": [f"Must be one of: {', '.join(RULES)}."]})
    params = services.consensus_params(project, rule=rule, min_confidence=min_confidence)
    return recomputes.request(
        project=project, what=f"consensus:{rule}", params=params, actor=actor, task=recompute_consensus,
        full=full,
    )  # fmt: skip
