"""DRF serializers of the annotation API: input checking (types, ranges, choices) and output shapes.

Input serializers only check the shape of a request; the rules (who may, what is valid) live in
`annotation.services`, which the API views call with the validated data.
"""

import json

from rest_framework import serializers

from annotation.core.permissions import role_for
from annotation.importing.parse import FIELDS as IMPORT_FIELDS
from annotation.kinds import registry as kinds
from annotation.models import (
    AuditEvent,
    Item,
    ItemKind,
    ItemState,
    Judgment,
    Membership,
    Project,
    Response,
    Role,
)
from annotation.projects.services import PROJECT_SETTINGS

MAX_ID = 2**63 - 1  # BigAutoField
MAX_POSITIVE_INT = 2**31 - 1
MAX_SMALL_INT = 2**15 - 1
MAX_TEXT = 200_000


def reject_nul(value):
    """JSON values are stored as jsonb on PostgreSQL, which refuses NUL characters anywhere."""
    if "\\u0000" in json.dumps(value, default=str):
        raise serializers.ValidationError("Must not contain NUL characters.")
    return value


# --- projects -------------------------------------------------------------------------------


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


# --- members --------------------------------------------------------------------------------


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


# --- rubrics --------------------------------------------------------------------------------


class CriterionSerializer(serializers.Serializer):
    """Documentation shape of one criterion; `annotation.rubrics.validate_criteria` checks them."""

    key = serializers.CharField()
    label = serializers.CharField(required=False)
    type = serializers.ChoiceField(choices=["binary", "likert", "labels"], required=False)
    instructions = serializers.CharField(required=False, allow_blank=True)
    required = serializers.BooleanField(required=False)
    labels = serializers.ListField(child=serializers.CharField(), required=False)


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


class TaskRubricSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    criteria = CriterionSerializer(many=True)
    instructions = serializers.CharField()


# --- items and import -----------------------------------------------------------------------


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


class RegisteredKinds:
    """A serializer whose `kind` field accepts every registered kind (plug-ins need no migration)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kinds.choices()


class ItemListQuerySerializer(RegisteredKinds, serializers.Serializer):
    state = serializers.ChoiceField(choices=ItemState.choices, required=False)
    kind = serializers.ChoiceField(choices=ItemKind.choices, required=False)


class ImportRequestSerializer(RegisteredKinds, serializers.Serializer):
    """Either a multipart `file` or a JSON `data` string. `format` defaults to the file name's."""

    file = serializers.FileField(required=False, help_text="A .jsonl or .csv file (multipart).")
    data = serializers.CharField(
        required=False, trim_whitespace=False, help_text="The file's text, when not uploading."
    )
    format = serializers.ChoiceField(choices=["jsonl", "csv"], required=False)
    mapping = serializers.JSONField(
        required=False,
        help_text='Our field -> the column / key in the file, e.g. {"prompt": "question"}; '
        "a JSON string in multipart.",
    )
    kind = serializers.ChoiceField(choices=ItemKind.choices, required=False, default=ItemKind.SFT)

    def validate_mapping(self, value):
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be an object: our field -> the key in the file.")
        errors = []
        for ours, theirs in value.items():
            if ours not in IMPORT_FIELDS:
                errors.append(f"Unknown field {ours!r}; use {', '.join(IMPORT_FIELDS)}.")
            elif not isinstance(theirs, str) or not theirs:
                errors.append(f"{ours}: must name a column or key (a non-empty string).")
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate(self, attrs):
        if attrs.get("file") is None and attrs.get("data") is None:
            raise serializers.ValidationError({"file": ["Upload a file or give `data`."]})
        if attrs.get("file") is not None and attrs.get("data") is not None:
            raise serializers.ValidationError({"data": ["Give a file or `data`, not both."]})
        return attrs


class ImportIssueSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="1-based physical line in the file; 0 for the whole file.")
    field = serializers.CharField()
    message = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class ImportErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = ImportIssueSerializer(many=True)


# --- the queue ------------------------------------------------------------------------------


class NextQuerySerializer(RegisteredKinds, serializers.Serializer):
    kind = serializers.ChoiceField(choices=ItemKind.choices, required=False, default=ItemKind.SFT)


class TaskMessageSerializer(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()


class TaskResponseSerializer(serializers.Serializer):
    """A response as the annotator sees it: its display slot and text; no model, no id (blind)."""

    slot = serializers.CharField(help_text="A, B, ... in this assignment's display order.")
    text = serializers.CharField()


class TaskItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="item.pk")
    kind = serializers.CharField(source="item.kind")
    messages = TaskMessageSerializer(many=True)
    responses = TaskResponseSerializer(many=True)


class TaskSerializer(serializers.Serializer):
    """The caller's next assignment: the item, the rubric to apply and the project's guidelines."""

    # Reads annotation.kinds.task.build_task's task, the page's too; only these fields leave (blind).
    assignment = serializers.IntegerField(source="assignment.pk")
    leased_until = serializers.DateTimeField(source="assignment.leased_until")
    reason = serializers.CharField(
        source="assignment.reason", help_text="Which queue strategy chose the item (resume, queue)."
    )
    project = serializers.IntegerField(source="project.pk")
    guidelines = serializers.CharField(source="project.guidelines")
    item = TaskItemSerializer(source="*")
    rubric_version = TaskRubricSerializer(allow_null=True)


class SubmitSerializer(serializers.Serializer):
    decision = serializers.CharField(required=False, allow_blank=True, max_length=32, default="")
    edited_text = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=MAX_TEXT, default=""
    )
    scores = serializers.DictField(
        required=False, default=dict, validators=[reject_nul], help_text="Criterion key -> value."
    )
    flags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list, max_length=32
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT, default="")
    rubric_version = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    duration_seconds = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=10**7, default=None
    )
    payload = serializers.DictField(
        required=False, default=dict, validators=[reject_nul], help_text="Kind-specific answer."
    )


class SkipSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class AssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField(source="item_id")
    state = serializers.CharField()
    leased_until = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)


class JudgmentSerializer(serializers.ModelSerializer):
    annotator = serializers.CharField(source="annotator.username", read_only=True)
    rubric_version_number = serializers.IntegerField(
        source="rubric_version.number", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Judgment
        fields = [
            "id",
            "assignment",
            "item",
            "annotator",
            "rubric_version",
            "rubric_version_number",
            "decision",
            "edited_text",
            "scores",
            "flags",
            "comment",
            "payload",
            "duration_seconds",
            "is_current",
            "supersedes",
            "created_at",
        ]
        read_only_fields = fields


# --- progress, dashboard, audit -------------------------------------------------------------


class MineSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    skipped = serializers.IntegerField()
    total = serializers.IntegerField(help_text="What the caller did plus what they can still be offered.")


class ProgressSerializer(serializers.Serializer):
    items_total = serializers.IntegerField()
    items_by_state = serializers.DictField(child=serializers.IntegerField())
    judgments_needed = serializers.IntegerField()
    judgments_done = serializers.IntegerField()
    percent_done = serializers.FloatField()
    mine = MineSerializer(required=False)


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


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
