"""Tables of people management: invitations (a link's token stored only as its SHA-256, with an
expiry, used once) and the accounts that must change a one-time password before anything else.

Imported by annotation.models so Django finds them (app label "annotation").
"""

from django.conf import settings
from django.db import models


class Invitation(models.Model):
    """A lead's invite link to join a project as an annotator: valid until `expires_at`, used once."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, default="annotator")
    username = models.CharField(
        max_length=150, help_text="The name the lead typed; the invitee may change it."
    )
    email = models.EmailField(blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"invitation of {self.username} to {self.project_id}"


class PasswordChangeRequired(models.Model):
    """This account signs in with a one-time password: it must choose its own before anything else."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.user_id} must change their password"


class ApiToken(models.Model):
    """A person's API token (`Authorization: Token tlk_...`): named, optionally expiring, revoked by
    deleting it. Only the key's SHA-256 is stored; the key is shown once, when created
    (annotation.people.api_tokens). DRF's one-per-user `Token` keeps working beside it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="The key's first characters, to tell tokens apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"API token {self.prefix}… of user {self.user_id}"
