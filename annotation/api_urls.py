"""URLs of the annotation API, included at /api/ by config.urls."""

from django.urls import path

from annotation.active_learning import api as al_api
from annotation.importing import api as import_api
from annotation.people import api as people_api
from annotation.people import token_api
from annotation.projects import api as project_api
from annotation.quality import api as quality_api
from annotation.queue import api as queue_api

urlpatterns = [
    # the annotators' hot path first: Django tries the patterns in order on every request
    path("projects/<int:project_id>/next/", queue_api.NextView.as_view(), name="api-next"),
    path("assignments/<int:assignment_id>/submit/", queue_api.SubmitView.as_view(), name="api-submit"),
    path(
        "assignments/<int:assignment_id>/submit-and-next/",
        queue_api.SubmitAndNextView.as_view(),
        name="api-submit-and-next",
    ),
    path("auth/token/", token_api.TokenView.as_view(), name="api-token"),
    path("auth/tokens/", token_api.TokenListView.as_view(), name="api-tokens"),
    path("auth/tokens/<int:token_id>/", token_api.TokenDetailView.as_view(), name="api-token-detail"),
    path("projects/", project_api.ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", project_api.ProjectDetailView.as_view(), name="api-project"),
    path("projects/<int:project_id>/members/", project_api.MemberListView.as_view(), name="api-members"),
    path(
        "projects/<int:project_id>/members/<int:user_id>/",
        project_api.MemberDetailView.as_view(),
        name="api-member",
    ),
    path("projects/<int:project_id>/accounts/", people_api.AccountsView.as_view(), name="api-accounts"),
    path(
        "projects/<int:project_id>/invitations/",
        people_api.InvitationListView.as_view(),
        name="api-invitations",
    ),
    path(
        "projects/<int:project_id>/invitations/<int:invitation_id>/revoke/",
        people_api.InvitationRevokeView.as_view(),
        name="api-invitation-revoke",
    ),
    path(
        "projects/<int:project_id>/rubrics/", project_api.RubricVersionListView.as_view(), name="api-rubrics"
    ),
    path("projects/<int:project_id>/items/", project_api.ItemListView.as_view(), name="api-items"),
    path("projects/<int:project_id>/items/import/", import_api.ImportView.as_view(), name="api-import"),
    path(
        "projects/<int:project_id>/items/import/jobs/<int:job_id>/",
        import_api.ImportJobView.as_view(),
        name="api-import-job",
    ),
    path(
        "projects/<int:project_id>/import/external/",
        import_api.ExternalImportView.as_view(),
        name="api-import-external",
    ),
    path("projects/<int:project_id>/progress/", queue_api.ProgressView.as_view(), name="api-progress"),
    path("projects/<int:project_id>/dashboard/", project_api.DashboardView.as_view(), name="api-dashboard"),
    path(
        "projects/<int:project_id>/judgments/", project_api.JudgmentListView.as_view(), name="api-judgments"
    ),
    path("projects/<int:project_id>/audit/", project_api.AuditListView.as_view(), name="api-audit"),
    path("assignments/<int:assignment_id>/skip/", queue_api.SkipView.as_view(), name="api-skip"),
]


urlpatterns += [
    path("projects/<int:project_id>/agreement/", quality_api.AgreementView.as_view(), name="api-agreement"),
    path(
        "projects/<int:project_id>/agreement/recompute/",
        quality_api.AgreementRecomputeView.as_view(),
        name="api-agreement-recompute",
    ),
    path(
        "projects/<int:project_id>/disagreements/",
        quality_api.DisagreementListView.as_view(),
        name="api-disagreements",
    ),
    path("items/<int:item_id>/adjudicate/", quality_api.AdjudicateView.as_view(), name="api-adjudicate"),
    path("items/<int:item_id>/gold/", quality_api.GoldView.as_view(), name="api-gold"),
    path(
        "items/<int:item_id>/more-annotators/",
        quality_api.MoreAnnotatorsView.as_view(),
        name="api-more-annotators",
    ),
]

urlpatterns += [
    path("projects/<int:project_id>/samples/ingest/", al_api.IngestView.as_view(), name="api-samples-ingest"),
    path("projects/<int:project_id>/samples/import/", al_api.ImportView.as_view(), name="api-samples-import"),
    path("projects/<int:project_id>/samples/", al_api.SampleListView.as_view(), name="api-samples"),
    path(
        "projects/<int:project_id>/samples/<int:sample_id>/",
        al_api.SampleDetailView.as_view(),
        name="api-sample",
    ),
    path("projects/<int:project_id>/samples/score/", al_api.ScoreView.as_view(), name="api-samples-score"),
    path("projects/<int:project_id>/selections/", al_api.SelectionView.as_view(), name="api-selections"),
    path("projects/<int:project_id>/coverage/", al_api.CoverageView.as_view(), name="api-coverage"),
    path(
        "projects/<int:project_id>/ingest-tokens/", al_api.TokenListView.as_view(), name="api-ingest-tokens"
    ),
    path(
        "projects/<int:project_id>/ingest-tokens/<int:token_id>/",
        al_api.TokenDetailView.as_view(),
        name="api-ingest-token",
    ),
    path(
        "projects/<int:project_id>/active-learning/settings/",
        al_api.SettingsView.as_view(),
        name="api-al-settings",
    ),
    path(
        "projects/<int:project_id>/quality-models/",
        al_api.QualityModelListView.as_view(),
        name="api-quality-models",
    ),
]
