"""Invite links' tokens: a random secret, signed with the site's key; only its SHA-256 is stored.

A link whose signature does not verify is refused before any database lookup; a valid one is looked up
by the hash of its secret, so the database never holds a usable token.
"""

import hashlib
import secrets

from django.core import signing

SALT = "tuneloop.people.invitation"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(the token for the link, the hash to store)."""
    secret = secrets.token_urlsafe(24)
    return signing.Signer(salt=SALT).sign(secret), digest(secret)


def hash_of(token: str) -> str | None:
    """The stored hash a link's token stands for, or None when its signature does not verify."""
    try:
        return digest(signing.Signer(salt=SALT).unsign(token))
    except signing.BadSignature:
        return None


def one_time_password() -> str:
    """A readable one-time password (14 characters, about 80 bits)."""
    return secrets.token_urlsafe(10)
