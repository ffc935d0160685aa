"""The preferences REST API: comparison import, curated pairs, consensus and the leaderboard.

Same conventions as `annotation.api`: token auth, 404 for a project the caller cannot see, 403 for an
action their role does not allow, JSON errors with field messages. Comparisons are judged through the
annotation queue endpoints (`GET /api/projects/{id}/next/?kind=comparison`, then
`POST /api/assignments/{id}/submit/` with `payload` in display slots, see `preferences.payload`).
"""

import math

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core import idempotency
from annotation.core.api import ProjectScoped, validated
from annotation.core.parsers import JSONParser
from annotation.core.permissions import can, visible_projects
from annotation.importing import serializers as import_serializers
from annotation.importing.api import ImportView
from annotation.models import ItemKind

from . import curation, selectors, services, tasks
from . import serializers as s
from .models import PreferencePair


@extend_schema(tags=["preferences"])
class ComparisonImportView(ImportView):
    """The item import with the kind fixed to comparison: `responses: [{text, model}, ...]` per line."""

    kind = ItemKind.COMPARISON

    @extend_schema(
        summary="Import comparisons (JSONL or CSV with `prompt` or `messages` and `responses`), all or nothing.",
        request={
            "multipart/form-data": import_serializers.ImportRequestSerializer,
            "application/json": import_serializers.ImportRequestSerializer,
        },
        responses={
            201: import_serializers.ImportResultSerializer,
            400: OpenApiResponse(
                import_serializers.ImportErrorSerializer, description="Nothing was imported."
            ),
        },
    )
    def post(self, request, project_id):
        return super().post(request, project_id)


@extend_schema(tags=["preferences"])
class PairListView(ProjectScoped, generics.ListAPIView):
    serializer_class = s.PairSerializer

    def get_queryset(self):
        if self.schema_only:
            return PreferencePair.objects.none()
        project = self.project_for("adjudicate")
        query = s.PairQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.candidate_pairs(project, **query.selector_kwargs())

    @extend_schema(
        summary="Curated preference pairs, most confident first, with how many annotators reported the "
        "chosen response harmful (lead or admin).",
        parameters=[s.PairQuerySerializer],
        responses={200: s.PairSerializer},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


PAIR_ID = OpenApiParameter("pair_id", OpenApiTypes.INT, OpenApiParameter.PATH)


@extend_schema(tags=["preferences"], parameters=[PAIR_ID])
class PairDetailView(APIView):
    def _pair(self, pair_id) -> PreferencePair:
        pair = PreferencePair.objects.select_related("project").filter(pk=pair_id).first()
        if pair is None or not visible_projects(self.request.user).filter(pk=pair.project_id).exists():
            raise NotFound("No such pair.")
        return pair

    @extend_schema(summary="One pair (lead or admin).", responses={200: s.PairSerializer})
    def get(self, request, pair_id):
        pair = self._pair(pair_id)
        if not can(request.user, "adjudicate", pair.project):
            return Response({"detail": "Only leads curate pairs.", "code": "forbidden"}, status=403)
        return Response(
            s.PairSerializer(selectors.candidate_pairs(pair.project, include_stale=True).get(pk=pair.pk)).data
        )

    @extend_schema(
        summary="Approve, exclude or reset a pair, optionally editing its chosen text (lead or admin).",
        request=s.PairUpdateSerializer,
        responses={200: s.PairSerializer},
    )
    def post(self, request, pair_id):
        pair = self._pair(pair_id)
        data = validated(s.PairUpdateSerializer, request.data)
        pair = services.set_pair_status(
            pair=pair, actor=request.user, status=data["status"], chosen_text=data.get("chosen_text")
        )
        return Response(
            s.PairSerializer(selectors.candidate_pairs(pair.project, include_stale=True).get(pk=pair.pk)).data
        )


@extend_schema(tags=["preferences"])
class PairBulkView(ProjectScoped, APIView):
    # JSON only: a form-encoded `filters=...` is not a nested object to DRF, so it was dropped in
    # silence and a threshold approval widened to every candidate of the project
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Approve or exclude many pairs at once (lead or admin): `ids`, or every candidate "
        "matching `filters` with confidence >= `min_confidence` (approve only). One audit event; a "
        "bulk approval leaves out pairs most judges reported harmful.",
        request=s.PairBulkSerializer,
        responses={200: s.PairBulkResultSerializer},
    )
    @idempotency.idempotent
    def post(self, request, project_id):
        project = self.project_for("adjudicate")
        data = validated(s.PairBulkSerializer, request.data)
        if "min_confidence" in data:
            filters = s.pair_selector_kwargs(data.get("filters") or {})
            result = curation.approve_confident(
                project=project, actor=request.user, min_confidence=data["min_confidence"], filters=filters
            )
        else:
            result = curation.curate_pairs(
                project=project, actor=request.user, action=data["action"], ids=data["ids"]
            )
        return Response(s.PairBulkResultSerializer(result.as_dict()).data)


@extend_schema(tags=["preferences"])
class ConsensusView(ProjectScoped, APIView):
    @extend_schema(
        summary="Recompute consensus and candidate pairs from the raw judgments (lead or admin): 200 with "
        "the stats when computed in the request, 202 when a worker computes it (only the comparisons "
        "changed since the last run with the same parameters unless `full`).",
        request=s.ConsensusRequestSerializer,
        responses={
            200: s.ConsensusResultSerializer,
            202: OpenApiResponse(description="Queued."),
        },
    )
    def post(self, request, project_id):
        project = self.project_for("adjudicate")
        data = validated(s.ConsensusRequestSerializer, request.data)
        rec = tasks.request_consensus(project=project, actor=request.user, **data)
        if rec.state != "done":
            return Response({"detail": "Queued.", "recompute": rec.pk, "state": rec.state}, status=202)
        return Response(s.ConsensusResultSerializer(rec.result).data)


@extend_schema(tags=["preferences"])
class LeaderboardView(ProjectScoped, APIView):
    @extend_schema(
        summary="Models ranked by Bradley-Terry strength with 95% intervals, win rates and position bias "
        "(lead or admin).",
        parameters=[s.LeaderboardQuerySerializer],
        responses={200: s.LeaderboardSerializer},
    )
    def get(self, request, project_id):
        project = self.project_for("view_dashboard")
        query = validated(s.LeaderboardQuerySerializer, request.query_params)
        board = _finite(selectors.leaderboard(project, baseline=query["baseline"]))
        return Response(s.LeaderboardSerializer(board).data)


def _finite(value):
    """NaN and infinities (an interval the bootstrap could not estimate) are not JSON: null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


__all__ = [
    "ComparisonImportView",
    "PairListView",
    "PairBulkView",
    "PairDetailView",
    "ConsensusView",
    "LeaderboardView",
]
