"""The export API (lead and up): export a snapshot or a live view as a job, its progress and zip, the
Hub push, and the diff of two snapshots. Outsiders 404, members below lead 403, bad input 400 with
field messages. The API always answers with a job (poll `GET /api/exports/{id}/`); without a worker
the job has already run."""

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core import idempotency
from annotation.core.api import ProjectScoped, object_for, validated
from annotation.core.errors import InvalidInput
from annotation.core.web import query_int

from . import exports, runs
from . import serializers as s
from .access import TRAIN_ACTION as TRAIN
from .access import VIEW_ACTION as VIEW
from .models import DatasetSnapshot, ExportJob


def _job_response(job, status=200):
    return Response(s.ExportJobSerializer(job).data, status=status)


@extend_schema(tags=["export"])
class SnapshotExportView(APIView):
    @extend_schema(
        summary="Export a snapshot (layout x format, provenance columns or not) as a job.",
        request=s.ExportCreateSerializer,
        responses={201: s.ExportJobSerializer},
    )
    @idempotency.idempotent
    def post(self, request, snapshot_id):
        snapshot = object_for(request, DatasetSnapshot.objects, snapshot_id, TRAIN)
        data = validated(s.ExportCreateSerializer, request.data)
        job = runs.request_export(
            snapshot=snapshot, actor=request.user, layout=data["layout"], fmt=data["format"],
            provenance=data["provenance"],
        )  # fmt: skip
        return _job_response(job, 201)


@extend_schema(tags=["export"])
class ProjectExportView(ProjectScoped, APIView):
    @extend_schema(
        summary='Snapshot a live view ({"from": "pairs"|"sft"|"judgments", "status": "approved", "filters"}) '
        "and export it in one go; the job starts when the snapshot is built.",
        request=s.ProjectExportCreateSerializer,
        responses={201: s.ExportJobSerializer},
    )
    @idempotency.idempotent
    def post(self, request, project_id):
        project = self.project_for(TRAIN)
        data = validated(s.ProjectExportCreateSerializer, request.data)
        snapshot = runs.snapshot_for_export(
            project=project, actor=request.user, source=data["from"],
            filters={**data["filters"], "status": data["status"]},
        )  # fmt: skip
        job = runs.request_export(
            snapshot=snapshot, actor=request.user, layout=data["layout"], fmt=data["format"],
            provenance=data["provenance"],
        )  # fmt: skip
        return _job_response(job, 201)


@extend_schema(tags=["export"])
class ExportDetailView(APIView):
    @extend_schema(summary="An export job: state, progress, size.", responses={200: s.ExportJobSerializer})  # fmt: skip
    def get(self, request, export_id):
        return _job_response(object_for(request, ExportJob.objects, export_id, VIEW))


@extend_schema(tags=["export"])
class ExportDownloadView(APIView):
    @extend_schema(
        summary="The finished export as a zip (files per split and README.md); 404 until it is done.",
        responses={200: bytes},
    )
    def get(self, request, export_id):
        job = object_for(request, ExportJob.objects, export_id, VIEW)
        path = exports.job_file(job)
        if path is None:
            raise NotFound("This export has no file (yet).")
        return FileResponse(
            open(path, "rb"), as_attachment=True, filename=path.name, content_type="application/zip"
        )


@extend_schema(tags=["export"])
class ExportPushView(APIView):
    @extend_schema(
        summary="Push a finished Hugging Face folder export to the Hub (needs TUNELOOP_HF_TOKEN).",
        request=s.ExportPushSerializer,
        responses={200: s.ExportJobSerializer},
    )
    def post(self, request, export_id):
        job = object_for(request, ExportJob.objects, export_id, TRAIN)
        data = validated(s.ExportPushSerializer, request.data)
        job = runs.push_export(job=job, actor=request.user, repo_id=data["repo_id"], private=data["private"])
        return _job_response(job)


@extend_schema(tags=["export"])
class SnapshotDiffView(APIView):
    @extend_schema(
        summary="Rows added, removed and changed (by source) from snapshot {snapshot_id} to {other_id}; "
        "both of one project.",
        responses={200: s.SnapshotDiffSerializer},
    )
    def get(self, request, snapshot_id, other_id=None):
        old = object_for(request, DatasetSnapshot.objects, snapshot_id, VIEW)
        other_id = other_id or query_int(request, "against")
        if not other_id:
            raise InvalidInput(errors={"against": ["Name the snapshot to compare with."]})
        new = object_for(request, DatasetSnapshot.objects, other_id, VIEW)
        if new.project_id != old.project_id:
            raise NotFound("No such snapshot in this project.")
        return Response(exports.diff(old, new))


@extend_schema(tags=["export"])
class SnapshotDiffAgainstView(SnapshotDiffView):
    @extend_schema(
        operation_id="snapshots_diff_against",
        summary="The same diff, the other snapshot named by ?against=.",
        parameters=[OpenApiParameter("against", int, required=True)],
        responses={200: s.SnapshotDiffSerializer},
    )
    def get(self, request, snapshot_id):
        return super().get(request, snapshot_id)
