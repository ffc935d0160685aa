"""Django's PostgreSQL backend with a health check that costs no round trip (settings.DATABASES).

With CONN_HEALTH_CHECKS a persistent connection is checked before each request's first query;
Django's check sends `SELECT 1` and waits for it: a round trip on every request, a tenth of the
statements of the API's hot path. Here an idle connection is usable when the client has not seen it
break and nothing is waiting on its socket. A server that ends a connection (restart, failover,
`pg_terminate_backend`) sends its FATAL message and closes the socket, which makes it readable:
then, and for a connection that is not idle, Django's own `SELECT 1` decides (a notice or
notification waiting there costs one round trip, not the connection). A host that vanished without
closing the socket is found by the first statement, as Django's check would after its timeout.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        raw = self.connection
        if raw is None or raw.closed or raw.broken:
            return False
        from psycopg.pq import TransactionStatus  # deferred, as Django imports psycopg

        if raw.info.transaction_status != TransactionStatus.IDLE:
            return super().is_usable()
        poller = select.poll()
        try:
            poller.register(raw.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
            waiting = poller.poll(0)
        except (OSError, ValueError):
            return False
        return True if not waiting else super().is_usable()
