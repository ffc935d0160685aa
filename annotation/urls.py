from django.urls import path

from annotation.active_learning import views as al_views
from annotation.importing import views as import_views
from annotation.people import views as people_views
from annotation.projects import views as project_views
from annotation.projects import views_rubric as rubric_views
from annotation.quality import views as quality_views
from annotation.quality import views_items, views_mywork
from annotation.review import views as review_views

app_name = "annotation"
urlpatterns = [
    path("", project_views.project_list, name="project-list"),
    path("projects/<int:pk>/review/", review_views.review, name="review"),
    path("assignments/<int:pk>/submit/", review_views.submit, name="submit"),
    path("assignments/<int:pk>/skip/", review_views.skip, name="skip"),
    path("projects/<int:pk>/me/", views_mywork.my_work, name="my-work"),
    path("projects/<int:pk>/dashboard/", project_views.dashboard, name="dashboard"),
    path("projects/<int:pk>/members/", project_views.members, name="members"),
    path("projects/<int:pk>/members/remove/", project_views.member_remove, name="member-remove"),
    path("projects/<int:pk>/members/accounts/", project_views.member_accounts, name="member-accounts"),
    path(
        "projects/<int:pk>/members/invitations/<int:invitation_id>/revoke/",
        project_views.invitation_revoke,
        name="invitation-revoke",
    ),
    path("invite/<str:token>/", people_views.accept_invitation, name="invite"),
    path("projects/<int:pk>/rubric/", rubric_views.rubric, name="rubric"),
    path("projects/<int:pk>/rubric/builder/", rubric_views.rubric_builder, name="rubric-builder"),
    path("projects/<int:pk>/rubric/preview/", rubric_views.rubric_preview, name="rubric-preview"),
    path("projects/<int:pk>/rubric/compare/", rubric_views.rubric_compare, name="rubric-compare"),
    path(
        "projects/<int:pk>/rubric/versions/<int:version_pk>.json",
        rubric_views.rubric_export,
        name="rubric-export",
    ),
    path("projects/<int:pk>/import/", import_views.import_items, name="import"),
    path("projects/<int:pk>/import/jobs/<int:job_pk>/", import_views.import_job, name="import-job"),
    path("projects/<int:pk>/import/external/", import_views.import_external, name="import-external"),
    path("projects/<int:pk>/audit/", project_views.audit, name="audit"),
    path("projects/<int:pk>/settings/", project_views.project_settings, name="settings"),
]


urlpatterns += [
    path("projects/<int:pk>/agreement/", quality_views.agreement, name="agreement"),
    path("recomputes/<int:pk>/progress/", quality_views.recompute_progress, name="recompute-progress"),
    path("projects/<int:pk>/agreement/<str:table>.csv", quality_views.agreement_csv, name="agreement-csv"),
    path("projects/<int:pk>/disagreements/", quality_views.disagreements, name="disagreements"),
    path("projects/<int:pk>/rubric/requeue/", quality_views.requeue_outdated, name="rubric-requeue"),
    path("items/<int:pk>/adjudicate/", quality_views.adjudicate, name="adjudicate"),
    path("projects/<int:pk>/items/", views_items.items, name="items"),
    path("items/<int:pk>/gold/", quality_views.item_gold, name="item-gold"),
]

urlpatterns += [
    path("projects/<int:pk>/production/", al_views.explorer, name="production"),
    path("projects/<int:pk>/production/<int:sample_id>/", al_views.sample_detail, name="production-sample"),
    path("projects/<int:pk>/production/select/", al_views.select, name="production-select"),
    path("projects/<int:pk>/production/score/", al_views.score, name="production-score"),
    path("projects/<int:pk>/production/scoring/", al_views.scoring, name="production-scoring"),
    path("projects/<int:pk>/production/import/", al_views.import_samples, name="production-import"),
    path("projects/<int:pk>/production/tokens/", al_views.create_token, name="production-token"),
    path(
        "projects/<int:pk>/production/tokens/<int:token_id>/revoke/",
        al_views.revoke_token,
        name="production-token-revoke",
    ),
    path("projects/<int:pk>/production/settings/", al_views.update_settings, name="production-settings"),
    path("projects/<int:pk>/coverage/", al_views.coverage, name="coverage"),
]
