"""Tables of active learning: production samples, their scores per model version, quality models,
selection batches, ingest tokens, per-project settings, item embeddings and coverage reports.

Imported by annotation.models so Django finds them (app label "annotation"). Embeddings are float32
bytes (`selection.to_bytes` / `from_bytes`): compact, and no vector extension needed.
"""

from django.conf import settings
from django.db import models


class Thumbs(models.TextChoices):
    UP = "up", "Thumbs up"
    DOWN = "down", "Thumbs down"


class SelectionBatch(models.Model):
    """One selection by a lead: a budget, a strategy and what the chosen samples became."""

    class Output(models.TextChoices):
        REVIEW = "review", "SFT review of the production output"
        VERSUS_FRESH = "versus_fresh", "Production output against a fresh generation"
        MARGIN_PAIR = "margin_pair", "The two sampled responses of the preference margin"

    class State(models.TextChoices):
        PENDING = "pending", "Pending (generating)"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="selection_batches"
    )
    strategy = models.CharField(max_length=16)
    output = models.CharField(max_length=16, choices=Output.choices, default=Output.REVIEW)
    budget = models.PositiveIntegerField()
    params = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    n_selected = models.PositiveIntegerField(default=0)
    n_items = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"Selection #{self.pk} ({self.strategy}, {self.budget})"


class ProductionSample(models.Model):
    """One request the production model answered, with the user's feedback and our scores."""

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="production_samples"
    )
    messages = models.JSONField()
    prompt = models.TextField(blank=True, help_text="The last user turn (for lists and search).")
    output = models.TextField()
    model_version = models.CharField(max_length=200, blank=True)
    timestamp = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    thumbs = models.CharField(max_length=4, choices=Thumbs.choices, blank=True)
    retried = models.BooleanField(default=False)
    edited_text = models.TextField(blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    content_hash = models.CharField(max_length=64)
    source = models.CharField(max_length=200, blank=True)
    embedding = models.BinaryField(null=True, blank=True)
    cluster = models.IntegerField(null=True, blank=True)
    # The latest value of each signal (history per model version in SampleScore) and the priority.
    entropy = models.FloatField(null=True, blank=True)
    logprob = models.FloatField(null=True, blank=True, help_text="Mean log-probability per token.")
    quality = models.FloatField(null=True, blank=True, help_text="Quality model's P(accepted).")
    committee = models.FloatField(null=True, blank=True)
    margin = models.FloatField(null=True, blank=True)
    priority = models.FloatField(null=True, blank=True)
    # Chunk claims: a scoring worker holds a sample until claimed_until (several workers share a backlog).
    claimed_until = models.DateTimeField(null=True, blank=True)
    selected_batch = models.ForeignKey(
        SelectionBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="samples"
    )
    selection_reason = models.JSONField(null=True, blank=True)
    item = models.ForeignKey(
        "annotation.Item", null=True, blank=True, on_delete=models.SET_NULL, related_name="production_samples"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="sample_content_unique_per_project"
            )
        ]
        indexes = [
            models.Index(fields=["project", "-priority"], name="sample_priority_idx"),
            models.Index(fields=["project", "selected_batch"], name="sample_selected_idx"),
        ]

    def __str__(self):
        return f"Sample #{self.pk} of project {self.project_id}"

    @property
    def selected(self) -> bool:
        return self.selected_batch_id is not None


class ScoreKind(models.TextChoices):
    UNCERTAINTY = "uncertainty", "Model uncertainty"
    QUALITY = "quality", "Quality model"
    COMMITTEE = "committee", "Committee disagreement"
    MARGIN = "margin", "Preference margin"


class SampleScore(models.Model):
    """A score of one sample by one model version (or quality model); never recomputed for the same."""

    sample = models.ForeignKey(ProductionSample, on_delete=models.CASCADE, related_name="scores")
    kind = models.CharField(max_length=16, choices=ScoreKind.choices)
    model_version = models.CharField(max_length=500)
    entropy = models.FloatField(null=True, blank=True)
    logprob = models.FloatField(null=True, blank=True, help_text="Mean per token.")
    logprob_sum = models.FloatField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True, help_text="P(accepted), disagreement or margin.")
    details = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "kind", "model_version"], name="one_score_per_version")
        ]

    def __str__(self):
        return f"{self.kind} of sample {self.sample_id} by {self.model_version}"


class QualityModel(models.Model):
    """A trained quality model (joblib file under TUNELOOP_DATA_DIR) and how good it is."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="quality_models")
    n_labels = models.PositiveIntegerField()
    n_positive = models.PositiveIntegerField(default=0)
    n_decisions = models.PositiveIntegerField(default=0, help_text="Reviewer decisions it was trained on.")
    heldout_accuracy = models.FloatField(null=True, blank=True)
    path = models.CharField(max_length=1000)
    embedder = models.CharField(max_length=300)
    trained_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"Quality model #{self.pk} ({self.n_labels} labels)"


class ProjectIngestToken(models.Model):
    """A secret a production service sends to push samples without a user account (only its SHA-256
    is stored; the token is shown once, when created)."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="ingest_tokens")
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"Ingest token {self.prefix}… of project {self.project_id}"


class ActiveLearningSettings(models.Model):
    """Per-project knobs; a project without a row uses the TUNELOOP_AL_* defaults."""

    project = models.OneToOneField("annotation.Project", on_delete=models.CASCADE, related_name="al_settings")
    retrain_every = models.PositiveIntegerField(
        help_text="Retrain the quality model after this many new decisions."
    )
    weights = models.JSONField(default=dict, blank=True, help_text="Signal -> weight in the priority.")
    duplicate_threshold = models.FloatField(
        help_text="Cosine at or above which a sample is a near-duplicate."
    )
    item_priority = models.IntegerField(
        null=True,
        blank=True,
        help_text="Queue priority of selected items (empty: TUNELOOP_AL_ITEM_PRIORITY).",
    )
    default_output = models.CharField(
        max_length=16,
        choices=SelectionBatch.Output.choices,
        blank=True,
        help_text="What a selection becomes when the lead does not say (empty: review).",
    )

    def __str__(self):
        return f"Active learning settings of {self.project_id}"


class ItemEmbedding(models.Model):
    """The embedding of an item's prompt and first response (near-duplicates, coverage)."""

    item = models.OneToOneField("annotation.Item", on_delete=models.CASCADE, related_name="embedding")
    vector = models.BinaryField()
    embedder = models.CharField(max_length=300)

    def __str__(self):
        return f"Embedding of item {self.item_id}"


class CoverageReport(models.Model):
    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="coverage_reports"
    )
    computed_at = models.DateTimeField(auto_now_add=True)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"Coverage report #{self.pk} of project {self.project_id}"
