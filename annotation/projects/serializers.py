"""Serializers of the projects API: projects, members, rubric versions, items, judgments, dashboard, audit, tokens."""

from rest_framework import serializers

from annotation.core.api import MAX_ID, MAX_POSITIVE_INT, MAX_TEXT, CriterionSerializer, reject_nul
from annotation.core.permissions import role_for
from annotation.kinds.api import RegisteredKinds
from annotation.models import (
    AuditEvent,
    Item,
    ItemKind,
    ItemState,
    Membership,
    Project,
    Response,
    Role,
)
from annotation.projects.services import PROJECT_SETTINGS
from annotation.queue.serializers import ProgressSerializer


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="The caller's role in the project.")

    class Meta:
        model = Project
        fields = [
            "id",
            *PROJECT_SETTINGS,
            "created_at",
            "role",
        ]
        read_only_fields = fields

    def get_role(self, project) -> str | None:
        role = getattr(project, "my_role", None)
        if role is None:
            request = self.context.get("request")
            role = role_for(request.user, project) if request else None
        return role


class ProjectWriteSerializer(serializers.Serializer):
    """Fields a creator or a lead may set; PATCH accepts any subset."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT)
    guidelines = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT)
    base_model = serializers.CharField(required=False, max_length=500)
    overlap = serializers.IntegerField(required=False, min_value=1, max_value=100)
    agreement_threshold = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    lease_minutes = serializers.IntegerField(required=False, min_value=1, max_value=60 * 24 * 30)
    min_seconds_per_item = serializers.IntegerField(required=False, min_value=0, max_value=MAX_POSITIVE_INT)
    require_rationale = serializers.BooleanField(required=False)
    agreement_routing = serializers.BooleanField(required=False)
    max_extra_annotators = serializers.IntegerField(required=False, min_value=0, max_value=10)
    gold_share = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    dataset_license = serializers.CharField(required=False, max_length=64)
    count_external_judgments = serializers.BooleanField(required=False)
    blind_review = serializers.BooleanField(
        required=False, help_text="Hide model names from annotators on every page (leads always see them)."
    )
    show_gold_feedback = serializers.BooleanField(
        required=False, help_text="Show annotators their own accuracy on gold items (My work page)."
    )


class MembershipSerializer(serializers.ModelSerializer):
    user = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["user", "username", "role", "created_at"]
        read_only_fields = fields


class MembershipWriteSerializer(serializers.Serializer):
    user = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text="A user id.")
    username = serializers.CharField(required=False, max_length=150, help_text="Or a username.")
    role = serializers.ChoiceField(choices=Role.choices)

    def validate(self, attrs):
        if attrs.get("user") is None and not attrs.get("username"):
            raise serializers.ValidationError({"user": ["Give a user id or a username."]})
        return attrs


class RubricVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    rubric = serializers.CharField(source="rubric.name")
    instructions = serializers.CharField()
    criteria = CriterionSerializer(many=True)
    changelog = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    locked = serializers.BooleanField(default=False, help_text="Used by a judgment: it can no longer change.")


class RubricVersionWriteSerializer(serializers.Serializer):
    criteria = serializers.ListField(
        child=serializers.JSONField(),
        max_length=100,
        validators=[reject_nul],
        help_text="List of criteria (see the schema above).",
    )
    instructions = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT, default="")
    changelog = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT, default="")
    rubric_name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class ResponseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Response
        fields = ["id", "position", "text", "model_name", "model_version", "generation_params"]
        read_only_fields = fields


class ItemSerializer(serializers.ModelSerializer):
    """What a lead sees of an item: everything, model names included."""

    responses = ResponseSerializer(many=True, read_only=True)

    class Meta:
        model = Item
        fields = [
            "id",
            "kind",
            "state",
            "external_id",
            "priority",
            "messages",
            "responses",
            "metadata",
            "active_count",
            "submitted_count",
            "source",
            "created_at",
        ]
        read_only_fields = fields


YES_NO = (("yes", "yes"), ("no", "no"))


class ItemListQuerySerializer(RegisteredKinds, serializers.Serializer):
    """The Items page's filters (annotation.quality.item_list.ItemFilters), by the same names."""

    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        trim_whitespace=True,
        help_text="Search the conversation and the responses' text (case-insensitive).",
    )
    state = serializers.ChoiceField(choices=ItemState.choices, required=False)
    kind = serializers.ChoiceField(choices=ItemKind.choices, required=False)
    gold = serializers.ChoiceField(choices=YES_NO, required=False, help_text="Gold items only, or none.")
    disputed = serializers.ChoiceField(
        choices=YES_NO,
        required=False,
        help_text="In the leads' disagreement queue now or adjudicated by a lead (yes), or neither (no).",
    )
    tag = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text='Items whose metadata "tags" list holds this string.',
    )
    active_learning = serializers.ChoiceField(
        choices=YES_NO, required=False, help_text="Items an active-learning selection batch created (or not)."
    )
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=200, help_text="Items per page (default 50, at most 200)."
    )
    page = serializers.IntegerField(required=False, min_value=1, help_text="Page number.")


class AnnotatorStatSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    submitted = serializers.IntegerField()
    skipped = serializers.IntegerField()
    leased = serializers.IntegerField()
    avg_seconds = serializers.FloatField(allow_null=True)


class ThroughputSerializer(serializers.Serializer):
    hour = serializers.CharField()
    count = serializers.IntegerField()


class TimePerItemSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)


class DashboardSerializer(serializers.Serializer):
    progress = ProgressSerializer()
    annotators = AnnotatorStatSerializer(many=True)
    throughput = ThroughputSerializer(many=True)
    time_per_item = TimePerItemSerializer()


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = AuditEvent
        fields = ["id", "actor", "verb", "object_type", "object_id", "data", "created_at"]
        read_only_fields = fields
