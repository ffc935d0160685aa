from django.urls import path

from . import views, views_export

app_name = "training"
urlpatterns = [
    path("projects/<int:pk>/snapshots/", views.snapshots, name="snapshots"),
    path("snapshots/<int:pk>/", views.snapshot_detail, name="snapshot"),
    path("snapshots/<int:pk>/progress/", views.snapshot_progress, name="snapshot-progress"),
    path("snapshots/<int:pk>/download/", views.snapshot_download, name="snapshot-download"),
    path("snapshots/<int:pk>/export/", views_export.snapshot_export, name="snapshot-export"),
    path("snapshots/<int:pk>/export/files/", views_export.snapshot_files, name="snapshot-files"),
    path("snapshots/<int:pk>/export/file/", views_export.snapshot_file, name="snapshot-file"),
    path("snapshots/<int:pk>/export/card/", views_export.snapshot_card, name="snapshot-card"),
    path("snapshots/<int:pk>/export/zip/", views_export.snapshot_zip, name="snapshot-zip"),
    path("snapshots/<int:pk>/diff/", views_export.snapshot_diff, name="snapshot-diff"),
    path("projects/<int:pk>/pairs/export/", views_export.pairs_export, name="pairs-export"),
    path("exports/<int:pk>/", views_export.export_detail, name="export"),
    path("exports/<int:pk>/progress/", views_export.export_progress, name="export-progress"),
    path("exports/<int:pk>/download/", views_export.export_download, name="export-download"),
    path("exports/<int:pk>/push/", views_export.export_push, name="export-push"),
    path("projects/<int:pk>/runs/", views.runs, name="runs"),
    path("projects/<int:pk>/runs/new/", views.run_new, name="run-new"),
    path("projects/<int:pk>/train-dpo/", views.train_dpo, name="train-dpo"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run-progress"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run-resume"),
    path("projects/<int:pk>/models/", views.models, name="models"),
    path("models/<int:pk>/promote/", views.model_promote, name="model-promote"),
    path("models/<int:pk>/download/", views.model_download, name="model-download"),
]
