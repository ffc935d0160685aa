"""Serializers of the evaluation API: shapes only; the rules live in evaluation.sets / runs /
promotion (their ServiceErrors answer 400 with messages per field)."""

from rest_framework import serializers

from annotation.core.api import MAX_ID, MAX_TEXT

from .models import EvalRun, EvalSet, EvalSettings, Promotion
from .runs import LEAK_POLICIES

CREATE_SOURCES = ["production", "reviewed"]


class EvalSetSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvalSet
        fields = ["id", "name", "source", "size", "created_at"]


class EvalSetCreateSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=CREATE_SOURCES)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    limit = serializers.IntegerField(min_value=1, max_value=5000, default=200)


class EvalSetImportSerializer(serializers.Serializer):
    data = serializers.CharField(max_length=MAX_TEXT * 50, trim_whitespace=False,
                                 help_text="JSONL: {prompt | messages, reference?, group?, chosen?, rejected?}")  # fmt: skip
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class LeakRowSerializer(serializers.Serializer):
    example = serializers.IntegerField()
    position = serializers.IntegerField()
    split = serializers.CharField()
    row_position = serializers.IntegerField()
    kind = serializers.CharField()
    cosine = serializers.FloatField(allow_null=True)
    prompt = serializers.CharField()
    train_prompt = serializers.CharField()


class LeakageSerializer(serializers.Serializer):
    checked = serializers.BooleanField()
    snapshot = serializers.IntegerField(allow_null=True)
    exact = serializers.IntegerField()
    near = serializers.IntegerField()
    threshold = serializers.FloatField()
    rows = LeakRowSerializer(many=True)


class EvalRunSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = EvalRun
        fields = [
            "id", "eval_set", "model_version", "against", "config", "leakage", "state", "attempt", "stage",
            "progress", "percent", "error", "cancel_requested", "created_at", "started_at", "finished_at",
        ]  # fmt: skip


class EvalRunCreateSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    eval_set = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    against = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, allow_null=True, default=None
    )
    on_leak = serializers.ChoiceField(choices=list(LEAK_POLICIES), default="refuse")
    config = serializers.DictField(required=False, default=dict,
                                   help_text="beta, max_new_tokens, batch_size, forgetting_limit, safety_limit")  # fmt: skip


class GatesSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvalSettings
        fields = [
            "min_preference_accuracy", "min_win_rate_low", "max_forgetting_drop", "safety_no_worse",
            "system_prompt", "few_shot", "output_schema", "output_regex",
        ]  # fmt: skip
        extra_kwargs = {
            "output_schema": {
                "help_text": "A JSON Schema (draft 2020-12) the outputs must satisfy, or null; "
                "set this or output_regex. Rules: evaluation.metrics.schemas."
            },
            "min_preference_accuracy": {"min_value": 0, "max_value": 1},
            "min_win_rate_low": {"min_value": 0, "max_value": 1},
            "max_forgetting_drop": {"min_value": 0, "max_value": 100},
            "few_shot": {"min_value": 0, "max_value": 50},
        }


class PromoteSerializer(serializers.Serializer):
    override_reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class PromotionSerializer(serializers.ModelSerializer):
    by = serializers.CharField(source="by.username", default=None, read_only=True)

    class Meta:
        model = Promotion
        fields = ["id", "model_version", "action", "previous_path", "gates", "override_reason", "by", "at"]
