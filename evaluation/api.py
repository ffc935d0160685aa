"""The evaluation REST API: thin views over evaluation.sets / runs / promotion.

A project the caller cannot see answers 404; a role below lead 403; bad input 400 with messages per
field (annotation.core.api); an import 400 with line-numbered errors."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core import idempotency
from annotation.core.api import ProjectScoped, object_for, validated
from annotation.core.errors import InvalidInput
from annotation.core.web import query_int
from training.models import ModelVersion

from . import campaign, promotion, sets
from . import runs as run_actions
from . import serializers as s
from .access import EVALUATE_ACTION as EVALUATE
from .access import VIEW_ACTION as VIEW
from .models import EvalRun, EvalSet


def _in_project(model, project, pk, field):
    obj = model.objects.filter(project=project, pk=pk).first() if pk is not None else None
    if pk is not None and obj is None:
        raise InvalidInput(errors={field: ["No such object in this project."]})
    return obj


@extend_schema(tags=["evaluation"])
class EvalSetListView(ProjectScoped, generics.ListAPIView):
    serializer_class = s.EvalSetSerializer

    def get_queryset(self):
        if self.schema_only:
            return EvalSet.objects.none()
        return EvalSet.objects.filter(project=self.project_for(VIEW))

    @extend_schema(summary="The project's eval sets (lead and up).")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create an eval set from held-out production samples or reviewed items never trained on.",
        request=s.EvalSetCreateSerializer,
        responses={201: s.EvalSetSerializer},
    )
    @idempotency.idempotent
    def post(self, request, project_id):
        project = self.project_for(EVALUATE)
        data = validated(s.EvalSetCreateSerializer, request.data)
        create = sets.create_from_production if data["source"] == "production" else sets.create_from_reviewed
        eval_set = create(project=project, actor=request.user, name=data["name"], limit=data["limit"])
        return Response(s.EvalSetSerializer(eval_set).data, status=201)


@extend_schema(tags=["evaluation"])
class EvalSetImportView(ProjectScoped, APIView):
    @extend_schema(
        summary="Import an eval set from JSONL (all or nothing; 400 lists each bad line and field).",
        request=s.EvalSetImportSerializer,
        responses={201: s.EvalSetSerializer},
    )
    @idempotency.idempotent
    def post(self, request, project_id):
        project = self.project_for(EVALUATE)
        data = validated(s.EvalSetImportSerializer, request.data)
        eval_set = sets.import_eval_set(
            project=project, actor=request.user, text=data["data"], name=data["name"]
        )
        return Response(s.EvalSetSerializer(eval_set).data, status=201)


@extend_schema(tags=["evaluation"])
class EvalSetLeakageView(APIView):
    @extend_schema(
        summary="Overlap of the set's prompts with a version's training snapshot (?version=id).",
        parameters=[OpenApiParameter("version", int, required=True)],
        responses={200: s.LeakageSerializer},
    )
    def get(self, request, set_id):
        eval_set = object_for(request, EvalSet.objects, set_id, VIEW)
        version_id = query_int(request, "version", -1)
        version = _in_project(ModelVersion, eval_set.project, version_id, "version")
        return Response(s.LeakageSerializer(sets.check_leakage(eval_set, version)).data)


@extend_schema(tags=["evaluation"])
class EvalRunListView(ProjectScoped, generics.ListAPIView):
    serializer_class = s.EvalRunSerializer

    def get_queryset(self):
        if self.schema_only:
            return EvalRun.objects.none()
        return EvalRun.objects.filter(project=self.project_for(VIEW))

    @extend_schema(summary="The project's eval runs.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Check leakage, then queue an eval run (on_leak=refuse answers 400 listing the overlaps).",
        request=s.EvalRunCreateSerializer,
        responses={201: s.EvalRunSerializer},
    )
    @idempotency.idempotent
    def post(self, request, project_id):
        project = self.project_for(EVALUATE)
        data = validated(s.EvalRunCreateSerializer, request.data)
        run = run_actions.start_eval_run(
            project=project, actor=request.user, version=_in_project(ModelVersion, project, data["version"], "version"),
            eval_set=_in_project(EvalSet, project, data["eval_set"], "eval_set"),
            against=_in_project(ModelVersion, project, data["against"], "against"),
            on_leak=data["on_leak"], config=data["config"],
        )  # fmt: skip
        return Response(s.EvalRunSerializer(run).data, status=201)


@extend_schema(tags=["evaluation"])
class EvalRunDetailView(APIView):
    @extend_schema(
        summary="An eval run: state and progress.",
        responses={200: s.EvalRunSerializer},
    )
    def get(self, request, run_id):
        return Response(s.EvalRunSerializer(object_for(request, EvalRun.objects, run_id, VIEW)).data)


@extend_schema(tags=["evaluation"])
class EvalRunCancelView(APIView):
    @extend_schema(summary="Cancel a queued or running eval run (409 otherwise).", request=None,
                   responses={200: s.EvalRunSerializer})  # fmt: skip
    def post(self, request, run_id):
        run = run_actions.cancel_eval_run(
            run=object_for(request, EvalRun.objects, run_id, EVALUATE), actor=request.user
        )
        return Response(s.EvalRunSerializer(run).data)


@extend_schema(tags=["evaluation"])
class EvalRunResumeView(APIView):
    @extend_schema(summary="Requeue an interrupted, failed or cancelled eval run (finished suites kept).",
                   request=None, responses={200: s.EvalRunSerializer})  # fmt: skip
    def post(self, request, run_id):
        run = run_actions.resume_eval_run(
            run=object_for(request, EvalRun.objects, run_id, EVALUATE), actor=request.user
        )
        return Response(s.EvalRunSerializer(run).data)


@extend_schema(tags=["evaluation"])
class EvalRunCampaignView(APIView):
    @extend_schema(summary="Start the blind comparison of a finished run's generations (409 if started).",
                   request=None, responses={201: OpenApiTypes.OBJECT})  # fmt: skip
    def post(self, request, run_id):
        run = object_for(request, EvalRun.objects, run_id, EVALUATE)
        return Response({"items": campaign.create_campaign(run=run, actor=request.user)}, status=201)


@extend_schema(tags=["evaluation"])
class EvalRunCampaignRefreshView(APIView):
    @extend_schema(summary="Recompute the campaign's win rate from the judgments so far.",
                   request=None, responses={200: OpenApiTypes.OBJECT})  # fmt: skip
    def post(self, request, run_id):
        run = object_for(request, EvalRun.objects, run_id, EVALUATE)
        return Response({"human": campaign.refresh_human(run)})


@extend_schema(tags=["evaluation"])
class EvalReportView(APIView):
    @extend_schema(
        summary="The version's latest eval report (schema tuneloop.eval-report/1; 404 before evaluation).",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, version_id):
        version = object_for(request, ModelVersion.objects, version_id, VIEW)
        if not version.eval_report:
            raise NotFound("This version has no eval report yet.")
        return Response(version.eval_report)


@extend_schema(tags=["evaluation"])
class GatesView(ProjectScoped, APIView):
    @extend_schema(
        summary="The project's promotion gates and baseline settings.", responses={200: s.GatesSerializer}
    )
    def get(self, request, project_id):
        return Response(s.GatesSerializer(promotion.gates_for(self.project_for(VIEW))).data)

    @extend_schema(
        summary="Replace the gates (a null threshold is not checked).",
        request=s.GatesSerializer,
        responses={200: s.GatesSerializer},
    )
    def put(self, request, project_id):
        project = self.project_for(EVALUATE)
        data = validated(s.GatesSerializer, request.data, partial=True)
        return Response(
            s.GatesSerializer(promotion.set_gates(project=project, actor=request.user, **data)).data
        )


@extend_schema(tags=["evaluation"])
class PromoteView(APIView):
    @extend_schema(
        summary="Promote the version if it passes the gates, or with override_reason (audited) if not.",
        request=s.PromoteSerializer,
        responses={201: s.PromotionSerializer},
    )
    def post(self, request, version_id):
        version = object_for(request, ModelVersion.objects, version_id, "train")
        data = validated(s.PromoteSerializer, request.data)
        done = promotion.promote(version=version, actor=request.user, override_reason=data["override_reason"])
        return Response(s.PromotionSerializer(done).data, status=201)


@extend_schema(tags=["evaluation"])
class RollbackView(APIView):
    @extend_schema(
        summary="Point the project back at this earlier, once promoted version.",
        request=None,
        responses={201: s.PromotionSerializer},
    )
    def post(self, request, version_id):
        version = object_for(request, ModelVersion.objects, version_id, "train")
        return Response(
            s.PromotionSerializer(promotion.rollback(version=version, actor=request.user)).data, status=201
        )
