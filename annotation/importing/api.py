"""REST API of item import."""

import io

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core.api import ProjectScoped, validated
from annotation.core.parsers import JSONParser
from annotation.importing import bulk, external, jobs, serializers, tasks
from annotation.importing.parse import ImportFailed, ImportIssue, detect_format
from annotation.models import ImportJob


def job_url(job: ImportJob) -> str:
    return reverse("api-import-job", args=[job.project_id, job.pk])


@extend_schema(tags=["items"])
class ImportView(ProjectScoped, APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    kind = None  # a subclass that imports one kind only (another app's import of its kind) sets it

    @extend_schema(
        summary="Import items from JSONL or CSV, all or nothing; exact duplicates are skipped. A file "
        "upload larger than TUNELOOP_IMPORT_TASK_BYTES is imported by a task: 202 with the job's URL.",
        request={
            "multipart/form-data": serializers.ImportRequestSerializer,
            "application/json": serializers.ImportRequestSerializer,
        },
        responses={
            201: serializers.ImportResultSerializer,
            202: serializers.ImportJobSerializer,
            400: OpenApiResponse(serializers.ImportErrorSerializer, description="Nothing was imported."),
        },
    )
    def post(self, request, project_id):
        project = self.project_for("import_items")
        data = validated(serializers.ImportRequestSerializer, request.data)
        upload = data.get("file")
        mapping, kind = data.get("mapping") or {}, self.kind or data["kind"]
        if upload is not None:
            if upload.size is not None and upload.size > settings.TUNELOOP_MAX_IMPORT_BYTES:
                raise ImportFailed(
                    [ImportIssue(0, "file", f"Larger than {settings.TUNELOOP_MAX_IMPORT_BYTES} bytes.")]
                )
            name = upload.name or ""
            upload.seek(0)
            head = upload.read(1000).decode("utf-8", errors="ignore")
            upload.seek(0)
            fmt = data.get("format") or detect_format(name, head)
            if jobs.needs_job(upload.size):
                job = tasks.start_import(
                    project=project, actor=request.user, upload=upload, fmt=fmt, mapping=mapping, kind=kind
                )
                body = serializers.ImportJobSerializer(job, context={"url": job_url(job)}).data
                return Response(body, status=202, headers={"Location": job_url(job)})
            stream, size = upload.file, upload.size
        else:
            name, text = "", data["data"]
            fmt = data.get("format") or detect_format("", text[:1000])
            stream, size = io.StringIO(text), len(text)
        result = bulk.import_file(
            project=project, actor=request.user, stream=stream, fmt=fmt, mapping=mapping, kind=kind,
            source=name or "api", size=size,
        )  # fmt: skip
        return Response(result.as_dict(), status=201)


@extend_schema(tags=["items"])
class ImportJobView(ProjectScoped, APIView):
    @extend_schema(
        summary="An import job: its state and progress, then its result or the file's issues.",
        responses={200: serializers.ImportJobSerializer},
    )
    def get(self, request, project_id, job_id):
        project = self.project_for("import_items")
        job = ImportJob.objects.filter(project=project, pk=job_id).first()
        if job is None:
            raise NotFound("No such import job.")
        return Response(serializers.ImportJobSerializer(job, context={"url": job_url(job)}).data)


class ExternalImportView(ProjectScoped, APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        summary="Import a Label Studio export or a TRL preference dataset, with or without the other "
        "team's judgments (external); all or nothing.",
        request={
            "multipart/form-data": serializers.ExternalImportRequestSerializer,
            "application/json": serializers.ExternalImportRequestSerializer,
        },
        responses={
            201: serializers.ExternalImportResultSerializer,
            400: OpenApiResponse(serializers.ImportErrorSerializer, description="Nothing was imported."),
        },
    )
    def post(self, request, project_id):
        project = self.project_for("import_items")
        data = validated(serializers.ExternalImportRequestSerializer, request.data)
        upload = data.get("file")
        if upload is not None:
            if upload.size is not None and upload.size > settings.TUNELOOP_MAX_IMPORT_BYTES:
                raise ImportFailed(
                    [ImportIssue(0, "file", f"Larger than {settings.TUNELOOP_MAX_IMPORT_BYTES} bytes.")]
                )
            raw, name = upload.read(), upload.name or "api"
        else:
            raw, name = data["data"].encode(), "api.jsonl"
        parsed = external.parse_external(
            raw, name=name, fmt=data["format"], with_judgments=data["with_judgments"],
            source=data["source"],
        )  # fmt: skip
        result = external.import_interchange(
            project=project, actor=request.user, parsed=parsed, source=name[:200],
            with_judgments=data["with_judgments"],
        )  # fmt: skip
        return Response(result.as_dict(), status=201)
