"""Projects, memberships, versioned rubrics, items, the assignment queue, judgments and the audit trail.
Workflows live in annotation's packages' services; this module holds tables and small invariants only."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    LEAD = "lead", "Lead"
    ADMIN = "admin", "Admin"


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to annotators beside every task.")
    base_model = models.CharField(max_length=500, default="smollm2-135m-instruct")
    # The model that later features (active learning) score with; written by `training` on promotion.
    current_model_path = models.CharField(max_length=1000, blank=True)
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Distinct annotators per item.")
    agreement_threshold = models.FloatField(default=1.0, help_text="Share of judgments that must agree.")
    lease_minutes = models.PositiveIntegerField(default=30)
    min_seconds_per_item = models.PositiveIntegerField(
        default=0, help_text="Faster judgments are flagged rushed."
    )
    require_rationale = models.BooleanField(default=False)
    # Routing (annotation.queue.routing): when an item's last judgment is in, agreeing items are approved and
    # disagreeing ones get an extra annotator (up to max_extra_annotators) or go to the leads.
    agreement_routing = models.BooleanField(
        default=True, help_text="Approve agreeing items and send disagreeing ones to leads automatically."
    )
    max_extra_annotators = models.PositiveSmallIntegerField(
        default=0, help_text="Extra annotators a disagreeing item may get before a lead decides (0 = off)."
    )
    # The newest rubric version, written only by services.create_rubric_version: hot paths load it with
    # select_related (no query of their own). Read it through current_rubric_version().
    latest_rubric_version = models.ForeignKey(
        "RubricVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    gold_share = models.FloatField(
        default=0.0, help_text="Probability that an annotator's next item is a gold item (0..1)."
    )
    # Written into every export's dataset card (an SPDX id such as "cc-by-4.0"; "other" = not chosen).
    dataset_license = models.CharField(
        max_length=64, default="other", help_text="License of exported datasets (SPDX id, e.g. cc-by-4.0)."
    )
    # Judgments imported from other teams count in agreement figures only when a lead turns this on.
    count_external_judgments = models.BooleanField(
        default=False, help_text="Count imported (external) judgments in agreement figures."
    )
    blind_review = models.BooleanField(  # model names are hidden from annotators (pages and API)
        default=True, help_text="Hide model names from annotators (leads always see them)."
    )
    show_gold_feedback = models.BooleanField(default=False, help_text="Annotators see their gold accuracy.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name

    def clean(self):
        if self.overlap < 1:
            raise ValidationError({"overlap": "Overlap must be at least 1."})
        if not 0.0 <= self.agreement_threshold <= 1.0:
            raise ValidationError({"agreement_threshold": "Must be between 0 and 1."})
        if not 0.0 <= self.gold_share <= 1.0:
            raise ValidationError({"gold_share": "Must be between 0 and 1."})

    def current_rubric_version(self):
        """The newest rubric version (None before the first). Free when the row was loaded with
        select_related("latest_rubric_version") in this request; one query otherwise (so a project
        object held across a rubric edit never answers with a stale version)."""
        if self._state.fields_cache.get("latest_rubric_version") is not None:
            return self._state.fields_cache["latest_rubric_version"]
        return RubricVersion.objects.filter(rubric__project=self).order_by("-rubric_id", "-number").first()


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="one_membership_per_user")]

    def __str__(self):
        return f"{self.user} in {self.project} as {self.role}"


class Rubric(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rubrics")
    name = models.CharField(max_length=200, default="Default rubric")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.name} ({self.project})"


class RubricVersionLocked(Exception):
    """Raised when code tries to change a rubric version that a judgment already uses."""


class RubricVersion(models.Model):
    """Criteria are a list of dicts validated by `annotation.rubrics.validate_criteria`.

    Immutable once any judgment uses it: edits go into the next version.
    """

    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    instructions = models.TextField(blank=True)
    criteria = models.JSONField(default=list)
    changelog = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rubric_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["rubric", "number"], name="rubric_version_number_unique")
        ]

    def __str__(self):
        return f"{self.rubric.name} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None and self.is_locked:
            raise RubricVersionLocked(f"{self} is used by judgments; create a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.is_locked:
            raise RubricVersionLocked(f"{self} is used by judgments and cannot be deleted.")
        return super().delete(*args, **kwargs)

    @property
    def is_locked(self) -> bool:
        return self.pk is not None and self.judgments.exists()


class ItemKind(models.TextChoices):
    SFT = "sft", "SFT review"
    COMPARISON = "comparison", "Comparison"


class ItemState(models.TextChoices):
    OPEN = "open", "Open"  # needs more annotators
    ASSIGNED = "assigned", "Assigned"  # every slot leased or judged; waiting for submissions
    COMPLETE = "complete", "Complete"  # `overlap` judgments are in
    DISPUTED = "disputed", "Disputed"  # judgments disagree; waiting for a lead
    APPROVED = "approved", "Approved"
    DISCARDED = "discarded", "Discarded"


class Item(models.Model):
    """One unit of work in the queue: a conversation and one (SFT) or several (comparison) responses."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=16, choices=ItemKind.choices, default=ItemKind.SFT)
    messages = models.JSONField(help_text="The conversation before the response: [{role, content}, ...].")
    external_id = models.CharField(max_length=200, blank=True)
    content_hash = models.CharField(max_length=64)
    metadata = models.JSONField(default=dict, blank=True)
    priority = models.IntegerField(default=0, help_text="Higher comes first.")
    state = models.CharField(max_length=16, choices=ItemState.choices, default=ItemState.OPEN)
    # Slots held: leased plus submitted assignments. state and the counters are written only by
    # annotation.queue.lifecycle, whose docstring states the rule they keep.
    active_count = models.PositiveIntegerField(default=0)
    submitted_count = models.PositiveIntegerField(default=0)
    # Slots beyond the project's overlap: added by routing (dynamic overlap) or by a lead.
    extra_overlap = models.PositiveSmallIntegerField(default=0, db_default=0)
    is_gold = models.BooleanField(default=False)
    gold_answer = models.JSONField(null=True, blank=True)
    # The final answer once approved (routing or a lead's adjudication); see annotation.queue.routing.
    resolution = models.JSONField(null=True, blank=True)
    source = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="item_content_unique_per_project"
            ),
        ]
        indexes = [
            # The queue's index: open items of a project and kind, highest priority first.
            models.Index(
                fields=["project", "kind", "-priority", "id"],
                name="item_queue_idx",
                condition=Q(state="open"),
            ),
            models.Index(fields=["project", "state"], name="item_state_idx", include=["submitted_count"]),
            # what changed since a recompute (annotation.core.changes); lifecycle steps bump updated_at
            models.Index(fields=["project", "updated_at"], name="item_changed_idx"),
            # The lead's item list, newest first, read page by page (annotation.core.keyset).
            models.Index(fields=["project", "-id"], name="item_list_idx"),
            # The leads' disagreement queue, in its order (annotation.quality.selectors.disagreements).
            models.Index(
                fields=["project", "-priority", "id"],
                name="item_disputed_idx",
                condition=Q(state="disputed", is_gold=False),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def prompt_text(self) -> str:
        users = [m.get("content", "") for m in self.messages if m.get("role") == "user"]
        return users[-1] if users else ""


class Response(models.Model):
    """A model output (or a human rewrite) attached to an item. Untrusted text: always escaped."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="responses")
    position = models.PositiveSmallIntegerField(default=0, help_text="Canonical order (not display order).")
    text = models.TextField()
    model_name = models.CharField(max_length=500, blank=True)
    model_version = models.CharField(max_length=200, blank=True)
    generation_params = models.JSONField(default=dict, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="authored_responses",
    )
    shown = models.BooleanField(
        default=True,
        db_default=True,
        help_text="Shown to annotators; False for human rewrites kept only for training.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item_id", "position"]
        constraints = [models.UniqueConstraint(fields=["item", "position"], name="response_position_unique")]
        # The model names the pairs page offers, by a loose index scan (preferences.selectors).
        indexes = [models.Index(fields=["model_name"], name="response_model_idx")]

    def __str__(self):
        return f"Response {self.position} of item {self.item_id}"


class AssignmentState(models.TextChoices):
    LEASED = "leased", "Leased"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"
    # An imported judgment's placeholder: holds no slot, never leased (annotation.importing.external).
    EXTERNAL = "external", "External (imported)"


class SkipReason(models.TextChoices):  # asked with one key when an annotator skips
    UNCLEAR = "unclear", "Unclear"
    NEEDS_EXPERTISE = "needs_expertise", "Needs expertise"
    BROKEN = "broken", "Broken item"
    OTHER = "other", "Other"


class Assignment(models.Model):
    """An item handed to one annotator. One row per (item, annotator): nobody gets an item twice."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    state = models.CharField(max_length=16, choices=AssignmentState.choices, default=AssignmentState.LEASED)
    leased_until = models.DateTimeField()
    # Display order of the item's responses for this annotator (list of response ids), stored for blind review.
    display_order = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=64, blank=True, help_text="Which queue strategy chose this item.")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=16, choices=SkipReason.choices, blank=True, db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="assignment_once_per_annotator"),
        ]
        indexes = [
            models.Index(fields=["annotator", "project", "state"], name="assignment_user_idx"),
            models.Index(fields=["leased_until"], name="assignment_lease_idx", condition=Q(state="leased")),
            models.Index(fields=["project", "submitted_at"], name="assignment_done_idx"),
            # the assignments not judged, per annotator and skip reason (the dashboard): a small part
            models.Index(
                fields=["project", "state", "annotator"],
                name="assignment_open_idx",
                include=["skip_reason"],
                condition=Q(state__in=["leased", "skipped", "expired"]),
            ),
        ]

    def __str__(self):
        return f"Assignment #{self.pk} ({self.item_id} -> {self.annotator_id}, {self.state})"


class Decision(models.TextChoices):
    ACCEPT = "accept", "Accept"
    EDIT = "edit", "Edit into a gold answer"
    REJECT = "reject", "Reject"


FLAG_CHOICES = {"pii": "Contains PII", "unsafe": "Unsafe", "factual_error": "Factual error"}
FLAG_CHOICES["off_topic"] = "Off-topic"


class Judgment(models.Model):
    """Append-only: a later submit on the same assignment supersedes the earlier judgment."""

    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="judgments")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="judgments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judgments"
    )
    rubric_version = models.ForeignKey(
        RubricVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="judgments"
    )
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    edited_text = models.TextField(blank=True)
    scores = models.JSONField(default=dict, blank=True)
    flags = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    # Kind-specific answer (e.g. a preference choice and its strength), validated by the owning app.
    payload = models.JSONField(default=dict, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    rushed = models.BooleanField(
        default=False, db_default=False, help_text="Made faster than the project's minimum time."
    )
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    is_current = models.BooleanField(default=True)
    # Imported from another team or tool: `source` says where from; the annotator is a placeholder for the
    # imported pseudonym. Agreement figures leave these out unless count_external_judgments is on.
    external = models.BooleanField(default=False, db_default=False)
    source = models.CharField(max_length=200, blank=True, db_default="", default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment"],
                condition=Q(is_current=True),
                name="one_current_judgment_per_assignment",
            ),
        ]
        indexes = [models.Index(fields=["item", "is_current"], name="judgment_item_idx")]

    def __str__(self):
        return f"Judgment #{self.pk} on item {self.item_id} by {self.annotator_id}"


class AuditEvent(models.Model):
    """Who did what, when, to which object. Written by services, never edited."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    project = models.ForeignKey(Project, null=True, on_delete=models.CASCADE, related_name="audit_events")
    verb = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["project", "-id"], name="audit_project_idx"),
            # The audit page's verb filter: its choices by a loose index scan (projects.selectors).
            models.Index(fields=["project", "verb"], name="audit_verb_idx"),
        ]

    def __str__(self):
        return f"{self.actor} {self.verb} {self.object_type}#{self.object_id}"


class AdjudicationDecision(models.TextChoices):
    PICK = "pick", "Pick a judgment"
    OVERRIDE = "override", "Override"
    EDIT_GOLD = "edit_gold", "Edit the gold answer"
    MORE = "more", "Send back for more annotators"
    DISCARD = "discard", "Discard"


class AdjudicationCategory(models.TextChoices):
    ANNOTATOR_ERROR = "annotator_error", "Annotator error"
    AMBIGUOUS_PROMPT = "ambiguous_prompt", "Ambiguous prompt"
    GUIDELINE_GAP = "guideline_gap", "Guideline gap"
    OTHER = "other", "Other"


class Adjudication(models.Model):
    """A lead's final word on an item (append-only; the latest one counts). `final` is the answer
    datasets use: SFT {"decision", "text", "scores"}, comparison {"outcome", "ranking", "winner"}."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="adjudications")
    lead = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=AdjudicationDecision.choices)
    chosen_judgment = models.ForeignKey(
        Judgment, null=True, blank=True, on_delete=models.PROTECT, related_name="adjudications"
    )
    final = models.JSONField(null=True, blank=True)
    reason = models.TextField()
    category = models.CharField(max_length=32, choices=AdjudicationCategory.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["item", "-id"], name="adjudication_item_idx")]

    def __str__(self):
        return f"Adjudication #{self.pk} of item {self.item_id}: {self.decision}"


class AgreementReport(models.Model):
    """Agreement figures of a project at one moment (annotation.quality.reports builds `data`)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agreement_reports")
    computed_at = models.DateTimeField(auto_now_add=True)
    computed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "-id"], name="agreement_report_idx")]

    def __str__(self):
        return f"Agreement report #{self.pk} of {self.project}"


class ReliabilityQuerySet(models.QuerySet):
    def weights(self, kind: str) -> dict[int, float]:
        """Annotator id -> Dawid-Skene vote weight from the latest agreement computation, for `kind`;
        annotators without a figure for `kind` fall back to their weight from another kind."""
        weights: dict[int, float] = {}
        rows = self.values_list("annotator_id", "kind", "weight")
        for annotator_id, _kind, weight in sorted(rows, key=lambda r: r[1] == kind):
            weights[annotator_id] = weight  # rows of `kind` come last and win
        return weights


class AnnotatorReliability(models.Model):
    """Dawid-Skene reliability of an annotator per item kind, from the latest agreement report.

    `weight` is the vote weight the "weighted" consensus rule uses (preferences reads it)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotator_reliability")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=ItemKind.choices)
    accuracy = models.FloatField()
    weight = models.FloatField()
    n_judgments = models.PositiveIntegerField(default=0)
    report = models.ForeignKey(AgreementReport, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReliabilityQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "annotator", "kind"], name="one_reliability_per_kind")
        ]

    def __str__(self):
        return f"{self.annotator_id} in {self.project_id} ({self.kind}): {self.weight:.2f}"


# Tables beside their feature, imported so that Django registers them (one place for all tables).
# isort: off
from annotation.active_learning.models import (  # noqa: E402, F401
    ActiveLearningSettings, CoverageReport, ItemEmbedding, ProductionSample, ProjectIngestToken,
    QualityModel, SampleScore, SelectionBatch,
)  # fmt: skip
from annotation.core.models import IdempotencyKey, PendingTask, Recompute, Version  # noqa: E402, F401
from annotation.importing.models import ImportJob  # noqa: E402, F401
from annotation.people.models import ApiToken, Invitation, PasswordChangeRequired  # noqa: E402, F401
from annotation.projects.models import TimingCount, TimingState  # noqa: E402, F401
from annotation.quality.models import AgreementItemState, AgreementTally, AgreementVote  # noqa: E402, F401
from annotation.quality.models import ItemSearchPending, ItemSearchText  # noqa: E402, F401
# isort: on
