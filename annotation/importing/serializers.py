"""Serializers of the import API."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotation.core.api import ErrorsField
from annotation.importing.parse import FIELDS as IMPORT_FIELDS
from annotation.kinds.api import RegisteredKinds
from annotation.models import ImportJob, ItemKind

FILE_FORMATS = ["jsonl", "csv"]  # our item files
INTERCHANGE_FORMATS = ["label-studio", "trl"]  # other tools' exports


class ImportRequestSerializer(RegisteredKinds, serializers.Serializer):
    """Either a multipart `file` or a JSON `data` string. `format` defaults to the file name's."""

    file = serializers.FileField(required=False, help_text="A .jsonl or .csv file (multipart).")
    data = serializers.CharField(
        required=False, trim_whitespace=False, help_text="The file's text, when not uploading."
    )
    format = serializers.ChoiceField(choices=FILE_FORMATS, required=False)
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


class ImportJobSerializer(serializers.ModelSerializer):
    """A large file's import, run by a task: poll `url` until `state` is done or failed."""

    url = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    issues = ImportIssueSerializer(many=True, help_text="Why nothing was imported (a failed job).")

    class Meta:
        model = ImportJob
        fields = ["id", "url", "state", "stage", "progress", "lines", "filename", "size", "result", "issues",
                  "error", "created_at", "finished_at"]  # fmt: skip
        read_only_fields = fields

    def get_url(self, job) -> str:
        return self.context["url"]

    @extend_schema_field(ImportResultSerializer(allow_null=True))
    def get_result(self, job):
        return job.result()


class ImportErrorSerializer(serializers.Serializer):
    """Nothing was imported: line-numbered issues, or (a request without a file or data) field messages."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = ErrorsField()


class ExternalImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(
        required=False, help_text="A Label Studio JSON export, or a TRL preference .jsonl / .parquet."
    )
    data = serializers.CharField(
        required=False,
        trim_whitespace=False,
        help_text="Instead of a file: the Label Studio JSON or TRL JSONL text.",
    )
    format = serializers.ChoiceField(choices=INTERCHANGE_FORMATS)
    with_judgments = serializers.BooleanField(
        default=True, help_text="Keep the other team's judgments (external); false: items to be judged."
    )
    source = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if bool(attrs.get("file")) == bool(attrs.get("data")):
            raise serializers.ValidationError({"file": ["Send a file or data, not both and not neither."]})
        return attrs


class ExternalImportResultSerializer(ImportResultSerializer):
    judgments = serializers.IntegerField()
