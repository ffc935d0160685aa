"""The annotation REST API: thin views over `annotation.services` (writes) and `annotation.selectors` (reads).

Access: `annotation.permissions.can`. A project the caller cannot see answers 404 (its existence is
not revealed); an action their role does not allow answers 403. Errors are JSON with field messages
(`annotation.api_errors`).
"""

from django.conf import settings
from django.db.models import OuterRef, Prefetch, Subquery
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from . import serializers as s
from .importing import ImportFailed, ImportIssue, detect_format, parse_items
from .models import Assignment, AuditEvent, Item, Judgment, Membership, Project, RubricVersion
from .models import Response as ItemResponse
from .permissions import can, remember_role, visible_projects, with_caller_role

MAX_IMPORT_BYTES = getattr(settings, "TUNELOOP_MAX_IMPORT_BYTES", 100 * 1024 * 1024)
SLOTS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="Bad input; `errors` names the fields."),
    403: OpenApiResponse(s.ErrorSerializer, description="Your role does not allow this."),
    404: OpenApiResponse(s.ErrorSerializer, description="No such object, or not yours to see."),
}


def _errors(*codes):
    return {code: ERRORS[code] for code in codes}


# --- auth -----------------------------------------------------------------------------------


@extend_schema(
    tags=["auth"],
    auth=[],
    request=s.TokenRequestSerializer,
    responses={200: s.TokenSerializer, **_errors(400)},
    summary="Exchange a username and password for an API token.",
)
class TokenView(ObtainAuthToken):
    """POST username + password -> {"token": ...}. Send it as `Authorization: Token <token>`."""


# --- projects -------------------------------------------------------------------------------


class ProjectScoped:
    """Resolve `project_id` for the caller: 404 unless they may see it, 403 unless they may `action`."""

    @property
    def schema_only(self) -> bool:
        """drf-spectacular inspects views without a request user or project."""
        return getattr(self, "swagger_fake_view", False)

    def project_for(self, action: str = "view_project") -> Project:
        cached = getattr(self, "_project", None)
        if cached is None:
            user = self.request.user
            cached = (
                with_caller_role(Project.objects.select_related("latest_rubric_version"), user)
                .filter(pk=self.kwargs["project_id"])
                .first()
            )
            if cached is not None:
                remember_role(user, cached, cached)
            if cached is None or not can(user, "view_project", cached):
                raise NotFound("No such project.")
            self._project = cached
        if not can(self.request.user, action, cached):
            raise PermissionDenied(f"Your role does not allow you to {action.replace('_', ' ')}.")
        return cached


def _projects_with_role(user):
    qs = visible_projects(user).distinct()
    if not user.is_superuser:
        role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
        qs = qs.annotate(my_role=Subquery(role))
    return qs.order_by("id")


@extend_schema(tags=["projects"])
class ProjectListView(generics.ListAPIView):
    serializer_class = s.ProjectSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        return _projects_with_role(self.request.user)

    @extend_schema(summary="Your projects (superusers: all).")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a project; you become its admin.",
        request=s.ProjectWriteSerializer,
        responses={201: s.ProjectSerializer, **_errors(400)},
    )
    def post(self, request):
        data = _valid(s.ProjectWriteSerializer, request.data)
        project = services.create_project(created_by=request.user, **data)
        return Response(s.ProjectSerializer(project, context={"request": request}).data, status=201)


@extend_schema(tags=["projects"])
class ProjectDetailView(ProjectScoped, APIView):
    @extend_schema(summary="One project.", responses={200: s.ProjectSerializer, **_errors(404)})
    def get(self, request, project_id):
        project = self.project_for("view_project")
        return Response(s.ProjectSerializer(project, context={"request": request}).data)

    @extend_schema(
        summary="Change project settings (lead or admin).",
        request=s.ProjectWriteSerializer,
        responses={200: s.ProjectSerializer, **_errors(400, 403, 404)},
    )
    def patch(self, request, project_id):
        project = self.project_for("edit_project")
        data = _valid(s.ProjectWriteSerializer, request.data, partial=True)
        project = services.update_project(project=project, actor=request.user, **data)
        return Response(s.ProjectSerializer(project, context={"request": request}).data)


def _valid(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- members --------------------------------------------------------------------------------


@extend_schema(tags=["members"])
class MemberListView(ProjectScoped, generics.ListAPIView):
    serializer_class = s.MembershipSerializer

    def get_queryset(self):
        if self.schema_only:
            return Membership.objects.none()
        return selectors.members(self.project_for("manage_members"))

    @extend_schema(
        summary="Members and their roles (lead or admin).", responses={200: s.MembershipSerializer}
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Add a member or change their role. Only admins grant or remove admin.",
        request=s.MembershipWriteSerializer,
        responses={200: s.MembershipSerializer, 201: s.MembershipSerializer, **_errors(400, 403, 404)},
    )
    def post(self, request, project_id):
        project = self.project_for("manage_members")
        data = _valid(s.MembershipWriteSerializer, request.data)
        user = services.resolve_user(user_id=data.get("user"), username=data.get("username"))
        existed = Membership.objects.filter(project=project, user=user).exists()
        membership = services.set_membership(
            project=project, actor=request.user, user=user, role=data["role"]
        )
        return Response(s.MembershipSerializer(membership).data, status=200 if existed else 201)


@extend_schema(tags=["members"])
class MemberDetailView(ProjectScoped, APIView):
    @extend_schema(
        summary="Remove a member (lead or admin; only admins remove admins).",
        responses={204: None, **_errors(403, 404)},
    )
    def delete(self, request, project_id, user_id):
        project = self.project_for("manage_members")
        user = services.resolve_user(user_id=user_id)
        services.remove_membership(project=project, actor=request.user, user=user)
        return Response(status=204)


# --- rubrics --------------------------------------------------------------------------------


@extend_schema(tags=["rubrics"])
class RubricVersionListView(ProjectScoped, generics.ListAPIView):
    serializer_class = s.RubricVersionSerializer

    def get_queryset(self):
        if self.schema_only:
            return RubricVersion.objects.none()
        return selectors.rubric_versions(self.project_for("view_project"))

    @extend_schema(summary="Rubric versions, newest first.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Save the rubric: always creates the next version (lead or admin).",
        request=s.RubricVersionWriteSerializer,
        responses={201: s.RubricVersionSerializer, **_errors(400, 403, 404)},
    )
    def post(self, request, project_id):
        project = self.project_for("edit_rubric")
        data = _valid(s.RubricVersionWriteSerializer, request.data)
        version = services.create_rubric_version(project=project, actor=request.user, **data)
        return Response(s.RubricVersionSerializer(version).data, status=201)


# --- items ----------------------------------------------------------------------------------


@extend_schema(tags=["items"])
class ItemListView(ProjectScoped, generics.ListAPIView):
    serializer_class = s.ItemSerializer

    def get_queryset(self):
        if self.schema_only:
            return Item.objects.none()
        project = self.project_for("view_items")
        query = _valid(s.ItemListQuerySerializer, self.request.query_params)
        return (
            Item.objects.filter(project=project, **query)
            .prefetch_related(Prefetch("responses", queryset=ItemResponse.objects.order_by("position")))
            .order_by("id")
        )

    @extend_schema(
        summary="Items with their state and responses (lead or admin).",
        parameters=[s.ItemListQuerySerializer],
        responses={200: s.ItemSerializer, **_errors(400, 403, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["items"])
class ImportView(ProjectScoped, APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    kind = None  # a subclass that imports one kind only (preferences' comparison import) sets it

    @extend_schema(
        summary="Import items from JSONL or CSV, all or nothing; exact duplicates are skipped.",
        request={
            "multipart/form-data": s.ImportRequestSerializer,
            "application/json": s.ImportRequestSerializer,
        },
        responses={
            201: s.ImportResultSerializer,
            400: OpenApiResponse(s.ImportErrorSerializer, description="Nothing was imported."),
            **_errors(403, 404),
        },
    )
    def post(self, request, project_id):
        project = self.project_for("import_items")
        data = _valid(s.ImportRequestSerializer, request.data)
        upload = data.get("file")
        if upload is not None:
            if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
                raise ImportFailed([ImportIssue(0, "file", f"Larger than {MAX_IMPORT_BYTES} bytes.")])
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


# --- the queue ------------------------------------------------------------------------------


def task_payload(assignment) -> dict:
    """What the annotator sees: the conversation and the responses in this assignment's display
    order, by slot, without model names, ids or anyone's judgments (blind review)."""
    item, project = assignment.item, assignment.project
    loaded = getattr(assignment, "response_texts", None)  # set by next_assignment's pick
    texts = dict(loaded) if loaded is not None else dict(item.responses.values_list("id", "text"))
    order = [rid for rid in assignment.display_order or [] if rid in texts]
    if not order:  # responses added later (an annotator's improved text) are never shown
        order = sorted(texts)
    version = project.current_rubric_version()
    return {
        "assignment": assignment.pk,
        "leased_until": assignment.leased_until,
        "reason": assignment.reason,
        "project": project.pk,
        "guidelines": project.guidelines,
        "item": {
            "id": item.pk,
            "kind": item.kind,
            "messages": [
                {"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
                for m in item.messages or []
                if isinstance(m, dict)
            ],
            "responses": [{"slot": SLOTS[i], "text": texts[rid]} for i, rid in enumerate(order)],
        },
        "rubric_version": version
        and {
            "id": version.pk,
            "number": version.number,
            "criteria": version.criteria,
            "instructions": version.instructions,
        },
    }


@extend_schema(tags=["queue"])
class NextView(ProjectScoped, APIView):
    @extend_schema(
        summary="Your next item, leased to you; 204 when there is nothing for you.",
        parameters=[s.NextQuerySerializer],
        responses={
            200: s.TaskSerializer,
            204: OpenApiResponse(description="Nothing left for you."),
            **_errors(400, 403, 404),
        },
    )
    def get(self, request, project_id):
        project = self.project_for("annotate")
        query = _valid(s.NextQuerySerializer, request.query_params)
        assignment = services.next_assignment(project=project, user=request.user, kind=query["kind"])
        if assignment is None:
            return Response(status=204)
        assignment.project = project
        return Response(s.TaskSerializer(task_payload(assignment)).data)


ASSIGNMENT_ID = OpenApiParameter("assignment_id", OpenApiTypes.INT, OpenApiParameter.PATH)


@extend_schema(tags=["queue"], parameters=[ASSIGNMENT_ID])
class SubmitView(APIView):
    @extend_schema(
        summary="Submit your judgment; a second submit supersedes the first.",
        request=s.SubmitSerializer,
        responses={201: s.JudgmentSerializer, 409: ERRORS[400], **_errors(400, 403, 404)},
    )
    def post(self, request, assignment_id):
        data = _valid(s.SubmitSerializer, request.data)
        judgment = services.submit_judgment(
            # submit_judgment loads and locks it (404 unless it is the caller's): no lookup here
            assignment=Assignment(pk=assignment_id),
            user=request.user,
            decision=data["decision"],
            edited_text=data["edited_text"],
            scores=data["scores"],
            flags=data["flags"],
            comment=data["comment"],
            payload=data["payload"],
            rubric_version_id=data.get("rubric_version"),
            duration_seconds=data["duration_seconds"],
        )
        return Response(s.JudgmentSerializer(judgment).data, status=201)


@extend_schema(tags=["queue"], parameters=[ASSIGNMENT_ID])
class SkipView(APIView):
    @extend_schema(
        summary="Give the item back; you will not be offered it again.",
        request=s.SkipSerializer,
        responses={200: s.AssignmentSerializer, 409: ERRORS[400], **_errors(400, 403, 404)},
    )
    def post(self, request, assignment_id):
        assignment = services.get_assignment_for(assignment_id=assignment_id, user=request.user)
        data = _valid(s.SkipSerializer, request.data)
        assignment = services.skip_assignment(assignment=assignment, user=request.user, reason=data["reason"])
        return Response(s.AssignmentSerializer(assignment).data)


# --- progress, dashboard, judgments, audit --------------------------------------------------


@extend_schema(tags=["progress"])
class ProgressView(ProjectScoped, APIView):
    @extend_schema(
        summary="Items by state and your own n of m (`mine`).",
        responses={200: s.ProgressSerializer, **_errors(404)},
    )
    def get(self, request, project_id):
        project = self.project_for("view_project")
        return Response(s.ProgressSerializer(selectors.project_progress(project, request.user)).data)


@extend_schema(tags=["progress"])
class DashboardView(ProjectScoped, APIView):
    @extend_schema(
        summary="Progress, per-annotator figures, throughput and time per item (lead or admin).",
        responses={200: s.DashboardSerializer, **_errors(403, 404)},
    )
    def get(self, request, project_id):
        project = self.project_for("view_dashboard")
        return Response(s.DashboardSerializer(selectors.dashboard(project)).data)


@extend_schema(tags=["judgments"])
class JudgmentListView(ProjectScoped, generics.ListAPIView):
    serializer_class = s.JudgmentSerializer

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
    serializer_class = s.AuditEventSerializer

    def get_queryset(self):
        if self.schema_only:
            return AuditEvent.objects.none()
        return selectors.audit_events(self.project_for("view_audit"), limit=None)

    @extend_schema(summary="The project's audit trail, newest first (lead or admin).")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


__all__ = [
    "TokenView",
    "ProjectListView",
    "ProjectDetailView",
    "MemberListView",
    "MemberDetailView",
    "RubricVersionListView",
    "ItemListView",
    "ImportView",
    "NextView",
    "SubmitView",
    "SkipView",
    "ProgressView",
    "DashboardView",
    "JudgmentListView",
    "AuditListView",
]
