"""URLs of the evaluation API, included at /api/ by config.urls."""

from django.urls import path

from . import api

urlpatterns = [
    path("projects/<int:project_id>/eval-sets/", api.EvalSetListView.as_view(), name="api-eval-sets"),
    path(
        "projects/<int:project_id>/eval-sets/import/",
        api.EvalSetImportView.as_view(),
        name="api-eval-set-import",
    ),
    path("eval-sets/<int:set_id>/leakage/", api.EvalSetLeakageView.as_view(), name="api-eval-set-leakage"),
    path("projects/<int:project_id>/eval-runs/", api.EvalRunListView.as_view(), name="api-eval-runs"),
    path("eval-runs/<int:run_id>/", api.EvalRunDetailView.as_view(), name="api-eval-run"),
    path("eval-runs/<int:run_id>/cancel/", api.EvalRunCancelView.as_view(), name="api-eval-run-cancel"),
    path("eval-runs/<int:run_id>/resume/", api.EvalRunResumeView.as_view(), name="api-eval-run-resume"),
    path("eval-runs/<int:run_id>/campaign/", api.EvalRunCampaignView.as_view(), name="api-eval-run-campaign"),
    path(
        "eval-runs/<int:run_id>/campaign/refresh/",
        api.EvalRunCampaignRefreshView.as_view(),
        name="api-eval-run-campaign-refresh",
    ),
    path("models/<int:version_id>/eval-report/", api.EvalReportView.as_view(), name="api-eval-report"),
    path("projects/<int:project_id>/gates/", api.GatesView.as_view(), name="api-gates"),
    path("models/<int:version_id>/evaluation/promote/", api.PromoteView.as_view(), name="api-eval-promote"),
    path(
        "models/<int:version_id>/evaluation/rollback/", api.RollbackView.as_view(), name="api-eval-rollback"
    ),
]
