"""DRF exception handler: every error is 4xx JSON `{"detail", "code", "errors"?}`, never a 500 for bad input.

- service errors (`annotation.errors.ServiceError`): their status, message and field messages;
- an import that failed to parse (`ImportFailed`): 400 with `errors` as [{line, field, message}];
- DRF validation errors: 400 with `errors` mapping each field to its messages;
- a rubric version that judgments already use: 409;
- anything else DRF knows (auth, 404, 405, parse errors, 415): DRF's status with the same body shape.
"""

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ServiceError
from .importing import ImportFailed
from .models import RubricVersionLocked


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's nested error detail -> {"field": ["message", ...]}, nested fields joined with dots."""
    out: dict[str, list[str]] = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list):
            if all(not isinstance(v, dict | list) for v in value):
                out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
            else:
                for i, sub in enumerate(value):
                    if sub:
                        walk(f"{prefix}[{i}]" if prefix else f"[{i}]", sub)
        else:
            out.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return out


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, ImportFailed):
        return Response(
            {"detail": str(exc), "code": "import_failed", "errors": [e.as_dict() for e in exc.errors]},
            status=400,
        )
    if isinstance(exc, RubricVersionLocked):
        return Response({"detail": str(exc), "code": "conflict"}, status=409)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        summary = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
        response.data = {"detail": f"Invalid input. {summary}".strip(), "code": "invalid", "errors": errors}
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        code = detail.code if hasattr(detail, "code") else exc.default_code
        response.data = {"detail": str(detail), "code": code}
    return response
