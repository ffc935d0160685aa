"""The OpenAPI schema's error responses (settings.SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]).

Every operation may answer 400, 401, 403, 404, 409, 413 or 429 with the error body of
`annotation.core.api.exception_handler` (`ERROR_SCHEMA`, component `Error`): the hook adds each
code an operation does not document itself, so clients (and Schemathesis in CI) can rely on the
shape of every error; an operation that takes an `Idempotency-Key` also answers 422 (the key reused
for another request). An operation's own description of a code (an import's line-numbered 400) wins.
"""

ERROR_CODES = {
    "400": "Bad input; `errors` names the fields.",
    "401": "No credentials, or a token that is unknown, revoked or expired.",
    "403": "Your role does not allow this.",
    "404": "No such object, or not yours to see.",
    "409": "The object's state does not allow this now.",
    "413": "The request body is too large.",
    "429": "Too many requests (throttled, or the account is locked out); see `Retry-After`.",
}
REUSED_KEY = "This Idempotency-Key was used for a different request."
# `errors`: messages per field (bad input), or line-numbered issues (input refused row by row).
ERRORS_SCHEMA = {
    "oneOf": [
        {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "line": {"type": "integer"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
                "required": ["line", "field", "message"],
            },
        },
    ]
}
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every 4xx body: a message, a code and, for bad input, messages per field or per line.",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}, "errors": ERRORS_SCHEMA},
    "required": ["detail", "code"],
}
METHODS = {"get", "put", "post", "patch", "delete"}


def add_error_responses(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_CODES.items():
                responses.setdefault(code, {"content": body, "description": description})
            if any(
                p.get("in") == "header" and p.get("name") == "Idempotency-Key"
                for p in operation.get("parameters", [])
            ):
                responses.setdefault("422", {"content": body, "description": REUSED_KEY})
    return result
