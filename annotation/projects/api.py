"""REST API of projects, members, rubrics, items, dashboard, judgments and audit."""

from django.db.models import OuterRef, Prefetch, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core import idempotency
from annotation.core.api import ProjectScoped, validated
from annotation.core.permissions import visible_projects
from annotation.models import AuditEvent, Item, Judgment, Membership, Project, RubricVersion
from annotation.models import Response as ItemResponse
from annotation.projects import selectors, serializers, services
from annotation.quality import item_list
from annotation.queue import serializers as queue_serializers


def _projects_with_role(user):
    qs = visible_projects(user).distinct()
    if not user.is_superuser:
        role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
        qs = qs.annotate(my_role=Subquery(role))
    return qs.order_by("id")


@extend_schema(tags=["projects"])
class ProjectListView(generics.ListAPIView):
    serializer_class = serializers.ProjectSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        return _projects_with_role(self.request.user)

    @extend_schema(summary="Your projects (superusers: all).")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a project; you become its admin.",
        request=serializers.ProjectWriteSerializer,
        responses={201: serializers.ProjectSerializer},
    )
    @idempotency.idempotent
    def post(self, request):
        data = validated(serializers.ProjectWriteSerializer, request.data)
        project = services.create_project(created_by=request.user, **data)
        return Response(serializers.ProjectSerializer(project, context={"request": request}).data, status=201)


@extend_schema(tags=["projects"])
class ProjectDetailView(ProjectScoped, APIView):
    @extend_schema(summary="One project.", responses={200: serializers.ProjectSerializer})
    def get(self, request, project_id):
        project = self.project_for("view_project")
        return Response(serializers.ProjectSerializer(project, context={"request": request}).data)

    @extend_schema(
        summary="Change project settings (lead or admin).",
        request=serializers.ProjectWriteSerializer,
        responses={200: serializers.ProjectSerializer},
    )
    def patch(self, request, project_id):
        project = self.project_for("edit_project")
        data = validated(serializers.ProjectWriteSerializer, request.data, partial=True)
        project = services.update_project(project=project, actor=request.user, **data)
        return Response(serializers.ProjectSerializer(project, context={"request": request}).data)


@extend_schema(tags=["members"])
class MemberListView(ProjectScoped, generics.ListAPIView):
    serializer_class = serializers.MembershipSerializer

    def get_queryset(self):
        if self.schema_only:
            return Membership.objects.none()
        return selectors.members(self.project_for("manage_members"))

    @extend_schema(
        summary="Members and their roles (lead or admin).",
        responses={200: serializers.MembershipSerializer},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Add a member or change their role. Only admins grant or remove admin.",
        request=serializers.MembershipWriteSerializer,
        responses={
            200: serializers.MembershipSerializer,
            201: serializers.MembershipSerializer,
        },
    )
    def post(self, request, project_id):
        project = self.project_for("manage_members")
        data = validated(serializers.MembershipWriteSerializer, request.data)
        user = services.resolve_user(user_id=data.get("user"), username=data.get("username"))
        existed = Membership.objects.filter(project=project, user=user).exists()
        membership = services.set_membership(
            project=project, actor=request.user, user=user, role=data["role"]
        )
        return Response(serializers.MembershipSerializer(membership).data, status=200 if existed else 201)


@extend_schema(tags=["members"])
class MemberDetailView(ProjectScoped, APIView):
    @extend_schema(
        summary="Remove a member (lead or admin; only admins remove admins).",
        responses={204: None},
    )
    def delete(self, request, project_id, user_id):
        project = self.project_for("manage_members")
        user = services.resolve_user(user_id=user_id)
        services.remove_membership(project=project, actor=request.user, user=user)
        return Response(status=204)


@extend_schema(tags=["rubrics"])
class RubricVersionListView(ProjectScoped, generics.ListAPIView):
    serializer_class = serializers.RubricVersionSerializer

    def get_queryset(self):
        if self.schema_only:
            return RubricVersion.objects.none()
        return selectors.rubric_versions(self.project_for("view_project"))

    @extend_schema(summary="Rubric versions, newest first.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Save the rubric: always creates the next version (lead or admin).",
        request=serializers.RubricVersionWriteSerializer,
        responses={201: serializers.RubricVersionSerializer},
    )
    def post(self, request, project_id):
        project = self.project_for("edit_rubric")
        data = validated(serializers.RubricVersionWriteSerializer, request.data)
        version = services.create_rubric_version(project=project, actor=request.user, **data)
        return Response(serializers.RubricVersionSerializer(version).data, status=201)


class ItemPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema(tags=["items"])
class ItemListView(ProjectScoped, generics.ListAPIView):
    """The Items page's list: the same filters (annotation.quality.item_list), oldest first."""

    serializer_class = serializers.ItemSerializer
    pagination_class = ItemPagination

    def get_queryset(self):
        if self.schema_only:
            return Item.objects.none()
        project = self.project_for("view_items")
        query = validated(serializers.ItemListQuerySerializer, self.request.query_params)
        paging = ("page", "page_size")  # read by the paginator
        filters = item_list.ItemFilters(**{k: v for k, v in query.items() if v and k not in paging})
        return (
            item_list.filter_items(Item.objects.filter(project=project), filters)
            .prefetch_related(Prefetch("responses", queryset=ItemResponse.objects.order_by("position")))
            .order_by("id")
        )

    @extend_schema(
        summary="Items with their state and responses, searched and filtered as on the Items page (lead or admin).",
        parameters=[serializers.ItemListQuerySerializer],
        responses={200: serializers.ItemSerializer},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["progress"])
class DashboardView(ProjectScoped, APIView):
    @extend_schema(
        summary="Progress, per-annotator figures, throughput and time per item (lead or admin).",
        responses={200: serializers.DashboardSerializer},
    )
    def get(self, request, project_id):
        project = self.project_for("view_dashboard")
        return Response(serializers.DashboardSerializer(selectors.dashboard(project)).data)


@extend_schema(tags=["judgments"])
class JudgmentListView(ProjectScoped, generics.ListAPIView):
    serializer_class = queue_serializers.JudgmentSerializer

    def get_queryset(self):
        if self.schema_only:
            return Judgment.objects.none()
        project = self.project_for("view_own_judgments")
        return selectors.judgments_visible_to(self.request.user, project).order_by("-id")

    @extend_schema(summary="Judgments: all of them for leads, your own for annotators.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["audit"])
class AuditListView(ProjectScoped, generics.ListAPIView):
    serializer_class = serializers.AuditEventSerializer

    def get_queryset(self):
        if self.schema_only:
            return AuditEvent.objects.none()
        return selectors.audit_events(self.project_for("view_audit"), limit=None)

    @extend_schema(summary="The project's audit trail, newest first (lead or admin).")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
