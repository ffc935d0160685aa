"""Dataset snapshots, training runs with their metric series, and the model registry.

Workflows live in `training.runs` (the lead's actions), `training.worker` (the worker's side),
`training.registry` and `training.snapshots`; this module holds tables and small invariants only.
"""

from django.conf import settings
from django.db import models


class Immutable(Exception):
    """Raised when code tries to change a snapshot (or one of its rows) after it was written."""


class SnapshotKind(models.TextChoices):
    SFT = "sft", "SFT"
    DPO = "dpo", "DPO"
    RAW = "raw", "Raw judgments"  # research: every judgment, not a training set


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VALIDATION = "validation", "Validation"


class SnapshotState(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DatasetSnapshot(models.Model):
    """The exact rows a run trains on, frozen when built. Created in state `building` by the lead's
    request; the build task fills it in (progress, then rows and report in one transaction, `ready`)
    or records why it failed. `save()` never updates a snapshot; only the builder's guarded UPDATEs
    of a building row do."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="snapshots")
    kind = models.CharField(max_length=8, choices=SnapshotKind.choices)
    name = models.CharField(max_length=200)
    filters = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    train_count = models.PositiveIntegerField(default=0)
    val_count = models.PositiveIntegerField(default=0)
    quality_report = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=SnapshotState.choices, default=SnapshotState.READY)
    progress = models.FloatField(default=0.0)  # 0..1 while building
    stage = models.CharField(max_length=64, blank=True)  # what the builder is doing now
    error = models.TextField(blank=True)
    # sha256 of the filtered source candidates at request time: an identical request reuses the snapshot
    source_hash = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "-id"], name="snapshot_project_idx")]

    def __str__(self):
        return f"{self.name} ({self.kind}, {self.train_count}+{self.val_count} rows)"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise Immutable(f"Snapshot #{self.pk} is immutable; build a new one instead.")
        super().save(*args, **kwargs)

    @property
    def total_count(self) -> int:
        return self.train_count + self.val_count

    @property
    def is_ready(self) -> bool:
        return self.state == SnapshotState.READY

    @property
    def is_building(self) -> bool:
        return self.state == SnapshotState.BUILDING

    @property
    def percent(self) -> int:
        return 100 if self.is_ready else int(100 * min(max(self.progress, 0.0), 1.0))


class SnapshotRow(models.Model):
    """One example. `data` is {"messages", "response"} (SFT) or {"messages", "chosen", "rejected"} (DPO);
    `provenance` names where it came from (item, responses, judgments, pair, annotators)."""

    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.CASCADE, related_name="rows")
    split = models.CharField(max_length=16, choices=Split.choices)
    position = models.PositiveIntegerField()
    data = models.JSONField()
    provenance = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["snapshot_id", "split", "position"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "split", "position"], name="snapshot_row_unique")
        ]

    def __str__(self):
        return f"Row {self.split}/{self.position} of snapshot {self.snapshot_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise Immutable("Snapshot rows are immutable.")
        super().save(*args, **kwargs)


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"


ACTIVE_STATES = (RunState.QUEUED, RunState.RUNNING)
FINISHED_STATES = (RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED)


class Job(models.Model):
    """What every long job has (a training run, an export, an eval run): a state, an attempt number,
    the worker's claim and heartbeat, a cancel flag, a log tail, the error, who asked and when. The
    worker's `Jobs` (training.worker) claims, beats, stops and finishes any of them."""

    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.QUEUED)
    # Bumped by every (re)queue: a task carrying an older attempt number is stale and does nothing.
    attempt = models.PositiveIntegerField(default=1)
    log_tail = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=255, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-id"]

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


class TrainingRun(Job):
    """One SFT or DPO run of a snapshot, executed by a Celery task on the `gpu` queue."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="training_runs")
    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.PROTECT, related_name="runs")
    method = models.CharField(max_length=8, choices=SnapshotKind.choices)
    config = models.JSONField(default=dict)
    init_from = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    step = models.PositiveIntegerField(default=0)
    max_steps = models.PositiveIntegerField(default=0)
    epoch = models.FloatField(default=0.0)
    loss = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    output_dir = models.CharField(max_length=1000, blank=True)

    class Meta(Job.Meta):
        indexes = [
            models.Index(fields=["project", "-id"], name="run_project_idx"),
            models.Index(fields=["state", "heartbeat_at"], name="run_state_idx"),
        ]

    def __str__(self):
        return f"Run #{self.pk} ({self.method}, {self.state})"

    @property
    def percent(self) -> int:
        if self.state == RunState.COMPLETED:
            return 100
        return int(100 * self.step / self.max_steps) if self.max_steps else 0


class RunMetric(models.Model):
    """One point of a growing series: (run, step, name) -> value, e.g. loss or rewards/margins."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    name = models.CharField(max_length=64)
    value = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run_id", "name", "step", "id"]
        indexes = [models.Index(fields=["run", "name", "step"], name="run_metric_idx")]

    def __str__(self):
        return f"{self.name}@{self.step}={self.value:g}"


class ModelVersion(models.Model):
    """A trained adapter (or full model) and everything needed to reproduce it."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="model_versions")
    run = models.OneToOneField(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_version"
    )
    name = models.CharField(max_length=200)
    method = models.CharField(max_length=8, choices=SnapshotKind.choices, blank=True)
    base_model = models.CharField(max_length=500)
    adapter_path = models.CharField(max_length=1000)
    adapter_sha256 = models.CharField(max_length=64, blank=True)
    snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    config = models.JSONField(default=dict, blank=True)
    library_versions = models.JSONField(default=dict, blank=True)
    # The machine plan the worker trained with (device, precision, packing, Liger, checkpointing).
    device = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    # Filled by the evaluation app.
    eval_report = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="model_version_name_unique")]

    def __str__(self):
        return self.name


class ExportJob(Job):
    """One export of a snapshot (layout x format, provenance columns or not) written by a task on the
    default queue into `file_path` (a zip of the export folder). Claimed, heartbeated and marked
    interrupted like a training run (`training.worker.Jobs`); a stale job is requeued with a higher
    attempt and starts over (an export is all or nothing, so nothing half-written is kept)."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="export_jobs")
    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.CASCADE, related_name="exports")
    layout = models.CharField(max_length=64)
    format = models.CharField(max_length=16)
    provenance = models.BooleanField(default=False)
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    file_path = models.CharField(max_length=1000, blank=True)
    file_size = models.PositiveBigIntegerField(default=0)
    folder = models.CharField(max_length=1000, blank=True)  # the unzipped export (Hub push reads it)
    hub_repo = models.CharField(max_length=200, blank=True)  # where it was pushed, when it was

    class Meta(Job.Meta):
        indexes = [
            models.Index(fields=["project", "-id"], name="export_project_idx"),
            models.Index(fields=["state", "heartbeat_at"], name="export_state_idx"),
        ]

    def __str__(self):
        return f"Export #{self.pk} ({self.layout}, {self.format}, {self.state})"

    @property
    def percent(self) -> int:
        if self.state == RunState.COMPLETED:
            return 100
        return int(100 * self.rows_done / self.rows_total) if self.rows_total else 0
