from django.urls import path

from . import views

app_name = "preferences"
urlpatterns = [
    path("projects/<int:pk>/compare/", views.compare, name="compare"),
    path("assignments/<int:pk>/compare/submit/", views.compare_submit, name="compare-submit"),
    path("assignments/<int:pk>/compare/skip/", views.compare_skip, name="compare-skip"),
    path("assignments/<int:pk>/compare/diff/", views.compare_diff, name="compare-diff"),
    path("projects/<int:pk>/pairs/", views.pairs, name="pairs"),
    path("projects/<int:pk>/pairs/recompute/", views.recompute, name="recompute"),
    path("projects/<int:pk>/pairs/bulk/", views.pairs_bulk, name="pairs-bulk"),
    path("pairs/<int:pk>/", views.pair_update, name="pair-update"),
    path("projects/<int:pk>/leaderboard/", views.leaderboard, name="leaderboard"),
]
