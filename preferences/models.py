"""Derived preference data: consensus per comparison, and the curated pairs a DPO run consumes.

Comparisons themselves are `annotation.Item(kind="comparison")` with 2..N `annotation.Response`s, and
raw judgments are `annotation.Judgment` rows (payload from `preferences.payload.normalise`), kept
forever. Everything here is recomputable from them.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.core.models import WatermarkState


class Consensus(models.Model):
    """The consensus of one comparison (overall, or for one rubric criterion) under one rule."""

    # No index of its own: the unique constraint (item, criterion, rule) leads with the item.
    item = models.ForeignKey(
        "annotation.Item", on_delete=models.CASCADE, related_name="consensus", db_index=False
    )
    criterion = models.CharField(max_length=64, blank=True, help_text="Blank = the overall preference.")
    rule = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16)  # win | tie | both_bad | none
    winner = models.ForeignKey(
        "annotation.Response", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    order = models.JSONField(default=list, blank=True, help_text="Response ids, best first.")
    confidence = models.FloatField(default=0.0)
    margin = models.FloatField(default=0.0)
    n_votes = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "criterion", "rule"], name="one_consensus_per_rule"),
        ]

    def __str__(self):
        return f"Consensus of item {self.item_id} ({self.criterion or 'overall'}, {self.rule})"


class PairStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    APPROVED = "approved", "Approved"
    EXCLUDED = "excluded", "Excluded"


class PreferencePair(models.Model):
    """prompt / chosen / rejected, derived from consensus; a lead approves, excludes or edits it."""

    # The project and the item have no index of their own: pair_filter_idx / pair_criterion_idx lead
    # with the project, pair_unique with the item (each index is written on every pair a recompute
    # rewrites: 150,000 at a million judgments).
    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="preference_pairs", db_index=False
    )
    item = models.ForeignKey(
        "annotation.Item", on_delete=models.CASCADE, related_name="preference_pairs", db_index=False
    )
    criterion = models.CharField(max_length=64, blank=True)
    chosen = models.ForeignKey("annotation.Response", on_delete=models.CASCADE, related_name="+")
    rejected = models.ForeignKey("annotation.Response", on_delete=models.CASCADE, related_name="+")
    confidence = models.FloatField()
    margin = models.FloatField()
    n_votes = models.PositiveIntegerField(default=0)
    rule = models.CharField(max_length=32)
    rubric_version = models.ForeignKey(
        "annotation.RubricVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=PairStatus.choices, default=PairStatus.CANDIDATE)
    chosen_text_override = models.TextField(blank=True, help_text="A lead's edit of the chosen text.")
    decided_by = models.ForeignKey(  # indexed where set only (pair_decided_by_idx)
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_index=False,
    )  # fmt: skip
    decided_at = models.DateTimeField(null=True, blank=True)
    is_stale = models.BooleanField(default=False, help_text="No longer implied by the latest consensus.")
    chosen_harmful_flags = models.PositiveIntegerField(
        default=0, help_text="How many of the comparison's annotators reported the chosen response harmful."
    )
    chosen_harmful_majority = models.BooleanField(
        default=False,
        help_text="A majority of the comparison's judges reported the chosen response harmful: "
        "such a pair is never taken without a lead's explicit approval.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-confidence", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "criterion", "chosen", "rejected"], name="pair_unique"),
        ]
        indexes = [
            models.Index(fields=["project", "status", "-confidence"], name="pair_filter_idx"),
            # The pairs page's counts (selectors.pair_counts) from the index alone, and its distinct
            # criteria by a loose scan (selectors.pair_criteria).
            models.Index(
                fields=["project", "status", "chosen_harmful_majority", "chosen_harmful_flags"],
                name="pair_count_idx",
                condition=Q(is_stale=False),
            ),
            models.Index(fields=["project", "criterion"], name="pair_criterion_idx"),
            # The pairs page's order, read page by page from a keyset cursor (selectors.PAIR_ORDER).
            models.Index(
                fields=["project", "-confidence", "-margin", "id"],
                name="pair_order_idx",
                condition=Q(is_stale=False),
            ),
            # A user's deletion sets their decisions' decided_by to NULL: the few decided pairs only.
            models.Index(
                fields=["decided_by"], name="pair_decided_by_idx", condition=Q(decided_by__isnull=False)
            ),
        ]

    def __str__(self):
        return f"Pair {self.chosen_id} > {self.rejected_id} on item {self.item_id}"

    @property
    def chosen_text(self) -> str:
        return self.chosen_text_override or self.chosen.text


class TallyState(WatermarkState):
    """The leaderboard's win counts folded in up to a judgment id (`preferences.tally_state`).

    `data` holds the signed sums of every judgment event with id <= `through` (a judgment counts +1,
    the judgment it supersedes -1): {"pairs": [[model, model, tie, n]], "models": {model: n},
    "slots": [[annotator id, winner slot, slots shown, n]]}. Judgments are append-only, so the sums of
    events up to an id never change once every judgment up to that id has committed.
    """

    def __str__(self):
        return f"tallies of project {self.project_id} through judgment {self.through}"
