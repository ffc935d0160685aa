"""URLs of the annotation API, included at /api/ by config.urls."""

from django.urls import path

from . import api

urlpatterns = [
    path("auth/token/", api.TokenView.as_view(), name="api-token"),
    path("projects/", api.ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", api.ProjectDetailView.as_view(), name="api-project"),
    path("projects/<int:project_id>/members/", api.MemberListView.as_view(), name="api-members"),
    path(
        "projects/<int:project_id>/members/<int:user_id>/",
        api.MemberDetailView.as_view(),
        name="api-member",
    ),
    path("projects/<int:project_id>/rubrics/", api.RubricVersionListView.as_view(), name="api-rubrics"),
    path("projects/<int:project_id>/items/", api.ItemListView.as_view(), name="api-items"),
    path("projects/<int:project_id>/items/import/", api.ImportView.as_view(), name="api-import"),
    path("projects/<int:project_id>/next/", api.NextView.as_view(), name="api-next"),
    path("projects/<int:project_id>/progress/", api.ProgressView.as_view(), name="api-progress"),
    path("projects/<int:project_id>/dashboard/", api.DashboardView.as_view(), name="api-dashboard"),
    path("projects/<int:project_id>/judgments/", api.JudgmentListView.as_view(), name="api-judgments"),
    path("projects/<int:project_id>/audit/", api.AuditListView.as_view(), name="api-audit"),
    path("assignments/<int:assignment_id>/submit/", api.SubmitView.as_view(), name="api-submit"),
    path("assignments/<int:assignment_id>/skip/", api.SkipView.as_view(), name="api-skip"),
]

from . import api_quality  # noqa: E402

urlpatterns += [
    path("projects/<int:project_id>/agreement/", api_quality.AgreementView.as_view(), name="api-agreement"),
    path(
        "projects/<int:project_id>/agreement/recompute/",
        api_quality.AgreementRecomputeView.as_view(),
        name="api-agreement-recompute",
    ),
    path(
        "projects/<int:project_id>/disagreements/",
        api_quality.DisagreementListView.as_view(),
        name="api-disagreements",
    ),
    path("items/<int:item_id>/adjudicate/", api_quality.AdjudicateView.as_view(), name="api-adjudicate"),
    path("items/<int:item_id>/gold/", api_quality.GoldView.as_view(), name="api-gold"),
    path(
        "items/<int:item_id>/more-annotators/",
        api_quality.MoreAnnotatorsView.as_view(),
        name="api-more-annotators",
    ),
]
