"""JSON logs: one object a line with time, level, logger, message, the request's id and the exception;
the request id comes from the client's X-Request-ID (when it is a plain token) or is made up, and is
echoed in the response."""

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from annotation.core.logs import JsonFormatter
from config.celery import json_log_lines

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def captured():
    """The records of `django.request` and `tuneloop.test`, formatted by JsonFormatter into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger("django.request"), logging.getLogger("tuneloop.test")]
    for logger in loggers:
        logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    for logger in loggers:
        logger.removeHandler(handler)


def test_one_json_object_a_line_with_the_exception(captured):
    log = logging.getLogger("tuneloop.test")
    log.warning("ünïcode %s and\nnewline", {"a": 1})
    try:
        raise ValueError("broken")
    except ValueError:
        log.exception("failed at %d", 3)
    first, second = captured()
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "WARNING" and first["logger"] == "tuneloop.test"
    assert first["message"] == "ünïcode {'a': 1} and\nnewline" and first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and second["message"] == "failed at 3"
    assert second["exception"].startswith("Traceback") and "ValueError: broken" in second["exception"]


@pytest.mark.django_db
def test_a_requests_log_lines_carry_its_id(client, captured):
    response = client.get("/no-such-page/", headers={"X-Request-ID": "lb-1234.abc"})
    assert response.status_code == 404 and response["X-Request-ID"] == "lb-1234.abc"
    [line] = captured()  # Django's "Not Found" warning, written while the request was served
    assert line["request_id"] == "lb-1234.abc" and line["logger"] == "django.request"
    # an id that is not a plain short token is replaced by a new one (no log injection through the header)
    response = client.get("/no-such-page/", headers={"X-Request-ID": 'x"}\n{"level": "fake'})
    made = response["X-Request-ID"]
    assert len(made) == 32 and made.isalnum()
    assert captured()[-1]["request_id"] == made
    logging.getLogger("tuneloop.test").warning("outside a request")
    assert "request_id" not in captured()[-1]


def test_the_setting_chooses_the_format_and_refuses_others(tmp_path):
    code = "import logging, django; django.setup(); logging.getLogger('x').warning('hello')"
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "TUNELOOP_DATA_DIR": str(tmp_path),
        "PATH": "/usr/bin",
    }
    run = lambda fmt: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "TUNELOOP_LOG_FORMAT": fmt},
        capture_output=True,
        text=True,
    )
    assert json.loads(run("json").stderr)["message"] == "hello"
    assert run("text").stderr.strip() == "WARNING x hello"
    bad = run("xml")
    assert bad.returncode != 0 and "TUNELOOP_LOG_FORMAT must be 'text' or 'json'" in bad.stderr


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_celery_workers_write_json_lines_when_asked(settings, fmt):

    settings.TUNELOOP_LOG_FORMAT = fmt
    stream = io.StringIO()
    logger = logging.getLogger("tuneloop.test.worker")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        json_log_lines(logger=logger)  # what Celery's after_setup_logger signal calls
        logger.warning("task %s done", 7)
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue().strip()
    if fmt == "json":
        assert json.loads(line)["message"] == "task 7 done"
    else:
        assert line == "task 7 done"
