from django.urls import path

from . import views, views_report

app_name = "evaluation"
urlpatterns = [
    path("projects/<int:pk>/evaluation/", views.index, name="index"),
    path("projects/<int:pk>/evaluation/runs/new/", views.run_new, name="run-new"),
    path("projects/<int:pk>/evaluation/gates/", views_report.gates, name="gates"),
    path("eval-sets/<int:pk>/", views.eval_set_detail, name="set"),
    path("eval-runs/<int:pk>/", views.run_detail, name="run"),
    path("eval-runs/<int:pk>/progress/", views.run_progress, name="run-progress"),
    path("eval-runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("eval-runs/<int:pk>/resume/", views.run_resume, name="run-resume"),
    path("eval-runs/<int:pk>/campaign/", views.run_campaign, name="run-campaign"),
    path("eval-runs/<int:pk>/campaign/refresh/", views.run_campaign_refresh, name="run-campaign-refresh"),
    path("models/<int:pk>/report/", views_report.report, name="report"),
    path("models/<int:pk>/report.json", views_report.report_json, name="report-json"),
    path("models/<int:pk>/model-card/", views_report.model_card, name="model-card"),
    path("models/<int:pk>/evaluation/promote/", views_report.promote, name="promote"),
    path("models/<int:pk>/evaluation/rollback/", views_report.rollback, name="rollback"),
]
