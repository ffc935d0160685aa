"""Quality API: agreement reports, the disagreement queue, adjudication, gold items, more annotators.

Thin views over annotation.adjudication / agreement_reports (writes) and selectors (reads); the same
404 / 403 rules as annotation.core.api (ProjectScoped).
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core.api import ProjectScoped, object_for, reject_nul, validated
from annotation.models import AdjudicationCategory, AdjudicationDecision, AgreementReport, Item
from annotation.quality import adjudication
from annotation.quality import selectors as quality_selectors
from annotation.quality import tasks as quality_tasks


class AgreementReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgreementReport
        fields = ["id", "project", "computed_at", "data"]
        read_only_fields = fields


class DisagreementSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True)
    state = serializers.CharField(read_only=True)
    n_judgments = serializers.IntegerField(read_only=True)
    prompt = serializers.CharField(source="prompt_text", read_only=True)

    class Meta:
        model = Item
        fields = ["id", "kind", "state", "priority", "extra_overlap", "n_judgments", "prompt"]
        read_only_fields = fields


class AdjudicateSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=AdjudicationDecision.choices)
    reason = serializers.CharField(max_length=10_000)
    category = serializers.ChoiceField(choices=AdjudicationCategory.choices)
    judgment = serializers.IntegerField(required=False, min_value=1)
    final = serializers.JSONField(required=False, validators=[reject_nul])
    more = serializers.IntegerField(required=False, min_value=1, max_value=adjudication.MAX_MORE, default=1)


class AdjudicationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField(source="item_id")
    item_state = serializers.CharField(source="item.state")
    decision = serializers.CharField()
    chosen_judgment = serializers.IntegerField(source="chosen_judgment_id", allow_null=True)
    final = serializers.JSONField()
    reason = serializers.CharField()
    category = serializers.CharField()
    created_at = serializers.DateTimeField()


class GoldSerializer(serializers.Serializer):
    is_gold = serializers.BooleanField(default=True)
    answer = serializers.JSONField(required=False, validators=[reject_nul])


class MoreSerializer(serializers.Serializer):
    n = serializers.IntegerField(min_value=1, max_value=adjudication.MAX_MORE, default=1)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")


class ItemStateSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True)
    state = serializers.CharField(read_only=True)

    class Meta:
        model = Item
        fields = ["id", "kind", "state", "extra_overlap", "is_gold", "gold_answer"]
        read_only_fields = fields


def _item_for(request, item_id, action="adjudicate") -> Item:
    return object_for(request, Item.objects, item_id, action, not_found="No such item.",
                      forbidden="Your role does not allow you to adjudicate.")  # fmt: skip


@extend_schema(tags=["quality"])
class AgreementView(ProjectScoped, APIView):
    @extend_schema(
        summary="The latest agreement report (lead or admin); 404 when none was computed yet.",
        responses={200: AgreementReportSerializer},
    )
    def get(self, request, project_id):
        project = self.project_for("view_dashboard")
        report = quality_selectors.latest_agreement_report(project)
        if report is None:
            raise NotFound("No agreement report yet; POST recompute/.")
        return Response(AgreementReportSerializer(report).data)


@extend_schema(tags=["quality"])
class AgreementRecomputeView(ProjectScoped, APIView):
    @extend_schema(
        summary="Recompute the agreement report: 201 with it, or 202 when a worker computes it.",
        request=None,
        responses={
            201: AgreementReportSerializer,
            202: OpenApiResponse(description="Queued."),
        },
    )
    def post(self, request, project_id):
        project = self.project_for("view_dashboard")
        done = quality_tasks.request_recompute(
            project=project, actor=request.user, full=bool(request.data.get("full"))
        )
        if done.outcome == "queued":
            return Response({"detail": "Queued.", "recompute": done.recompute.pk}, status=202)
        return Response(AgreementReportSerializer(done.report).data, status=201)


@extend_schema(tags=["quality"])
class DisagreementListView(ProjectScoped, generics.ListAPIView):
    serializer_class = DisagreementSerializer

    def get_queryset(self):
        if self.schema_only:
            return Item.objects.none()
        return quality_selectors.disagreements(self.project_for("adjudicate"))

    @extend_schema(summary="Disputed items waiting for a lead (lead or admin).")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["quality"])
class AdjudicateView(APIView):
    @extend_schema(
        summary="A lead's final word on an item: pick, override, edit_gold, more or discard.",
        request=AdjudicateSerializer,
        responses={201: AdjudicationSerializer},
    )
    def post(self, request, item_id):
        item = _item_for(request, item_id)
        data = validated(AdjudicateSerializer, request.data)
        done = adjudication.adjudicate(
            item=item,
            lead=request.user,
            decision=data["decision"],
            reason=data["reason"],
            category=data["category"],
            judgment_id=data.get("judgment"),
            final=data.get("final"),
            more=data["more"],
        )
        return Response(AdjudicationSerializer(done).data, status=201)


@extend_schema(tags=["quality"])
class GoldView(APIView):
    @extend_schema(
        summary="Mark an item gold with its known answer, or unmark it (is_gold false).",
        request=GoldSerializer,
        responses={200: ItemStateSerializer},
    )
    def post(self, request, item_id):
        item = _item_for(request, item_id)
        data = validated(GoldSerializer, request.data)
        item = adjudication.set_gold(
            item=item, actor=request.user, answer=data.get("answer"), is_gold=data["is_gold"]
        )
        return Response(ItemStateSerializer(item).data)


@extend_schema(tags=["quality"])
class MoreAnnotatorsView(APIView):
    @extend_schema(
        summary="Give an item n more annotator slots and put it back in the queue.",
        request=MoreSerializer,
        responses={200: ItemStateSerializer},
    )
    def post(self, request, item_id):
        item = _item_for(request, item_id)
        data = validated(MoreSerializer, request.data)
        item = adjudication.request_more_annotators(
            item=item, actor=request.user, n=data["n"], reason=data["reason"]
        )
        return Response(ItemStateSerializer(item).data)
