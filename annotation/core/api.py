"""The API plumbing every app uses: the error format, base classes and helpers.

- `exception_handler` (settings.REST_FRAMEWORK): every error is 4xx JSON `{"detail", "code", "errors"?}`,
  never a 500 for bad input: service errors (`annotation.core.errors.ServiceError`) with their status,
  message and field messages; input refused row by row (`RowErrors`, e.g. an import's `ImportFailed`): 400 with `errors` as
  [{line, field, message}]; DRF validation errors: 400 with `errors` mapping each field to its messages;
  a rubric version that judgments already use: 409; anything else DRF knows: DRF's status, same shape.
- `ProjectScoped`: a view mixin resolving `project_id` for the caller (404 unless visible, 403 unless
  their role allows the action).
- `exception_handler` passes every error body through `safe_text` (lone surrogates replaced); the JSON
  parser that refuses such bodies up front is `annotation.core.parsers.JSONParser`.
- `validated(serializer_class, data)`: validated data or a 400. The error body in the schema
  (component `Error`) and every operation's error responses are added by the hook in
  `annotation.core.schema`; `ErrorsField` is its `errors` for a serializer that embeds one.
"""

import json
import re
import threading

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import QueryDict
from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.utils.serializer_helpers import BindingDict
from rest_framework.views import exception_handler as drf_exception_handler

from annotation.core import worker_stack
from annotation.core.errors import RowErrors, ServiceError
from annotation.core.numbers import MAX_ID  # noqa: F401 (serializers import the limit from here)
from annotation.core.parsers import has_lone_surrogate
from annotation.core.permissions import can, remember_role, with_caller_role
from annotation.core.schema import ERRORS_SCHEMA
from annotation.core.web import BadQuery
from annotation.models import Project, RubricVersionLocked


@extend_schema_field(ERRORS_SCHEMA)
class ErrorsField(serializers.JSONField):
    """`errors`: {"field": ["message", ...]} for bad input, [{line, field, message}] for refused rows."""


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
    exc = worker_stack.missing(exc) or exc  # a model needed in the request on a web-only host: 503
    if isinstance(exc, ServiceError):
        return Response(safe_text(exc.as_dict()), status=exc.status)
    if isinstance(exc, RowErrors):
        return Response(
            safe_text({"detail": str(exc), "code": exc.code, "errors": [e.as_dict() for e in exc.errors]}),
            status=400,
        )
    if isinstance(exc, RequestDataTooBig):  # Django's own answer would be an HTML "Bad Request (400)"
        return Response(
            {
                "detail": f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes. "
                "Send large imports as a file upload (multipart/form-data).",
                "code": "too_large",
            },
            status=413,
        )
    if isinstance(exc, BadQuery):  # a query parameter outside what the endpoint takes
        return Response({"detail": str(exc), "code": "invalid"}, status=400)
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
    response.data = safe_text(response.data)  # messages may quote the input back
    return response


class ProjectScoped:
    """Resolve `project_id` for the caller: 404 unless they may see it, 403 unless they may `action`."""

    @property
    def schema_only(self) -> bool:
        """drf-spectacular inspects views without a request user or project."""
        return getattr(self, "swagger_fake_view", False)

    def project_queryset(self):
        """The project query (with its newest rubric version and the caller's role, one statement);
        a view adds what its own path needs (the queue's next: whether any lease ran out)."""
        return Project.objects.select_related("latest_rubric_version")

    def load_project(self, user, project_id) -> Project | None:
        """The project row with the caller's role (`caller_role`), or None; a hot view may read it
        with SQL compiled once (the queue's next: `hot_sql.project_for_next`)."""
        return with_caller_role(self.project_queryset(), user).filter(pk=project_id).first()

    def project_for(self, action: str = "view_project") -> Project:
        cached = getattr(self, "_project", None)
        if cached is None:
            user = self.request.user
            cached = self.load_project(user, self.kwargs["project_id"])
            if cached is not None:
                remember_role(user, cached, cached)
            if cached is None or not can(user, "view_project", cached):
                raise NotFound("No such project.")
            self._project = cached
        if not can(self.request.user, action, cached):
            raise PermissionDenied(f"Your role does not allow you to {action.replace('_', ' ')}.")
        return cached


def object_for(request, queryset, pk, action: str = "view_project", *, not_found: str = "Not found.",
               forbidden: str = "Your role does not allow this."):  # fmt: skip
    """A row of a project (anything with a `project`) for the API caller: 404 unless they may see its
    project, 403 unless their role allows `action` there. Its project comes in the same query."""
    obj = queryset.select_related("project").filter(pk=pk).first()
    if obj is None or not can(request.user, "view_project", obj.project):
        raise NotFound(not_found)
    if not can(request.user, action, obj.project):
        raise PermissionDenied(forbidden)
    return obj


SURROGATE = re.compile("[\ud800-\udfff]")  # in a Python str every surrogate code point is a lone one


def safe_text(value):
    """`value` (error data: str / list / dict) with lone surrogates replaced by U+FFFD, so that an
    error message quoting bad input can always be rendered as UTF-8."""
    if isinstance(value, str):
        return SURROGATE.sub("\ufffd", value) if has_lone_surrogate(value) else value
    if isinstance(value, dict):
        return {safe_text(k): safe_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_text(v) for v in value]
    return value


def validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    flat = _flat_nested(serializer, data)
    if flat:
        raise exceptions.ValidationError(flat)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _flat_nested(serializer, data) -> dict:
    """A form or query string (a QueryDict) naming an object-valued field by its plain name
    (`filters=...`): DRF reads such a field only from `filters.key` entries and drops the plain one in
    silence (a filtered action then ran unfiltered). Refused, naming the field."""
    if not isinstance(data, QueryDict):
        return {}
    nested = (serializers.BaseSerializer, serializers.DictField)
    return {
        name: ["An object: send the request as JSON (Content-Type: application/json)."]
        for name, field in serializer.fields.items()
        if isinstance(field, nested) and not field.read_only and name in data
    }


class FieldsPerThread:
    """A serializer (first in the bases) whose declared fields are copied once per thread and class,
    not for every instance: DRF deep-copies every field (rebuilding it from its arguments) each time
    a serializer is made, about a third of the CPU of validating a hot endpoint's small input (the
    queue's next and submit). Each new instance takes the thread's fields over (their `parent` is
    set to it, as binding them would); fields keep no state of a validation, so the results are those
    of fresh copies (tests/annotation/test_hot_fields.py). Input serializers without nested
    serializers only."""

    _copies = threading.local()

    @cached_property
    def fields(self):
        copies = self._copies.__dict__
        declared = copies.get(type(self))
        if declared is None:
            declared = copies[type(self)] = dict(super().fields)  # bound once, to this instance
        bound = BindingDict(self)
        for name, field in declared.items():
            field.parent = self
            bound.fields[name] = field
        return bound


# --- shared serializer limits and fields --------------------------------------------------------

MAX_POSITIVE_INT = 2**31 - 1
MAX_SMALL_INT = 2**15 - 1
MAX_TEXT = 200_000


def reject_nul(value):
    """JSON values are stored as jsonb on PostgreSQL, which refuses NUL characters anywhere."""
    if "\\u0000" in json.dumps(value, default=str):
        raise serializers.ValidationError("Must not contain NUL characters.")
    return value


class CriterionSerializer(serializers.Serializer):
    """Documentation shape of one criterion; `annotation.rubrics.validate_criteria` checks them."""

    key = serializers.CharField()
    label = serializers.CharField(required=False)
    type = serializers.ChoiceField(choices=["binary", "likert", "labels"], required=False)
    instructions = serializers.CharField(required=False, allow_blank=True)
    required = serializers.BooleanField(required=False)
    labels = serializers.ListField(child=serializers.CharField(), required=False)
