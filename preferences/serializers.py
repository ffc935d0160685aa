"""DRF serializers of the preferences API: request shapes and response shapes only.

The rules (who may curate, what a valid status is) live in `preferences.services`.
"""

from rest_framework import serializers

from annotation.core.api import MAX_ID, MAX_TEXT

from . import curation
from .consensus import RULES
from .forms import CRITERION_OVERALL
from .models import PairStatus, PreferencePair


class PairQuerySerializer(serializers.Serializer):
    """Filters of `GET /api/projects/{id}/pairs/`; every one optional."""

    min_confidence = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    rubric_version = serializers.IntegerField(required=False, min_value=1, help_text="A version number.")
    criterion = serializers.CharField(
        required=False,
        max_length=64,
        help_text=f"A criterion key, or `{CRITERION_OVERALL}` for the overall preference; absent = any.",
    )
    model = serializers.CharField(required=False, max_length=500, help_text="Pairs where either side is it.")
    status = serializers.ChoiceField(choices=PairStatus.choices, required=False)
    include_stale = serializers.BooleanField(required=False, default=False)
    hide_harmful = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Leave out pairs whose chosen response any annotator reported harmful.",
    )

    def selector_kwargs(self) -> dict:
        return pair_selector_kwargs(self.validated_data)


def pair_selector_kwargs(data: dict) -> dict:
    """selectors.candidate_pairs keyword arguments from PairQuerySerializer's validated data."""
    criterion = data.get("criterion")
    return {
        "min_confidence": data.get("min_confidence"),
        "rubric_version": data.get("rubric_version"),
        "criterion": None if criterion is None else ("" if criterion == CRITERION_OVERALL else criterion),
        "model": data.get("model", ""),
        "status": data.get("status", ""),
        "include_stale": data.get("include_stale", False),
        "hide_harmful": data.get("hide_harmful", False),
    }


class PairSideSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    model_name = serializers.CharField()
    model_version = serializers.CharField()


class PairSerializer(serializers.ModelSerializer):
    """A curated pair as a lead sees it: prompt, chosen (with any edit), rejected, and the evidence."""

    prompt = serializers.CharField(source="item.prompt_text")
    messages = serializers.JSONField(source="item.messages")
    chosen = PairSideSerializer()
    rejected = PairSideSerializer()
    chosen_text = serializers.CharField(help_text="The lead's edit when there is one, else the chosen text.")
    rubric_version = serializers.IntegerField(
        source="rubric_version.number", allow_null=True, default=None, help_text="Version number."
    )
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)

    class Meta:
        model = PreferencePair
        fields = [
            "id",
            "item",
            "criterion",
            "prompt",
            "messages",
            "chosen",
            "rejected",
            "chosen_text",
            "confidence",
            "margin",
            "n_votes",
            "rule",
            "rubric_version",
            "status",
            "is_stale",
            "chosen_harmful_flags",
            "chosen_harmful_majority",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields


class PairUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PairStatus.choices)
    chosen_text = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=MAX_TEXT,
        help_text="Replace the chosen text; blank (or the original text) removes an earlier edit.",
    )


class PairBulkSerializer(serializers.Serializer):
    """`POST /api/projects/{id}/pairs/bulk/`: `action` on the pairs `ids`, or (threshold variant,
    approve only) on every candidate matching `filters` with confidence >= `min_confidence`."""

    action = serializers.ChoiceField(choices=list(curation.ACTIONS))
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        allow_empty=False,
        max_length=curation.MAX_IDS,
        help_text=f"Pair ids of the project (at most {curation.MAX_IDS}); other projects' ids are ignored.",
    )
    min_confidence = serializers.FloatField(
        required=False, min_value=0.0, max_value=1.0, help_text="Threshold variant: instead of `ids`."
    )
    filters = PairQuerySerializer(
        required=False,
        help_text="Threshold variant: the pairs list's filters (default: none, stale left out).",
    )

    def validate(self, data):
        if ("ids" in data) == ("min_confidence" in data):
            raise serializers.ValidationError("Give either `ids` or `min_confidence`.")
        if "filters" in data and "ids" in data:
            raise serializers.ValidationError({"filters": ["Only with `min_confidence`."]})
        if "min_confidence" in data and data["action"] != "approve":
            raise serializers.ValidationError({"action": ["The threshold variant only approves."]})
        return data


class PairBulkResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    status = serializers.CharField()
    changed = serializers.IntegerField(help_text="How many pairs changed.")
    ids = serializers.ListField(child=serializers.IntegerField(), help_text="The pairs that changed.")
    ignored = serializers.ListField(child=serializers.IntegerField(), help_text="Not pairs of the project.")
    skipped_harmful = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Left as they were: most judges reported the chosen response harmful (approve one by one).",
    )
    unchanged = serializers.ListField(child=serializers.IntegerField(), help_text="Already in that status.")


class ConsensusRequestSerializer(serializers.Serializer):
    rule = serializers.ChoiceField(
        choices=list(RULES),
        required=False,
        default="majority",
        help_text="majority; weighted (each vote by its annotator's Dawid-Skene weight from the latest "
        "agreement report); bradley_terry; dawid_skene (one Dawid-Skene fit over every comparison: the "
        "most probable answer wins, its posterior probability is the confidence; gold answers are clamped).",
    )
    min_confidence = serializers.FloatField(required=False, default=0.0, min_value=0.0, max_value=1.0)
    full = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Every comparison, not only those changed since the last run.",
    )


class ConsensusResultSerializer(serializers.Serializer):
    comparisons = serializers.IntegerField()
    pairs = serializers.IntegerField()
    ties = serializers.IntegerField()
    both_bad = serializers.IntegerField(help_text="Comparisons sent to SFT review.")
    adjudicated = serializers.IntegerField(help_text="Comparisons whose pairs follow a lead's adjudication.")
    discarded = serializers.IntegerField(help_text="Discarded comparisons: no consensus, their pairs stale.")
    harmful = serializers.IntegerField(
        help_text="Pairs whose chosen response a majority of the comparison's judges reported harmful."
    )
    mode = serializers.ChoiceField(
        choices=["full", "incremental"], required=False, help_text="incremental: only changed comparisons."
    )


class LeaderboardQuerySerializer(serializers.Serializer):
    baseline = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class LeaderboardRowSerializer(serializers.Serializer):
    model = serializers.CharField()
    strength = serializers.FloatField(help_text="Bradley-Terry log-strength, mean 0.")
    strength_ci = serializers.ListField(child=serializers.FloatField(), help_text="95% interval.")
    elo = serializers.FloatField()
    elo_ci = serializers.ListField(child=serializers.FloatField())
    win_rate = serializers.FloatField(help_text="P(beats the baseline).")
    win_rate_ci = serializers.ListField(child=serializers.FloatField())


class LeaderboardSerializer(serializers.Serializer):
    models = LeaderboardRowSerializer(many=True)
    names = serializers.ListField(child=serializers.CharField())
    matrix = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="matrix[i][j]: share of i-vs-j outcomes that names[i] won; null where never compared.",
    )
    baseline = serializers.CharField(allow_null=True, required=False)
    n_outcomes = serializers.IntegerField()
    params = serializers.JSONField(required=False)
    position_bias = serializers.JSONField(
        allow_null=True, help_text="Wins by display slot, overall and per annotator."
    )
