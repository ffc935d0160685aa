from django.contrib import admin

from .models import DatasetSnapshot, ModelVersion, RunMetric, TrainingRun


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "kind", "name", "train_count", "val_count", "created_at")
    list_filter = ("kind",)
    readonly_fields = [f.name for f in DatasetSnapshot._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False  # snapshots are immutable


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "method", "state", "step", "max_steps", "worker_hostname", "created_at")
    list_filter = ("state", "method")


@admin.register(RunMetric)
class RunMetricAdmin(admin.ModelAdmin):
    list_display = ("run", "step", "name", "value")
    list_filter = ("name",)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "name", "method", "base_model", "adapter_sha256", "created_at")
