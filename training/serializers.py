"""DRF serializers of the training API: shapes only; the rules live in training.runs, training.registry and
training.snapshots."""

from rest_framework import serializers

from .models import DatasetSnapshot, ExportJob, ModelVersion, SnapshotKind, TrainingRun
from .selectors import metric_series


class SnapshotSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = DatasetSnapshot
        fields = [
            "id", "project", "kind", "name", "filters", "state", "progress", "percent", "stage", "error",
            "content_hash", "train_count", "val_count", "quality_report", "created_by", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class SnapshotCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SnapshotKind.choices)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    filters = serializers.DictField(required=False, default=dict, help_text="See the snapshot form's fields.")


class RunSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)
    model_version = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id", "project", "snapshot", "method", "config", "init_from", "state", "attempt", "step",
            "max_steps", "percent", "epoch", "loss", "learning_rate", "eta_seconds", "tokens_per_second",
            "cancel_requested", "worker_hostname", "celery_task_id", "heartbeat_at", "error", "log_tail",
            "created_at", "started_at", "finished_at", "model_version",
        ]  # fmt: skip
        read_only_fields = fields

    def get_model_version(self, run) -> int | None:
        version = ModelVersion.objects.filter(run=run).values_list("pk", flat=True).first()
        return version


class RunDetailSerializer(RunSerializer):
    metrics = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "metrics"]
        read_only_fields = fields

    def get_metrics(self, run) -> dict:
        """{name: [[step, value], ...]} for every recorded series."""
        return {name: [list(p) for p in points] for name, points in metric_series(run).items()}


class RunCreateSerializer(serializers.Serializer):
    snapshot = serializers.IntegerField()
    config = serializers.DictField(required=False, default=dict, help_text="TrainConfig fields (TRL names).")


class ModelVersionSerializer(serializers.ModelSerializer):
    is_current = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id", "project", "run", "name", "method", "base_model", "adapter_path", "adapter_sha256",
            "snapshot", "config", "library_versions", "device", "metrics", "eval_report", "created_at",
            "is_current",
        ]  # fmt: skip
        read_only_fields = fields

    def get_is_current(self, version) -> bool:
        """Whether the project's current model (what later features score with) is this version."""
        return bool(version.adapter_path) and version.project.current_model_path == version.adapter_path


FORMATS = ["jsonl", "parquet", "csv", "hf"]
EXPORT_STATUSES = ["approved", "candidates"]


class ExportJobSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)
    download = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id", "project", "snapshot", "layout", "format", "provenance", "state", "attempt", "rows_done",
            "rows_total", "percent", "file_size", "hub_repo", "error", "created_at", "started_at",
            "finished_at", "download",
        ]  # fmt: skip
        read_only_fields = fields

    def get_download(self, job) -> str | None:
        """The zip's URL once the export is complete."""
        return f"/api/exports/{job.pk}/download/" if job.state == "completed" else None


class ExportCreateSerializer(serializers.Serializer):
    layout = serializers.CharField(help_text="trl-messages, trl-preference, raw-judgments, ...")
    format = serializers.ChoiceField(choices=FORMATS, default="jsonl")
    provenance = serializers.BooleanField(default=False)


class ProjectExportCreateSerializer(ExportCreateSerializer):
    # "from" is a Python keyword: the field is declared under its wire name below
    status = serializers.ChoiceField(choices=EXPORT_STATUSES, default="approved")
    filters = serializers.DictField(required=False, default=dict, help_text="The snapshot form's filters.")


ProjectExportCreateSerializer._declared_fields["from"] = serializers.ChoiceField(
    choices=["pairs", "sft", "judgments"], help_text="What to snapshot, then export."
)


class ExportPushSerializer(serializers.Serializer):
    repo_id = serializers.CharField(max_length=200, help_text="owner/name of the Hub dataset repository.")
    private = serializers.BooleanField(default=True)


class SnapshotDiffSerializer(serializers.Serializer):
    to = serializers.IntegerField()
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    changed_by_source = serializers.DictField(child=serializers.IntegerField())
    examples = serializers.DictField()


SnapshotDiffSerializer._declared_fields["from"] = serializers.IntegerField()
