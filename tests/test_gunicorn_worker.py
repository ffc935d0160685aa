"""config.gunicorn_worker.BalancedThreadWorker: a busy worker leaves a new connection to an idle one for
at most GATE_SECONDS; an idle worker, a lone worker and a stopping one behave as gthread's."""

import pytest
from gunicorn.workers.gthread import ThreadWorker

from config import gunicorn_worker
from config.gunicorn_worker import GATE_SECONDS, BalancedThreadWorker


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def worker(monkeypatch):
    """A worker without a process: the decisions only (what reaches gthread's set_accept_enabled)."""
    clock = Clock()
    monkeypatch.setattr(gunicorn_worker.time, "monotonic", clock)
    passed = []
    monkeypatch.setattr(ThreadWorker, "set_accept_enabled", lambda self, enabled: passed.append(enabled))
    waited = []
    monkeypatch.setattr(
        ThreadWorker, "wait_for_and_dispatch_events", lambda self, timeout: waited.append(timeout)
    )
    monkeypatch.setattr(ThreadWorker, "enqueue_req", lambda self, conn: None)
    monkeypatch.setattr(ThreadWorker, "finish_request", lambda self, conn, fs: None)
    w = object.__new__(BalancedThreadWorker)
    w.in_flight, w.gated_since, w.alive = 0, None, True
    w.cfg = type("Cfg", (), {"workers": 2})()
    w.clock, w.passed, w.waited = clock, passed, waited
    return w


def test_an_idle_worker_accepts(worker):
    worker.set_accept_enabled(True)
    assert worker.passed == [True]


def test_a_busy_worker_holds_back_a_new_connection_for_at_most_the_gate(worker):
    worker.enqueue_req(object())
    worker.set_accept_enabled(True)
    worker.wait_for_and_dispatch_events(1.0)
    assert worker.passed == [False] and worker.waited == [GATE_SECONDS]  # it looks again soon
    worker.clock.now += GATE_SECONDS / 2
    worker.set_accept_enabled(True)
    assert worker.passed[-1] is False
    worker.clock.now += GATE_SECONDS
    worker.set_accept_enabled(True)
    assert worker.passed[-1] is True  # waited long enough: accept anyway (every worker may be busy)


def test_a_finished_request_opens_the_gate_again(worker):
    worker.enqueue_req(object())
    worker.set_accept_enabled(True)
    worker.finish_request(object(), None)
    assert worker.in_flight == 0
    worker.set_accept_enabled(True)
    worker.wait_for_and_dispatch_events(1.0)
    assert worker.passed == [False, True] and worker.waited == [1.0] and worker.gated_since is None


def test_a_lone_worker_and_a_stopping_one_are_never_held_back(worker):
    worker.enqueue_req(object())
    worker.cfg.workers = 1
    worker.set_accept_enabled(True)
    worker.cfg.workers, worker.alive = 2, False
    worker.set_accept_enabled(False)  # a stopping worker stops accepting, as gthread does
    assert worker.passed == [True, False]
