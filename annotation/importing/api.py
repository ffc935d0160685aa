"""REST API of item import."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core.api import ProjectScoped, error_responses, validated
from annotation.core.parsers import JSONParser
from annotation.importing import external, serializers, services
from annotation.importing.parse import ImportFailed, ImportIssue, detect_format, parse_items


@extend_schema(tags=["items"])
class ImportView(ProjectScoped, APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    kind = None  # a subclass that imports one kind only (another app's import of its kind) sets it

    @extend_schema(
        summary="Import items from JSONL or CSV, all or nothing; exact duplicates are skipped.",
        request={
            "multipart/form-data": serializers.ImportRequestSerializer,
            "application/json": serializers.ImportRequestSerializer,
        },
        responses={
            201: serializers.ImportResultSerializer,
            400: OpenApiResponse(serializers.ImportErrorSerializer, description="Nothing was imported."),
            **error_responses(403, 404),
        },
    )
    def post(self, request, project_id):
        project = self.project_for("import_items")
        data = validated(serializers.ImportRequestSerializer, request.data)
        upload = data.get("file")
        if upload is not None:
            if upload.size is not None and upload.size > settings.TUNELOOP_MAX_IMPORT_BYTES:
                raise ImportFailed(
                    [ImportIssue(0, "file", f"Larger than {settings.TUNELOOP_MAX_IMPORT_BYTES} bytes.")]
                )
            raw, name = upload.read(), upload.name or ""
            text_head = raw[:1000].decode("utf-8", errors="ignore")
        else:
            raw, name = data["data"], ""
            text_head = raw[:1000]
        fmt = data.get("format") or detect_format(name, text_head)
        parsed = parse_items(raw, fmt=fmt, mapping=data.get("mapping") or {}, kind=self.kind or data["kind"])
        if not parsed.ok:
            raise ImportFailed(parsed.errors)
        result = services.import_items(
            project=project, actor=request.user, records=parsed.records, source=name or "api"
        )
        return Response(result.as_dict(), status=201)


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
            **error_responses(403, 404),
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
