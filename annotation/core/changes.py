"""Which items changed since a recompute: the marker behind incremental recomputes.

The lifecycle steps that change what an item's judgments or decision say set `Item.updated_at`
(annotation.queue.lifecycle: a judgment in, superseded or imported; a lead's decision; more
annotators), and so does setting a gold answer. A recompute notes when it started (`Recompute.
started_at`); the next one redoes the items changed at or after that moment minus
TUNELOOP_RECOMPUTE_LAG_SECONDS. The lag covers a transaction that stamped its item before the previous
run read the table but committed after it: such a change is picked up as long as its transaction
lasted less than the lag (a submit lasts milliseconds). Items in the lag window are simply redone.
"""

from datetime import timedelta

from django.conf import settings

from annotation.models import Item


def since(started_at):
    """The moment from which items count as changed, for a previous run that started at `started_at`."""
    return started_at - timedelta(seconds=settings.TUNELOOP_RECOMPUTE_LAG_SECONDS)


def changed_items(project, after, *, kind: str | None = None):
    """Ids of the project's items (of `kind`) changed at or after `after`, as a queryset (a subquery)."""
    qs = Item.objects.filter(project=project, updated_at__gte=after)
    if kind is not None:
        qs = qs.filter(kind=kind)
    return qs.values("id")
