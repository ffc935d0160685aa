"""Structured logs: `JsonFormatter` writes each record as one JSON object a line (time, level, logger,
message, request id when a request is being served, exception); `RequestId` (a middleware) gives each
request that id: the client's `X-Request-ID` when it is a short token, else a new one, echoed in the
response's `X-Request-ID`. Pure: no Django (settings' LOGGING names the formatter;
TUNELOOP_LOG_FORMAT=json chooses it).
"""

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("tuneloop_request_id", default=None)
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: {"time", "level", "logger", "message"[, "request_id"][, "exception"]}."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # the record's own, else the request being served, else the one Django's request logger names
        # (it logs a response's status after the middleware chain has returned)
        request_id = (
            getattr(record, "request_id", None)
            or REQUEST_ID.get()
            or getattr(getattr(record, "request", None), "request_id", None)
        )
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a message argument that JSON cannot hold is written as its text, never dropped
        return json.dumps(entry, ensure_ascii=False, default=str)


class RequestId:
    """Middleware (first): the request's id for the logs, in `request.request_id` and the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _CLIENT_ID.match(given) else uuid.uuid4().hex
        request.request_id = request_id
        token = REQUEST_ID.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            REQUEST_ID.reset(token)
        response["X-Request-ID"] = request_id
        return response


# gunicorn's access-log atoms (its `Logger.atoms`) written as named fields.
_ACCESS_ATOMS = {
    "remote": "h",
    "method": "m",
    "path": "U",
    "query": "q",
    "status": "s",
    "bytes": "B",
    "duration_ms": "D",
    "user_agent": "a",
    "request_id": "{x-request-id}o",
}


class AccessJsonFormatter(JsonFormatter):
    """gunicorn's access log as JSON lines (config/gunicorn.conf.py, TUNELOOP_LOG_FORMAT=json): the
    request's method, path, status, bytes, duration and the response's X-Request-ID as fields; any
    other record as JsonFormatter writes it."""

    def format(self, record: logging.LogRecord) -> str:
        atoms = record.args
        if not hasattr(atoms, "keys") or "s" not in atoms:
            return super().format(record)
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        for field, atom in _ACCESS_ATOMS.items():
            try:
                value = atoms[atom]
            except KeyError:
                continue
            if value in (None, "-", ""):
                continue
            if field in ("status", "bytes", "duration_ms"):
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    continue
                if field == "duration_ms":
                    value = round(value / 1000, 3)  # gunicorn's D is in microseconds
            entry[field] = value
        entry["message"] = f"{entry.get('method', '-')} {entry.get('path', '-')} {entry.get('status', '-')}"
        return json.dumps(entry, ensure_ascii=False, default=str)
