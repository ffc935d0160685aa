"""API token authentication with a cache of token -> user (settings.REST_FRAMEWORK).

With `TUNELOOP_AUTH_CACHE_SECONDS` > 0 a request's token costs no statement once cached: the
user's identity fields (never the password hash) live in the configured cache under a digest of
the token. Every change that could refuse or alter a cached identity drops its entries at once,
through signals: a token deleted or replaced, a user saved (deactivated, made superuser, renamed)
or deleted. Writes that send no signals (`QuerySet.update()` on users) are seen when the entry
expires. The cache must be one that every web process shares (Redis: `CACHE_URL`): a per-process
cache would keep a revoked token valid in the other processes, so the setting defaults to 0 without
a shared cache. Roles are not cached: the hot paths read the caller's role in the statement that
loads the project or the assignment (`permissions.with_caller_role`), so a role change counts at once.
Uncached (the default without a shared cache), a DRF token and its user's identity fields are one
plain statement, not a queryset compiled on every request; the user comes without its password hash
either way, loaded only if something reads it.

Two kinds of key: DRF's one-per-user `Token` (40 hex characters) and our own `ApiToken`s
(`tlk_...`, many per user, named, optionally expiring, stored as SHA-256; created and revoked through
`annotation.people.api_tokens`). The key's form picks the table, so either costs one statement
uncached. An expired `ApiToken` is refused (401) even from the cache: the entry carries its expiry.
Its `last_used_at` is written at most once a minute, and only when its identity is (re)loaded.
"""

import functools
import hashlib
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from annotation.core import statements
from annotation.models import ApiToken

# The user fields a request reads; the rest (password hash, dates) stay out of the cache and load
# on access like any deferred field.
FIELDS = ("id", "username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser")


API_TOKEN_PREFIX = "tlk_"  # our ApiToken keys; DRF's keys are hex
LAST_USED_EVERY = timedelta(minutes=1)


def digest(token_key: str) -> str:
    return hashlib.sha256(token_key.encode()).hexdigest()


def cache_key(token_key: str) -> str:
    return key_for_digest(digest(token_key))


def key_for_digest(hexdigest: str) -> str:
    return "tuneloop:auth:" + hexdigest


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication (`Authorization: Token <key>`), the token's user cached."""

    def authenticate_credentials(self, key):
        if key.startswith(API_TOKEN_PREFIX):
            return api_token_credentials(key)
        seconds = settings.TUNELOOP_AUTH_CACHE_SECONDS
        cached = cache.get(cache_key(key)) if seconds > 0 else None
        if cached is None:
            cached = token_user_fields(key)  # 401 for unknown keys, inactive users
            if seconds > 0:
                cache.set(cache_key(key), cached, seconds)
        return _user_from(cached), Token(key=key, user_id=cached["id"])


def token_user_fields(key: str) -> dict:
    """The FIELDS of a DRF token's user, read in one plain statement (what DRF's own lookup reads,
    without compiling a queryset on every request): 401 for an unknown key or an inactive user,
    with DRF's messages."""
    with statements.cursor() as cursor:  # prepared once per connection on PostgreSQL
        cursor.execute(_token_sql(), [key])
        row = cursor.fetchone()
    if row is None:
        raise AuthenticationFailed(_("Invalid token."))
    fields = dict(zip(FIELDS, row, strict=True))
    if not fields["is_active"]:
        raise AuthenticationFailed(_("User inactive or deleted."))
    return fields


@functools.cache
def _token_sql() -> str:
    quote, user_meta = connection.ops.quote_name, get_user_model()._meta
    columns = ", ".join(f"u.{quote(user_meta.get_field(f).column)}" for f in FIELDS)
    return (
        f"SELECT {columns} FROM {quote(Token._meta.db_table)} t JOIN {quote(user_meta.db_table)} u"
        f" ON u.{quote(user_meta.pk.column)} = t.{quote(Token._meta.get_field('user').column)}"
        f" WHERE t.{quote(Token._meta.get_field('key').column)} = %s"
    )


def api_token_credentials(key: str):
    """(user, ApiToken) for an `ApiToken` key: 401 unless it exists, has not expired and its user is active."""
    seconds = settings.TUNELOOP_AUTH_CACHE_SECONDS
    hexdigest = digest(key)
    now = timezone.now()
    cached = cache.get(key_for_digest(hexdigest)) if seconds > 0 else None
    if cached is not None:
        if cached["expires"] is not None and now.timestamp() >= cached["expires"]:
            raise AuthenticationFailed("Token expired.")
        return _user_from(cached), ApiToken(pk=cached["token"], user_id=cached["id"], key_hash=hexdigest)
    token = ApiToken.objects.select_related("user").filter(key_hash=hexdigest).first()
    if token is None:
        raise AuthenticationFailed("Invalid token.")
    if token.expires_at is not None and now >= token.expires_at:
        raise AuthenticationFailed("Token expired.")
    if not token.user.is_active:
        raise AuthenticationFailed("User inactive or deleted.")
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    if seconds > 0:
        expires = token.expires_at.timestamp() if token.expires_at else None
        entry = {**{f: getattr(token.user, f) for f in FIELDS}, "token": token.pk, "expires": expires}
        cache.set(key_for_digest(hexdigest), entry, seconds)
    return token.user, token


def _user_from(fields: dict):
    """A user row as if loaded with only FIELDS (from_db takes the values in the model's field order)."""
    model = get_user_model()
    names = [f.attname for f in model._meta.concrete_fields if f.attname in fields]
    return model.from_db(connection.alias, names, [fields[n] for n in names])


def forget_token(sender, instance, **kwargs):
    cache.delete(cache_key(instance.key))


def forget_api_token(sender, instance, **kwargs):
    cache.delete(key_for_digest(instance.key_hash))


def forget_user(sender, instance, **kwargs):
    keys = Token.objects.filter(user_id=instance.pk).values_list("key", flat=True)
    hashes = ApiToken.objects.filter(user_id=instance.pk).values_list("key_hash", flat=True)
    cache.delete_many([cache_key(k) for k in keys] + [key_for_digest(h) for h in hashes])


def connect() -> None:
    """Drop cached identities when tokens or users change (AnnotationConfig.ready)."""
    post_save.connect(forget_token, sender=Token, dispatch_uid="tuneloop-auth-token-saved")
    post_delete.connect(forget_token, sender=Token, dispatch_uid="tuneloop-auth-token-deleted")
    post_save.connect(forget_api_token, sender=ApiToken, dispatch_uid="tuneloop-auth-api-token-saved")
    post_delete.connect(forget_api_token, sender=ApiToken, dispatch_uid="tuneloop-auth-api-token-deleted")
    user_model = get_user_model()
    post_save.connect(forget_user, sender=user_model, dispatch_uid="tuneloop-auth-user-saved")
    # A deleted user's tokens go with it (cascade: each sends post_delete); this covers the rest.
    post_delete.connect(forget_user, sender=user_model, dispatch_uid="tuneloop-auth-user-deleted")
