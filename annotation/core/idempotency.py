"""`Idempotency-Key` on API writes: a client that retries a request (after a timeout, a dropped
connection, a 502 from a restarting worker) sends the same key and gets the first answer back,
without a second effect.

- `idempotent`: the same around an API view's write method (`respond` with its Response's status and
  body), for the creating endpoints (snapshots, runs, exports, eval sets and runs, projects, bulk curation).
- `respond(request, run)`: `run()` does the write and returns (status, body). Without the header it
  just runs: a request without a key pays nothing. With a key, the write and the claim of (user, key)
  are one transaction: the claim is one `INSERT ... ON CONFLICT` (unique on user and key) that stores
  the response. A repeat finds the key taken: its own write is rolled back and the stored response is
  returned (`Idempotent-Replayed: true`); the same key with another method, path or body is a 422
  (`idempotency_key_reused`). Two concurrent requests with one key: the second's claim waits for the
  first's transaction and then finds the key taken, so there is one effect.
- Only a successful write is stored: an error rolls back, and a retry runs again (unless a stored
  response exists under the key, which is then replayed).
- Keys are kept `settings.TUNELOOP_IDEMPOTENCY_HOURS` (default 24): an older key is reusable (the claim
  replaces it) and `purge_expired` (beat, hourly) deletes them.
"""

import functools
import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from annotation.core import statements
from annotation.core.errors import InvalidInput, ServiceError
from annotation.core.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as a header carries it

# The header in the OpenAPI schema of every endpoint that accepts it.
PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Optional, up to 255 visible ASCII characters, unique per request you mean (a UUID). A repeat "
        "with the same key and the same request returns the first response (header "
        "`Idempotent-Replayed: true`) without a second effect; the same key with a different request is "
        "a 422 (`idempotency_key_reused`). Keys are kept for TUNELOOP_IDEMPOTENCY_HOURS (default 24)."
    ),
)


class KeyReused(ServiceError):
    status = 422
    code = "idempotency_key_reused"


class _Taken(Exception):
    """The key is already claimed: roll this request's write back."""


def fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _cutoff(now):
    return now - timedelta(hours=settings.TUNELOOP_IDEMPOTENCY_HOURS)


def claim(*, user_id: int, key: str, fingerprint: str, status: int, body, now=None) -> bool:
    """Store the response under (user, key) in one statement; False when a live row holds the key.
    An expired row is replaced."""
    now = now or timezone.now()
    row = IdempotencyKey(
        user_id=user_id, key=key, fingerprint=fingerprint, status=status, body=body, created_at=now
    )
    insert, params = statements.insert_sql(row)
    table = connection.ops.quote_name(IdempotencyKey._meta.db_table)
    q = connection.ops.quote_name
    columns = ("fingerprint", "status", "body", "created_at")
    updates = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in columns)
    sql = (
        f"{insert} ON CONFLICT ({q('user_id')}, {q('key')}) DO UPDATE SET {updates} "
        f"WHERE {table}.{q('created_at')} < %s RETURNING {q('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, connection.ops.adapt_datetimefield_value(_cutoff(now))))
        return cursor.fetchone() is not None


def stored(*, user_id: int, key: str, now=None) -> IdempotencyKey | None:
    now = now or timezone.now()
    return IdempotencyKey.objects.filter(user_id=user_id, key=key, created_at__gte=_cutoff(now)).first()


def _replay(row: IdempotencyKey, print_: str) -> Response:
    if row.fingerprint != print_:
        raise KeyReused(f"This {HEADER} was used for a different request; use a new key for a new request.")
    return Response(row.body, status=row.status, headers={REPLAYED_HEADER: "true"})


def respond(request, run: Callable[[], tuple[int, object]]) -> Response:
    """The response of `run()` (a write returning (status, body)), once per Idempotency-Key."""
    key = request.headers.get(HEADER)
    if key is None:
        status, body = run()
        return Response(body, status=status)
    if not _KEY.match(key):
        raise InvalidInput(errors={HEADER: ["Must be 1 to 255 visible ASCII characters."]})
    user_id, print_ = request.user.pk, fingerprint(request)
    try:
        with transaction.atomic():
            status, body = run()
            if not claim(user_id=user_id, key=key, fingerprint=print_, status=status, body=body):
                raise _Taken
    except _Taken:
        row = stored(user_id=user_id, key=key)
        if row is None:  # purged between the claim and now: this request is new after all
            return respond(request, run)
        return _replay(row, print_)
    except ServiceError:
        # A repeat whose write no longer applies (the item moved on): the stored answer still stands.
        row = stored(user_id=user_id, key=key)
        if row is None:
            raise
        return _replay(row, print_)
    return Response(body, status=status)


def idempotent(method):
    """An API view's write method (returning a DRF `Response`) run through `respond`: with an
    Idempotency-Key, once per key; the status and body are stored and replayed, other headers are not.
    Documents the header on the operation (and the schema hook its 422)."""

    @functools.wraps(method)
    def write(view, request, *args, **kwargs):
        def run():
            response = method(view, request, *args, **kwargs)
            return response.status_code, response.data

        return respond(request, run)

    return extend_schema(parameters=[PARAMETER])(write)


def purge_expired(now=None) -> int:
    """Delete keys older than TUNELOOP_IDEMPOTENCY_HOURS; the number deleted."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=_cutoff(now or timezone.now())).delete()
    return deleted
