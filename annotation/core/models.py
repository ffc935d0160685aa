"""Core's tables: a recorded background recompute (`annotation.core.recomputes`) and an API client's
idempotency key (`annotation.core.idempotency`), the outbox of unpublished task messages
(`annotation.core.broker`) and the per-project version numbers (`annotation.core.versions`). Re-exported by
`annotation.models` like the other feature tables."""

from django.conf import settings
from django.db import models


class Recompute(models.Model):
    """A background recompute ("agreement", "consensus:<rule>"): progress, and where the next one starts."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="recomputes")
    what = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)  # what else the result depends on
    mode = models.CharField(max_length=16, blank=True)  # full | incremental
    state = models.CharField(max_length=16, default="queued")  # queued | running | done | failed
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "what", "-id"], name="recompute_idx")]

    def __str__(self):
        return f"Recompute #{self.pk} of {self.what} ({self.state})"


class IdempotencyKey(models.Model):
    """An API client's `Idempotency-Key` on a write (`annotation.core.idempotency`): the first successful
    response under (user, key), replayed for a repeat with the same request, kept a limited time."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # sha256 of method, path and body
    status = models.PositiveSmallIntegerField()
    body = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        # One effect per key: a second request's claim conflicts (concurrent ones wait for the first).
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key")]

    def __str__(self):
        return f"Idempotency key {self.key!r} of user {self.user_id}"


class PendingTask(models.Model):
    """The outbox (`annotation.core.broker`): a task message that could not be published (the broker
    was down), kept until a sweep publishes it."""

    name = models.CharField(max_length=200)  # the registered task name
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    task_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"Pending {self.name}{tuple(self.args)}"


class Version(models.Model):
    """A project's version number of `name` (`annotation.core.versions`): moved by one autocommit
    UPDATE after a writer commits; derived figures cached under it are invalidated by the move."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=32)
    number = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="version_project_name")]

    def __str__(self):
        return f"Version {self.name} of project {self.project_id}: {self.number}"


class WatermarkState(models.Model):
    """Sums of a project's judgment events folded in up to the settled judgment id `through`
    (`annotation.core.watermark`); `data` holds the sums, shaped by the concrete table's owner
    (`preferences.TallyState`, `annotation.projects.TimingState`)."""

    project = models.OneToOneField(
        "annotation.Project", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    through = models.BigIntegerField(default=0)
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
