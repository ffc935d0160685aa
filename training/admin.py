"""Read-only, like annotation.admin: changes go through the app, where they are checked and audited."""

from django.contrib import admin

from annotation.core.admin import ReadOnly

from .models import DatasetSnapshot, ModelVersion, RunMetric, TrainingRun


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "project", "kind", "name", "train_count", "val_count", "created_at")
    list_filter = ("kind",)


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "project", "method", "state", "step", "max_steps", "worker_hostname", "created_at")
    list_filter = ("state", "method")


@admin.register(RunMetric)
class RunMetricAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("run", "step", "name", "value")
    list_filter = ("name",)


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "project", "name", "method", "base_model", "adapter_sha256", "created_at")
