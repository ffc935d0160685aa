"""The training REST API: thin views over training.runs / training.registry (writes) and
training.selectors (reads).

A project the caller cannot see answers 404; a role below lead answers 403; bad filters or a bad
run config answer 400 with messages per field (annotation.core.api).
"""

from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core import idempotency
from annotation.core.api import ProjectScoped, object_for, validated
from annotation.core.errors import InvalidInput
from annotation.core.web import query_choice

from . import registry, runs, selectors, snapshots
from . import serializers as s
from .access import TRAIN_ACTION as TRAIN
from .access import VIEW_ACTION as VIEW
from .models import DatasetSnapshot, ModelVersion, Split, TrainingRun


@extend_schema(tags=["training"])
class SnapshotListView(ProjectScoped, generics.ListAPIView):
    serializer_class = s.SnapshotSerializer

    def get_queryset(self):
        if self.schema_only:
            return DatasetSnapshot.objects.none()
        return selectors.snapshots_for(self.project_for(VIEW))

    @extend_schema(summary="The project's dataset snapshots (lead and up).")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Queue a snapshot of approved data (state building; poll it until ready). 400 with field "
        "messages, or when no candidate passes the filters.",
        request=s.SnapshotCreateSerializer,
        responses={201: s.SnapshotSerializer},
    )
    @idempotency.idempotent
    def post(self, request, project_id):
        project = self.project_for(TRAIN)
        data = validated(s.SnapshotCreateSerializer, request.data)
        snapshot = runs.request_snapshot(project=project, actor=request.user, **data)
        return Response(s.SnapshotSerializer(snapshot).data, status=201)


@extend_schema(tags=["training"])
class SnapshotDetailView(APIView):
    @extend_schema(summary="One snapshot with its quality report.", responses={200: s.SnapshotSerializer})
    def get(self, request, snapshot_id):
        return Response(
            s.SnapshotSerializer(object_for(request, DatasetSnapshot.objects, snapshot_id, VIEW)).data
        )


@extend_schema(tags=["training"])
class SnapshotRowsView(APIView):
    @extend_schema(
        summary="The snapshot's rows as JSON lines (?split=train|validation).", responses={200: bytes}
    )
    def get(self, request, snapshot_id):
        snapshot = object_for(request, DatasetSnapshot.objects, snapshot_id, VIEW)
        split = query_choice(request, "split", Split.values, None)
        response = StreamingHttpResponse(
            snapshots.snapshot_jsonl(snapshot, split), content_type="application/x-ndjson"
        )
        response["Content-Disposition"] = f'attachment; filename="snapshot-{snapshot.pk}.jsonl"'
        return response


@extend_schema(tags=["training"])
class RunListView(ProjectScoped, generics.ListAPIView):
    serializer_class = s.RunSerializer

    def get_queryset(self):
        if self.schema_only:
            return TrainingRun.objects.none()
        return selectors.runs_for(self.project_for(VIEW))

    @extend_schema(summary="The project's training runs.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Validate a config against a snapshot and queue the run (400 with field messages).",
        request=s.RunCreateSerializer,
        responses={201: s.RunSerializer},
    )
    @idempotency.idempotent
    def post(self, request, project_id):
        project = self.project_for(TRAIN)
        data = validated(s.RunCreateSerializer, request.data)
        snapshot = selectors.snapshots_for(project).filter(pk=data["snapshot"]).first()
        if snapshot is None:
            raise InvalidInput(errors={"snapshot": ["No such snapshot in this project."]})
        run = runs.start_run(project=project, actor=request.user, snapshot=snapshot, config=data["config"])
        return Response(s.RunSerializer(run).data, status=201)


@extend_schema(tags=["training"])
class RunDetailView(APIView):
    @extend_schema(summary="A run: progress and every metric series.", responses={200: s.RunDetailSerializer})
    def get(self, request, run_id):
        return Response(s.RunDetailSerializer(object_for(request, TrainingRun.objects, run_id, VIEW)).data)


@extend_schema(tags=["training"])
class RunCancelView(APIView):
    @extend_schema(summary="Cancel a queued or running run (409 otherwise).", request=None,
                   responses={200: s.RunSerializer})  # fmt: skip
    def post(self, request, run_id):
        run = runs.cancel_run(run=object_for(request, TrainingRun.objects, run_id, TRAIN), actor=request.user)
        return Response(s.RunSerializer(run).data)


@extend_schema(tags=["training"])
class RunResumeView(APIView):
    @extend_schema(summary="Requeue an interrupted, failed or cancelled run from its last checkpoint.",
                   request=None, responses={200: s.RunSerializer})  # fmt: skip
    def post(self, request, run_id):
        run = runs.resume_run(run=object_for(request, TrainingRun.objects, run_id, TRAIN), actor=request.user)
        return Response(s.RunSerializer(run).data)


@extend_schema(tags=["training"])
class ModelVersionListView(ProjectScoped, generics.ListAPIView):
    serializer_class = s.ModelVersionSerializer

    def get_queryset(self):
        if self.schema_only:
            return ModelVersion.objects.none()
        return selectors.model_versions_for(self.project_for(VIEW))

    @extend_schema(summary="The project's model registry.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["training"])
class ModelVersionDownloadView(APIView):
    @extend_schema(
        summary="The version's adapter files as a zip (404 when they are not on this server).",
        responses={200: bytes},
    )
    def get(self, request, version_id):
        version = object_for(request, ModelVersion.objects, version_id, VIEW)
        archive = registry.model_archive(version)
        if archive is None:
            raise NotFound("The adapter files are not on this server.")
        return FileResponse(archive, as_attachment=True, filename=f"model-{version.pk}.zip")


@extend_schema(tags=["training"])
class ModelVersionPromoteView(APIView):
    @extend_schema(
        summary="Make this version the project's current model (lead and up).",
        request=None,
        responses={200: s.ModelVersionSerializer},
    )
    def post(self, request, version_id):
        version = registry.promote(
            object_for(request, ModelVersion.objects, version_id, TRAIN), by=request.user
        )
        return Response(s.ModelVersionSerializer(version, context={"request": request}).data)
