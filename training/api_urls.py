"""URLs of the training API, included at /api/ by config.urls."""

from django.urls import path

from . import api, api_export

urlpatterns = [
    path("projects/<int:project_id>/snapshots/", api.SnapshotListView.as_view(), name="api-snapshots"),
    path("snapshots/<int:snapshot_id>/", api.SnapshotDetailView.as_view(), name="api-snapshot"),
    path("snapshots/<int:snapshot_id>/rows/", api.SnapshotRowsView.as_view(), name="api-snapshot-rows"),
    path(
        "snapshots/<int:snapshot_id>/exports/",
        api_export.SnapshotExportView.as_view(),
        name="api-snapshot-exports",
    ),
    path(
        "snapshots/<int:snapshot_id>/diff/",
        api_export.SnapshotDiffAgainstView.as_view(),
        name="api-snapshot-diff-against",
    ),
    path(
        "snapshots/<int:snapshot_id>/diff/<int:other_id>/",
        api_export.SnapshotDiffView.as_view(),
        name="api-snapshot-diff",
    ),
    path(
        "projects/<int:project_id>/exports/",
        api_export.ProjectExportView.as_view(),
        name="api-project-exports",
    ),
    path("exports/<int:export_id>/", api_export.ExportDetailView.as_view(), name="api-export"),
    path(
        "exports/<int:export_id>/download/",
        api_export.ExportDownloadView.as_view(),
        name="api-export-download",
    ),
    path("exports/<int:export_id>/push/", api_export.ExportPushView.as_view(), name="api-export-push"),
    path("projects/<int:project_id>/runs/", api.RunListView.as_view(), name="api-runs"),
    path("runs/<int:run_id>/", api.RunDetailView.as_view(), name="api-run"),
    path("runs/<int:run_id>/cancel/", api.RunCancelView.as_view(), name="api-run-cancel"),
    path("runs/<int:run_id>/resume/", api.RunResumeView.as_view(), name="api-run-resume"),
    path("projects/<int:project_id>/models/", api.ModelVersionListView.as_view(), name="api-models"),
    path("models/<int:version_id>/promote/", api.ModelVersionPromoteView.as_view(), name="api-model-promote"),
    path(
        "models/<int:version_id>/download/", api.ModelVersionDownloadView.as_view(), name="api-model-download"
    ),
]
