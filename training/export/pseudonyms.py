"""Stable per-project annotator pseudonyms. No Django.

`pseudonym(secret, project_id, user)` is "annotator-" + the first 10 hex digits of
HMAC-SHA256(secret, "<project_id>:<user>"): the same person gets the same pseudonym in every export of
one project, a different one in another project, and nobody without the secret can go back from it to
the user. The Django side passes SECRET_KEY (or a per-project salt) and the user's id or username, the
value the snapshot's provenance holds. Never an email or a username in the output.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "annotator-"
DIGITS = 10


def pseudonym(secret: str | bytes, project_id, user) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("A pseudonym needs a non-empty secret.")
    digest = hmac.new(key, f"{project_id}:{user}".encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:DIGITS]


class Pseudonymizer:
    """`Pseudonymizer(secret, project_id)(user)`: `pseudonym` with a cache (a snapshot repeats the same
    few annotators on every row)."""

    def __init__(self, secret: str | bytes, project_id):
        self.secret = secret
        self.project_id = project_id
        self._cache: dict[str, str] = {}
        pseudonym(secret, project_id, "")  # fail early on an empty secret

    def __call__(self, user) -> str:
        key = str(user)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = pseudonym(self.secret, self.project_id, key)
        return found
