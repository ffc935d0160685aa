"""Training tests run queued snapshot builds in-process (no worker here), as with
CELERY_TASK_ALWAYS_EAGER; tests with a real worker (marked redis) keep the broker."""

import pytest


@pytest.fixture(autouse=True)
def _tasks_inline(request):
    if request.node.get_closest_marker("redis"):
        yield
        return
    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = eager
