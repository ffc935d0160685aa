"""Errors raised by services. Views and the API turn them into 4xx responses with field messages."""


class ServiceError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str = "", errors: dict | None = None):
        self.errors = errors or {}
        self.message = message or "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in self.errors.items())
        super().__init__(self.message)

    def as_dict(self) -> dict:
        body = {"detail": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


class InvalidInput(ServiceError):
    status = 400
    code = "invalid"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class RowErrors(ValueError):
    """Input refused row by row (an import): `errors` are issues with `as_dict()` naming line and
    field, and nothing was written. The API answers 400 with every issue (`code` "import_failed")."""

    code = "import_failed"

    def __init__(self, message: str, errors: list):
        self.errors = errors
        super().__init__(message)


class WorkerStackMissing(ServiceError):
    """Something a request asked for needs the worker stack (torch, transformers, ...), which this web
    host was installed without (`pip install .`, not `.[worker]`): 503, naming the extra."""

    status = 503
    code = "worker_stack_missing"
