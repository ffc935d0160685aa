"""REST API of active learning: ingest (a project ingest token or a lead's API token), samples and
their scores, scoring, selection with batch outcomes, coverage, ingest tokens (create, list,
revoke), the project's settings, quality models. Annotators get 403 on all of it, outsiders 404."""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.active_learning import configure, ingest, records, selecting, selectors, tasks
from annotation.active_learning import serializers as s
from annotation.active_learning.models import ProductionSample, ProjectIngestToken, QualityModel
from annotation.active_learning.scores import project_settings
from annotation.core import broker
from annotation.core.api import ProjectScoped, validated
from annotation.core.auth import CachedTokenAuthentication
from annotation.core.parsers import JSONParser
from annotation.core.web import query_choice


class IngestTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` or `X-Tuneloop-Ingest-Token: <token>`: a project ingest token.
    Authenticates no user: request.auth is the token (the view checks its project)."""

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        secret = (
            header[7:].strip()
            if header.startswith("Bearer ")
            else request.headers.get("X-Tuneloop-Ingest-Token", "")
        )
        if not secret:
            return None
        token = ingest.token_for(secret)
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked ingest token.")
        return (AnonymousUser(), token)

    def authenticate_header(self, request):
        return "Bearer"


class IngestTokenScheme(OpenApiAuthenticationExtension):
    target_class = IngestTokenAuthentication
    name = "ingestToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A project ingest token (tlk_...)."}


class IngestAccess(ProjectScoped):
    """A project ingest token for this project, or a user who may ingest (lead)."""

    authentication_classes = [IngestTokenAuthentication, CachedTokenAuthentication, SessionAuthentication]
    permission_classes = []

    def ingest_target(self):
        token = self.request.auth if isinstance(self.request.auth, ProjectIngestToken) else None
        if token is not None:
            if token.project_id != int(self.kwargs["project_id"]):
                raise exceptions.NotFound("No such project.")
            return token.project, token, None
        if not getattr(self.request.user, "is_authenticated", False):
            raise exceptions.NotAuthenticated()
        return self.project_for("ingest_samples"), None, self.request.user


@extend_schema(tags=["active learning"])
class IngestView(IngestAccess, APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Ingest up to 1,000 production samples, all or nothing; exact duplicates skipped and counted.",
        request=s.IngestBatchSerializer,
        responses={201: s.IngestResultSerializer},
    )
    def post(self, request, project_id):
        project, token, user = self.ingest_target()
        body = request.data if isinstance(request.data, dict) else {"samples": request.data}
        data = validated(s.IngestBatchSerializer, body)
        parsed = records.parse_rows(data["samples"])
        result = ingest.ingest(project=project, records=parsed, actor=user, token=token, source="api")
        return Response(result.as_dict(), status=201)


@extend_schema(tags=["active learning"])
class ImportView(IngestAccess, APIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        summary="Import production samples from JSONL or CSV (file or `data`), all or nothing.",
        request={"multipart/form-data": s.IngestFileSerializer, "application/json": s.IngestFileSerializer},
        responses={201: s.IngestResultSerializer},
    )
    def post(self, request, project_id):
        project, token, user = self.ingest_target()
        data = validated(s.IngestFileSerializer, request.data)
        upload = data.get("file")
        if upload is not None:
            if upload.size is not None and upload.size > settings.TUNELOOP_MAX_IMPORT_BYTES:
                raise records.ImportFailed(
                    [
                        records.ImportIssue(
                            0, "file", f"Larger than {settings.TUNELOOP_MAX_IMPORT_BYTES} bytes."
                        )
                    ]
                )
            raw, name = upload.read(), upload.name or ""
            head = raw[:500].decode("utf-8", "ignore")
        else:
            raw, name = data["data"], ""
            head = raw[:500]
        fmt = data.get("format") or records.detect_format(name, head)
        parsed = records.parse_text(raw, fmt=fmt)
        result = ingest.ingest(project=project, records=parsed, actor=user, token=token, source=name or "api")
        return Response(result.as_dict(), status=201)


@extend_schema(
    tags=["active learning"], summary="Production samples with their latest scores (explorer filters)."
)
class SampleListView(ProjectScoped, generics.ListAPIView):
    serializer_class = s.SampleSerializer

    def get_queryset(self):
        if self.schema_only:
            return ProductionSample.objects.none()
        project = self.project_for("view_production")
        selectors.check_filters(self.request)
        qs, _ = selectors.filtered_samples(project, self.request.query_params)
        order = "-priority" if query_choice(self.request, "order", ("priority", "id")) == "priority" else "id"
        return qs.order_by(order, "id")


@extend_schema(tags=["active learning"], summary="One sample with every score, per model version.")
class SampleDetailView(ProjectScoped, generics.RetrieveAPIView):
    serializer_class = s.SampleDetailSerializer

    def get_object(self):
        project = self.project_for("view_production")
        sample = (
            ProductionSample.objects.filter(project=project, pk=self.kwargs["sample_id"])
            .prefetch_related("scores")
            .first()
        )
        if sample is None:
            raise exceptions.NotFound("No such sample.")
        return sample


@extend_schema(tags=["active learning"])
class ScoreView(ProjectScoped, APIView):
    @extend_schema(
        summary="Queue scoring of the backlog (embeddings, uncertainty; margins and a quality retrain on request).",
        request=s.ScoreRequestSerializer,
        responses={202: None},
    )
    def post(self, request, project_id):
        project = self.project_for("select_samples")
        data = validated(s.ScoreRequestSerializer, request.data)
        if data["retrain"]:
            broker.send_on_commit(tasks.retrain_quality, [project.pk, True])
        transaction.on_commit(
            lambda: tasks.queue_scoring(project, workers=data["workers"], margin=data["margin"])
        )
        return Response({"queued": True}, status=202)


@extend_schema(tags=["active learning"])
class SelectionView(ProjectScoped, APIView):
    @extend_schema(
        summary="Selection batches with their outcomes.",
        responses={200: s.BatchOutcomeSerializer(many=True)},
    )
    def get(self, request, project_id):
        project = self.project_for("view_production")
        return Response(s.BatchOutcomeSerializer(selectors.batch_outcomes(project), many=True).data)

    @extend_schema(
        summary="Select samples for review by a strategy within a budget (leads).",
        request=s.SelectRequestSerializer,
        responses={201: s.BatchSerializer},
    )
    def post(self, request, project_id):
        project = self.project_for("select_samples")
        data = validated(s.SelectRequestSerializer, request.data)
        data.setdefault("output", project_settings(project)["default_output"])
        batch = selecting.select(project=project, actor=request.user, **data)
        if selecting.needs_generation(batch):
            broker.send_on_commit(tasks.materialize_batch, [batch.pk])
        return Response(s.BatchSerializer(batch).data, status=201)


@extend_schema(tags=["active learning"])
class CoverageView(ProjectScoped, APIView):
    @extend_schema(
        summary="The latest coverage report (clusters least covered by training data first).",
        responses={200: dict},
    )
    def get(self, request, project_id):
        project = self.project_for("view_production")
        report = project.coverage_reports.first()
        return Response(
            {
                "computed_at": report.computed_at if report else None,
                **(report.data if report else {"clusters": []}),
            }
        )

    @extend_schema(
        summary="Recompute the coverage report now.",
        request=None,
        responses={201: dict},
    )
    def post(self, request, project_id):
        project = self.project_for("view_production")
        report = selectors.compute_coverage(project)
        return Response({"computed_at": report.computed_at, **report.data}, status=201)


@extend_schema(tags=["active learning"])
class TokenListView(ProjectScoped, APIView):
    @extend_schema(
        summary="The project's ingest tokens (never the secrets).",
        responses={200: s.IngestTokenSerializer(many=True)},
    )
    def get(self, request, project_id):
        project = self.project_for("manage_ingest_tokens")
        return Response(s.IngestTokenSerializer(project.ingest_tokens.all(), many=True).data)

    @extend_schema(
        summary="Create an ingest token; the secret is in this response only.",
        request=s.IngestTokenCreateSerializer,
        responses={201: dict},
    )
    def post(self, request, project_id):
        project = self.project_for("manage_ingest_tokens")
        data = validated(s.IngestTokenCreateSerializer, request.data)
        token, secret = ingest.create_token(project=project, actor=request.user, name=data["name"])
        return Response({**s.IngestTokenSerializer(token).data, "token": secret}, status=201)


@extend_schema(tags=["active learning"])
class TokenDetailView(ProjectScoped, APIView):
    @extend_schema(
        summary="Revoke an ingest token (it stops authenticating at once; the row stays, audited).",
        responses={200: s.IngestTokenSerializer},
    )
    def delete(self, request, project_id, token_id):
        project = self.project_for("manage_ingest_tokens")
        token = project.ingest_tokens.filter(pk=token_id).first()
        if token is None:
            raise exceptions.NotFound("No such ingest token.")
        ingest.revoke_token(token=token, actor=request.user)
        return Response(s.IngestTokenSerializer(token).data)


@extend_schema(tags=["active learning"])
class SettingsView(ProjectScoped, APIView):
    @extend_schema(
        summary="The project's active-learning settings (defaults filled in).",
        responses={200: s.SettingsSerializer},
    )
    def get(self, request, project_id):
        project = self.project_for("view_production")
        return Response(project_settings(project))

    @extend_schema(
        summary="Change some active-learning settings (leads); weights merge into the project's own.",
        request=s.SettingsSerializer,
        responses={200: s.SettingsSerializer},
    )
    def patch(self, request, project_id):
        project = self.project_for("configure_active_learning")
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["An object of settings."]})
        return Response(configure.update(project=project, actor=request.user, changes=dict(request.data)))


@extend_schema(tags=["active learning"], summary="Quality models: labels and held-out accuracy.")
class QualityModelListView(ProjectScoped, generics.ListAPIView):
    serializer_class = s.QualityModelSerializer

    def get_queryset(self):
        if self.schema_only:
            return QualityModel.objects.none()
        return QualityModel.objects.filter(project=self.project_for("view_production"))
