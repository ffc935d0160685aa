"""A person's API tokens: create (the key returned once, only its SHA-256 stored), list, revoke.

Authentication is `annotation.core.auth` (which also drops a revoked token's cached identity at once).
"""

import secrets
from datetime import timedelta

from django.utils import timezone

from annotation.core.auth import API_TOKEN_PREFIX, digest
from annotation.core.errors import NotFound
from annotation.models import ApiToken

MAX_DAYS = 3650


def create_api_token(*, user, name: str = "", expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`, valid for `expires_in_days` (None: until revoked); returns (row, key)."""
    key = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken.objects.create(
        user=user, name=(name or "").strip()[:100] or "api", prefix=key[:12], key_hash=digest(key),
        expires_at=expires_at,
    )  # fmt: skip
    return token, key


def tokens_of(user):
    return ApiToken.objects.filter(user=user).order_by("-id")


def revoke_api_token(*, user, token_id: int) -> None:
    """Delete one of `user`'s own tokens (404 for anyone else's): refused at once, cached or not."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    if not deleted:
        raise NotFound("No such token.")
