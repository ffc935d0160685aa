"""What a web process does once when it starts instead of in its first requests (issue 13: the
first "Train DPO" click of each process paid for it): load every view module through the URLconf,
and the Celery broker's transport, whose first use imports it (kombu's SQLAlchemy transport under the
embedded default imports SQLAlchemy: one to three seconds on a busy host). Nothing connects."""

import logging

from django.urls import get_resolver

log = logging.getLogger(__name__)


def warm_up() -> None:
    get_resolver().url_patterns  # noqa: B018 - imports every view module
    try:
        from config.celery import app  # deferred: the Celery app needs Django's settings loaded

        with app.connection_for_write() as connection:
            connection.transport  # noqa: B018 - imports the transport class; no connection is opened
    except Exception:  # a broker URL that cannot be used fails later, where it is used
        log.warning("could not load the broker transport at start", exc_info=True)
