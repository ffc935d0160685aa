"""URLs of the training API, included at /api/ by config.urls."""

from django.urls import path

from . import api

urlpatterns = [
    path("projects/<int:project_id>/snapshots/", api.SnapshotListView.as_view(), name="api-snapshots"),
    path("snapshots/<int:snapshot_id>/", api.SnapshotDetailView.as_view(), name="api-snapshot"),
    path("snapshots/<int:snapshot_id>/rows/", api.SnapshotRowsView.as_view(), name="api-snapshot-rows"),
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
