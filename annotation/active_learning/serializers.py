"""Serializers of the active-learning API."""

from rest_framework import serializers

from annotation.active_learning.models import (
    ProductionSample,
    ProjectIngestToken,
    QualityModel,
    SampleScore,
    SelectionBatch,
)
from annotation.active_learning.selection import STRATEGIES
from annotation.importing.serializers import FILE_FORMATS


class IngestBatchSerializer(serializers.Serializer):
    samples = serializers.ListField(child=serializers.JSONField(), allow_empty=False, max_length=1000)


class IngestFileSerializer(serializers.Serializer):
    file = serializers.FileField(required=False)
    data = serializers.CharField(required=False, trim_whitespace=False)
    format = serializers.ChoiceField(choices=FILE_FORMATS, required=False)

    def validate(self, attrs):
        if not attrs.get("file") and not attrs.get("data"):
            raise serializers.ValidationError({"file": ["Upload a file or give `data`."]})
        return attrs


class IngestResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class ScoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = SampleScore
        fields = [
            "kind",
            "model_version",
            "entropy",
            "logprob",
            "logprob_sum",
            "value",
            "details",
            "computed_at",
        ]


class SampleSerializer(serializers.ModelSerializer):
    selected = serializers.BooleanField(read_only=True)

    class Meta:
        model = ProductionSample
        fields = [
            "id", "external_id", "messages", "output", "model_version", "timestamp", "metadata", "thumbs",
            "retried", "edited_text", "entropy", "logprob", "quality", "committee", "margin", "priority",
            "cluster", "selected", "selected_batch", "selection_reason", "item", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class SampleDetailSerializer(SampleSerializer):
    scores = ScoreSerializer(many=True, read_only=True)

    class Meta(SampleSerializer.Meta):
        fields = [*SampleSerializer.Meta.fields, "scores"]
        read_only_fields = fields


OUTPUTS = SelectionBatch.Output.choices  # one schema enum (SelectionOutputEnum) for every use


class SelectRequestSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=STRATEGIES)
    budget = serializers.IntegerField(min_value=1, max_value=1000)
    output = serializers.ChoiceField(
        choices=OUTPUTS,
        required=False,
        help_text="What the selection becomes; the project's default output when left out.",
    )
    seed = serializers.IntegerField(default=0)


class BatchSerializer(serializers.ModelSerializer):
    class Meta:
        model = SelectionBatch
        fields = [
            "id",
            "strategy",
            "output",
            "budget",
            "params",
            "state",
            "n_selected",
            "n_items",
            "error",
            "created_at",
        ]
        read_only_fields = fields


class BatchOutcomeSerializer(serializers.Serializer):
    batch = BatchSerializer()
    reviewed = serializers.IntegerField()
    decided = serializers.IntegerField()
    accept_rate = serializers.FloatField(allow_null=True)
    flip_rate = serializers.FloatField(allow_null=True)


class IngestTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProjectIngestToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class IngestTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, default="production")


class QualityModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = QualityModel
        fields = ["id", "n_labels", "n_positive", "n_decisions", "heldout_accuracy", "embedder", "trained_at"]
        read_only_fields = fields


class ScoreRequestSerializer(serializers.Serializer):
    workers = serializers.IntegerField(min_value=1, max_value=32, default=1)
    margin = serializers.BooleanField(default=False)
    retrain = serializers.BooleanField(default=False)


class WeightsSerializer(serializers.Serializer):
    entropy = serializers.FloatField(required=False)
    logprob = serializers.FloatField(required=False)
    quality = serializers.FloatField(required=False)
    committee = serializers.FloatField(required=False)
    margin = serializers.FloatField(required=False)
    feedback = serializers.FloatField(required=False)


class SettingsSerializer(serializers.Serializer):
    """A project's active-learning settings (effective values; PATCH any subset, weights merge)."""

    retrain_every = serializers.IntegerField(required=False, min_value=1)
    weights = WeightsSerializer(required=False)
    duplicate_threshold = serializers.FloatField(required=False)
    item_priority = serializers.IntegerField(required=False, allow_null=True)
    default_output = serializers.ChoiceField(choices=OUTPUTS, required=False, allow_blank=True)
