"""Tables of the evaluation app: eval sets and their examples, eval runs (a worker job, reusing
training.worker.Jobs), per-project promotion gates, and the promotion history.

Workflows live in `evaluation.sets`, `evaluation.runs`, `evaluation.worker` and `evaluation.promotion`.
"""

from django.conf import settings
from django.db import models

from training.models import Job, RunState


class EvalSetSource(models.TextChoices):
    PRODUCTION = "production", "Held-out production samples"
    REVIEWED = "reviewed", "Reviewed items never used in training"
    IMPORTED = "imported", "Imported JSONL"


class EvalSet(models.Model):
    """A frozen list of prompts (with optional references and paraphrase groups) to evaluate on."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="eval_sets")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=16, choices=EvalSetSource.choices)
    size = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.name} ({self.size} prompts)"


class EvalExample(models.Model):
    """One prompt of an eval set. `chosen`/`rejected` hold a held-out preference pair when known
    (reviewed comparison items); `reference` a gold answer; `group` a paraphrase group name."""

    eval_set = models.ForeignKey(EvalSet, on_delete=models.CASCADE, related_name="examples")
    position = models.PositiveIntegerField()
    messages = models.JSONField()
    reference = models.TextField(blank=True)
    chosen = models.TextField(blank=True)
    rejected = models.TextField(blank=True)
    group = models.CharField(max_length=200, blank=True)
    provenance = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["eval_set_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["eval_set", "position"], name="eval_example_position_unique")
        ]

    def __str__(self):
        return f"Example {self.position} of eval set {self.eval_set_id}"


class EvalRun(Job):
    """One evaluation of a model version (against its base, or another version) on an eval set:
    a job on the `gpu` queue, claimed, heartbeated and interrupted like a training run."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="eval_runs")
    eval_set = models.ForeignKey(EvalSet, on_delete=models.PROTECT, related_name="runs")
    model_version = models.ForeignKey(
        "training.ModelVersion", on_delete=models.CASCADE, related_name="eval_runs"
    )
    against = models.ForeignKey(
        "training.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    config = models.JSONField(default=dict, blank=True)
    leakage = models.JSONField(default=dict, blank=True)  # the check made before the run was queued
    stage = models.CharField(max_length=64, blank=True)
    progress = models.FloatField(default=0.0)
    # Finished suites of the current report, so a resumed attempt skips them.
    report = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        indexes = [
            models.Index(fields=["project", "-id"], name="evalrun_project_idx"),
            models.Index(fields=["state", "heartbeat_at"], name="evalrun_state_idx"),
        ]

    def __str__(self):
        return f"Eval run #{self.pk} ({self.state})"

    @property
    def percent(self) -> int:
        return 100 if self.state == RunState.COMPLETED else int(100 * min(max(self.progress, 0.0), 1.0))


class EvalSettings(models.Model):
    """A project's evaluation settings: the promotion gates (a null threshold is not checked), and
    what the prompting baseline and the format check use (system prompt, few-shot count, an output
    JSON Schema or regex)."""

    project = models.OneToOneField(
        "annotation.Project", on_delete=models.CASCADE, related_name="eval_settings"
    )
    min_preference_accuracy = models.FloatField(null=True, blank=True, default=0.8)
    min_win_rate_low = models.FloatField(null=True, blank=True, default=0.5)
    max_forgetting_drop = models.FloatField(null=True, blank=True, default=2.0)  # points (percent)
    safety_no_worse = models.BooleanField(default=True)
    system_prompt = models.TextField(blank=True)
    few_shot = models.PositiveSmallIntegerField(default=3)
    output_schema = models.JSONField(null=True, blank=True)
    output_regex = models.CharField(max_length=1000, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Evaluation settings of project {self.project_id}"

    def gates(self) -> dict:
        return {
            "min_preference_accuracy": self.min_preference_accuracy,
            "min_win_rate_low": self.min_win_rate_low,
            "max_forgetting_drop": self.max_forgetting_drop,
            "safety_no_worse": self.safety_no_worse,
        }


class PromotionAction(models.TextChoices):
    PROMOTE = "promote", "Promoted"
    ROLLBACK = "rollback", "Rolled back"


class Promotion(models.Model):
    """One move of the project's current-model pointer (append-only history)."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="promotions")
    model_version = models.ForeignKey(
        "training.ModelVersion", on_delete=models.CASCADE, related_name="promotions"
    )
    action = models.CharField(max_length=16, choices=PromotionAction.choices)
    previous_path = models.CharField(max_length=1000, blank=True)
    gates = models.JSONField(default=dict, blank=True)  # the gate check at that moment
    override_reason = models.TextField(blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.action} {self.model_version_id} at {self.at:%Y-%m-%d %H:%M}"
