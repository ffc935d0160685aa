from django.urls import path

from . import views

app_name = "training"
urlpatterns = [
    path("projects/<int:pk>/snapshots/", views.snapshots, name="snapshots"),
    path("snapshots/<int:pk>/", views.snapshot_detail, name="snapshot"),
    path("snapshots/<int:pk>/progress/", views.snapshot_progress, name="snapshot-progress"),
    path("snapshots/<int:pk>/download/", views.snapshot_download, name="snapshot-download"),
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
