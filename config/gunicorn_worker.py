"""gunicorn's gthread worker, taking a new connection only while it is idle (or after a short wait).

gthread workers race to accept each new connection, and a keep-alive connection then stays with the
worker that accepted it. When annotators connect at about the same moment (a shift starting, a
benchmark's clients), one worker could take most of the connections: its threads then share one
interpreter lock, one core's worth of CPU, while the other workers idle (measured: all four clients
on one of two workers, 82% and 0% of a core; benchmarks/README.md "Web server settings").
`BalancedThreadWorker` leaves a new connection to an idle worker: it stops accepting while a request
of its own is in flight, for at most `GATE_SECONDS` (so a single busy worker, or all of them busy,
still accept within about that time); with one worker it is gthread unchanged. Requests on connections it
already has are served by all its threads as before.
"""

import time

from gunicorn.workers.gthread import ThreadWorker

GATE_SECONDS = 0.05  # the longest a new connection waits for an idle worker


class BalancedThreadWorker(ThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.in_flight = 0  # requests handed to the thread pool and not finished
        self.gated_since = None  # when accepting was last held back for being busy

    def enqueue_req(self, conn):
        self.in_flight += 1
        super().enqueue_req(conn)

    def finish_request(self, conn, fs):
        self.in_flight -= 1
        super().finish_request(conn, fs)

    def set_accept_enabled(self, enabled):
        # run() calls this at each turn of its loop with whether the connection limit allows accepting
        if enabled and self.alive and self.cfg.workers > 1 and self.in_flight > 0:
            now = time.monotonic()
            if self.gated_since is None:
                self.gated_since = now
            if now - self.gated_since < GATE_SECONDS:
                enabled = False
        else:
            self.gated_since = None
        super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout):
        # while held back, look again within the gate's time even if nothing else happens
        if self.gated_since is not None:
            timeout = min(timeout, GATE_SECONDS)
        super().wait_for_and_dispatch_events(timeout)
