"""The Celery app. Training tasks are routed to the `gpu` queue (see settings.CELERY_TASK_ROUTES)."""

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tuneloop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def json_log_lines(logger=None, **kwargs):
    """With TUNELOOP_LOG_FORMAT=json a worker writes JSON lines like the web processes: Celery sets up
    its handlers (levels, --logfile) as usual, and they get annotation.core.logs.JsonFormatter."""
    from django.conf import settings  # deferred: read once the worker sets up logging

    if logger is None or settings.TUNELOOP_LOG_FORMAT != "json":
        return
    from annotation.core.logs import JsonFormatter  # deferred: config/ is imported before the apps load

    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())
