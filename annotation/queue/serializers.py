"""Serializers of the queue API: the annotator's task, next, submit, skip, progress."""

from rest_framework import serializers

from annotation.core.api import MAX_ID, MAX_TEXT, CriterionSerializer, FieldsPerThread, reject_nul
from annotation.kinds.api import RegisteredKinds
from annotation.models import (
    ItemKind,
    Judgment,
)


class TaskRubricSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    criteria = CriterionSerializer(many=True)
    instructions = serializers.CharField()


class NextQuerySerializer(FieldsPerThread, RegisteredKinds, serializers.Serializer):
    kind = serializers.ChoiceField(choices=ItemKind.choices, required=False, default=ItemKind.SFT)


class SubmitAndNextQuerySerializer(FieldsPerThread, RegisteredKinds, serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=ItemKind.choices,
        required=False,
        help_text="The next item's kind; default: the submitted item's.",
    )


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


class SubmitSerializer(FieldsPerThread, serializers.Serializer):
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
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        default="",
        help_text="unclear | needs_expertise | broken | other (free text is stored as other)",
    )


class AssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField(source="item_id")
    state = serializers.CharField()
    leased_until = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    skip_reason = serializers.CharField(help_text="unclear | needs_expertise | broken | other, or blank")


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


class SubmitAndNextSerializer(serializers.Serializer):
    """submit-and-next's answer: the stored judgment and the next task (null: nothing left for you)."""

    judgment = JudgmentSerializer()
    next = TaskSerializer(allow_null=True)


# --- the hot path's payloads, built directly ----------------------------------------------------
# next and submit answer on every annotator's every item: their bodies are built here field by field,
# the same as TaskSerializer(...).data and JudgmentSerializer(...).data (a test compares them), without
# a serializer's per-request field setup (deep copies of every declared field, nested serializers per
# criterion). The serializers above stay the schema's.

_WHEN = serializers.DateTimeField()  # its ISO 8601 text in the current time zone, like every field's
_CRITERION = [
    ("key", str),
    ("label", str),
    ("type", lambda v: v),
    ("instructions", str),
    ("required", bool),
    ("labels", lambda v: [str(x) for x in v]),
]


def _when(value):
    return None if value is None else _WHEN.to_representation(value)


def _criterion(c: dict) -> dict:
    """CriterionSerializer's: the declared keys present, in declared order; None stays None."""
    return {k: (None if c[k] is None else cast(c[k])) for k, cast in _CRITERION if k in c}


def task_data(task: dict) -> dict:
    """TaskSerializer(task).data, for a task of `annotation.kinds.task.build_task`."""
    assignment, project, rubric = task["assignment"], task["project"], task["rubric_version"]
    return {
        "assignment": assignment.pk,
        "leased_until": _when(assignment.leased_until),
        "reason": str(assignment.reason),
        "project": project.pk,
        "guidelines": str(project.guidelines),
        "item": {
            "id": task["item"].pk,
            "kind": str(task["item"].kind),
            "messages": [{"role": str(m["role"]), "content": str(m["content"])} for m in task["messages"]],
            "responses": [{"slot": str(r["slot"]), "text": str(r["text"])} for r in task["responses"]],
        },
        "rubric_version": None
        if rubric is None
        else {
            "id": rubric.pk,
            "number": rubric.number,
            "criteria": [_criterion(c) for c in rubric.criteria],
            "instructions": str(rubric.instructions),
        },
    }


def judgment_data(judgment: Judgment) -> dict:
    """JudgmentSerializer(judgment).data."""
    rubric = judgment.rubric_version
    return {
        "id": judgment.pk,
        "assignment": judgment.assignment_id,
        "item": judgment.item_id,
        "annotator": str(judgment.annotator.username),
        "rubric_version": judgment.rubric_version_id,
        "rubric_version_number": None if rubric is None else rubric.number,
        "decision": judgment.decision,
        "edited_text": judgment.edited_text,
        "scores": judgment.scores,
        "flags": judgment.flags,
        "comment": judgment.comment,
        "payload": judgment.payload,
        "duration_seconds": None if judgment.duration_seconds is None else float(judgment.duration_seconds),
        "is_current": judgment.is_current,
        "supersedes": judgment.supersedes_id,
        "created_at": _when(judgment.created_at),
    }
