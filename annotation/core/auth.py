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
"""

import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models.signals import post_delete, post_save
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

# The user fields a request reads; the rest (password hash, dates) stay out of the cache and load
# on access like any deferred field.
FIELDS = ("id", "username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser")


def cache_key(token_key: str) -> str:
    return "tuneloop:auth:" + hashlib.sha256(token_key.encode()).hexdigest()


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication (`Authorization: Token <key>`), the token's user cached."""

    def authenticate_credentials(self, key):
        seconds = settings.TUNELOOP_AUTH_CACHE_SECONDS
        if seconds <= 0:
            return super().authenticate_credentials(key)
        cached = cache.get(cache_key(key))
        if cached is None:
            user, token = super().authenticate_credentials(key)  # 401 for unknown keys, inactive users
            cache.set(cache_key(key), {f: getattr(user, f) for f in FIELDS}, seconds)
            return user, token
        return _user_from(cached), Token(key=key, user_id=cached["id"])


def _user_from(fields: dict):
    """A user row as if loaded with only FIELDS (from_db takes the values in the model's field order)."""
    model = get_user_model()
    names = [f.attname for f in model._meta.concrete_fields if f.attname in fields]
    return model.from_db(connection.alias, names, [fields[n] for n in names])


def forget_token(sender, instance, **kwargs):
    cache.delete(cache_key(instance.key))


def forget_user(sender, instance, **kwargs):
    keys = Token.objects.filter(user_id=instance.pk).values_list("key", flat=True)
    cache.delete_many([cache_key(k) for k in keys])


def connect() -> None:
    """Drop cached identities when tokens or users change (AnnotationConfig.ready)."""
    post_save.connect(forget_token, sender=Token, dispatch_uid="tuneloop-auth-token-saved")
    post_delete.connect(forget_token, sender=Token, dispatch_uid="tuneloop-auth-token-deleted")
    user_model = get_user_model()
    post_save.connect(forget_user, sender=user_model, dispatch_uid="tuneloop-auth-user-saved")
    # A deleted user's tokens go with it (cascade: each sends post_delete); this covers the rest.
    post_delete.connect(forget_user, sender=user_model, dispatch_uid="tuneloop-auth-user-deleted")
