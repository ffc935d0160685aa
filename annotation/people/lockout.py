"""Login lockout: after TUNELOOP_LOGIN_MAX_FAILURES wrong passwords for one username within
TUNELOOP_LOGIN_LOCKOUT_SECONDS, every login for that username (the right password too) is refused for
TUNELOOP_LOGIN_LOCKOUT_SECONDS, on the login page (429), the token endpoint (429 with Retry-After) and
any other path through `django.contrib.auth.authenticate` (the admin's login): `LockoutBackend`, our
ModelBackend, refuses a locked username before any password is checked.

Counts live in the configured cache (CACHE_URL: Redis in production, so all web processes share them).
A lockout is written to the audit trail of every project the account belongs to (its leads see it), or
once without a project. A successful login clears the count. The lock is per username, not per address:
behind a proxy every client shares one address, and a per-address lock would lock out the whole team.
"""

import hashlib
import logging
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

from annotation.core import audit
from annotation.models import Membership

log = logging.getLogger(__name__)


def _name(username) -> str:
    return str(username or "").strip().lower()[:150]


def _keys(username) -> tuple[str, str]:
    # a digest: cache keys take no spaces or control characters and must stay short
    name = hashlib.sha256(_name(username).encode("utf-8", "replace")).hexdigest()[:40]
    return f"tuneloop:login-failures:{name}", f"tuneloop:login-locked:{name}"


def locked_for(username) -> int:
    """Seconds until `username` may log in again (0: not locked)."""
    if not _name(username):
        return 0
    until = cache.get(_keys(username)[1])
    return max(0, int(until - time.time()) + 1) if until else 0


def record_failure(username, request=None) -> None:
    """A wrong password for `username` (user_login_failed receiver calls it)."""
    if not _name(username) or locked_for(username):
        return  # attempts during a lockout neither count nor extend it
    window = settings.TUNELOOP_LOGIN_LOCKOUT_SECONDS
    count_key, lock_key = _keys(username)
    cache.add(count_key, 0, timeout=window)
    try:
        count = cache.incr(count_key)
    except ValueError:  # expired between add and incr
        cache.set(count_key, 1, timeout=window)
        count = 1
    if count >= settings.TUNELOOP_LOGIN_MAX_FAILURES:
        cache.set(lock_key, time.time() + window, timeout=window)
        cache.delete(count_key)
        _audit_lockout(username, count, request)


def record_success(username) -> None:
    cache.delete(_keys(username)[0])


def _audit_lockout(username, count: int, request) -> None:
    address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    log.warning("login locked out: %r after %d failures (from %s)", _name(username), count, address)
    user = get_user_model().objects.filter(username__iexact=_name(username)).first()
    projects = (
        [m.project for m in Membership.objects.filter(user=user).select_related("project")] if user else []
    )
    for project in projects or [None]:
        audit.record(
            actor=None,
            project=project,
            verb="auth.locked_out",
            obj=user,
            object_type="user",
            username=_name(username),
            failures=count,
            seconds=settings.TUNELOOP_LOGIN_LOCKOUT_SECONDS,
            address=address,
        )


class LockoutBackend(ModelBackend):
    """Django's ModelBackend (in its place in AUTHENTICATION_BACKENDS), refusing a locked username
    before any password check (PermissionDenied also stops `authenticate` from trying other backends)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if locked_for(username):
            raise PermissionDenied("locked out")
        return super().authenticate(request, username=username, password=password, **kwargs)


def on_login_failed(sender, credentials, request=None, **kwargs):
    record_failure(credentials.get("username"), request)


def on_logged_in(sender, request, user, **kwargs):
    record_success(user.get_username())


def lockout_message(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return (
        f"Too many failed logins for this account: it is locked for about {minutes} minute"
        f"{'s' if minutes != 1 else ''}. Ask a lead if you have forgotten your password."
    )
