from django.urls import path

from . import views

app_name = "annotation"
urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("projects/<int:pk>/review/", views.review, name="review"),
    path("assignments/<int:pk>/submit/", views.submit, name="submit"),
    path("assignments/<int:pk>/skip/", views.skip, name="skip"),
    path("projects/<int:pk>/dashboard/", views.dashboard, name="dashboard"),
    path("projects/<int:pk>/members/", views.members, name="members"),
    path("projects/<int:pk>/members/remove/", views.member_remove, name="member-remove"),
    path("projects/<int:pk>/rubric/", views.rubric, name="rubric"),
    path("projects/<int:pk>/import/", views.import_items, name="import"),
    path("projects/<int:pk>/audit/", views.audit, name="audit"),
    path("projects/<int:pk>/settings/", views.project_settings, name="settings"),
]

from . import views_quality  # noqa: E402

urlpatterns += [
    path("projects/<int:pk>/agreement/", views_quality.agreement, name="agreement"),
    path("projects/<int:pk>/agreement/<str:table>.csv", views_quality.agreement_csv, name="agreement-csv"),
    path("projects/<int:pk>/disagreements/", views_quality.disagreements, name="disagreements"),
    path("projects/<int:pk>/rubric/requeue/", views_quality.requeue_outdated, name="rubric-requeue"),
    path("items/<int:pk>/adjudicate/", views_quality.adjudicate, name="adjudicate"),
    path("projects/<int:pk>/items/", views_quality.items, name="items"),
    path("items/<int:pk>/gold/", views_quality.item_gold, name="item-gold"),
]
