"""The import job: a large item file imported on a worker, with progress (annotation.importing.jobs).

Imported by annotation.models so Django finds it (app label "annotation"). The file waits under
`TUNELOOP_DATA_DIR/imports/` until the job has run; the job's row is what the page and the API poll.
"""

from django.conf import settings
from django.db import models


class ImportJob(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=200, blank=True)
    path = models.CharField(max_length=500, help_text="The stored upload, removed once the job ran.")
    size = models.BigIntegerField(default=0)
    fmt = models.CharField(max_length=8)
    kind = models.CharField(max_length=16)
    mapping = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    stage = models.CharField(max_length=32, blank=True)  # reading, inserting
    progress = models.FloatField(default=0.0)  # 0..1
    lines = models.PositiveIntegerField(default=0)  # lines read so far
    created = models.PositiveIntegerField(null=True, blank=True)
    duplicates = models.PositiveIntegerField(null=True, blank=True)
    issues = models.JSONField(default=list, blank=True)  # [{line, field, message}] when the file failed
    error = models.TextField(blank=True)  # an unexpected failure
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"Import {self.pk} of {self.filename or 'a file'} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)

    @property
    def percent(self) -> int:
        return round(100 * self.progress)

    def result(self) -> dict | None:
        return None if self.created is None else {"created": self.created, "duplicates": self.duplicates}
