"""URLs of the preferences API, included at /api/ by config.urls (before the annotation API)."""

from django.urls import path

from . import api

urlpatterns = [
    path(
        "projects/<int:project_id>/comparisons/import/",
        api.ComparisonImportView.as_view(),
        name="api-comparison-import",
    ),
    path("projects/<int:project_id>/pairs/", api.PairListView.as_view(), name="api-pairs"),
    path("projects/<int:project_id>/pairs/bulk/", api.PairBulkView.as_view(), name="api-pairs-bulk"),
    path("pairs/<int:pair_id>/", api.PairDetailView.as_view(), name="api-pair"),
    path("projects/<int:project_id>/consensus/", api.ConsensusView.as_view(), name="api-consensus"),
    path("projects/<int:project_id>/leaderboard/", api.LeaderboardView.as_view(), name="api-leaderboard"),
]
