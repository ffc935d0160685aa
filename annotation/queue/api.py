"""REST API of the queue: next, submit, skip, progress."""

from django.db import connection
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core import idempotency
from annotation.core.api import ProjectScoped, validated
from annotation.kinds.task import build_task
from annotation.models import Assignment
from annotation.queue import hot_sql, selectors, serializers, services


@extend_schema(tags=["queue"])
class NextView(ProjectScoped, APIView):
    def project_queryset(self):
        # whether any lease ran out comes with the project: no probe of its own in next_assignment
        return selectors.with_expired_leases(super().project_queryset())

    def load_project(self, user, project_id):
        if connection.vendor != "postgresql":
            return super().load_project(user, project_id)
        # the same statement, compiled once per process
        return hot_sql.project_for_next(project_id=project_id, user=user, now=timezone.now())

    @extend_schema(
        summary="Your next item, leased to you; 204 when there is nothing for you.",
        parameters=[serializers.NextQuerySerializer],
        responses={
            200: serializers.TaskSerializer,
            204: OpenApiResponse(description="Nothing left for you."),
        },
    )
    def get(self, request, project_id):
        self.project_for("annotate")  # 404 / 403 before a bad query's 400
        query = validated(serializers.NextQuerySerializer, request.query_params)
        task = self.task(query["kind"])
        return Response(status=204) if task is None else Response(task)

    def task(self, kind: str) -> dict | None:
        """The caller's next task of `kind` in this view's project (the response body), leased to
        them; None when there is nothing left for them."""
        project = self.project_for("annotate")  # loaded once per view
        assignment = services.next_assignment(project=project, user=self.request.user, kind=kind)
        if assignment is None:
            return None
        assignment.project = project
        # extras=False: the kind's page extras (SFT: the response row with its model) are not in
        # the API's payload; building them would cost a query.
        return serializers.task_data(build_task(assignment, extras=False))


ASSIGNMENT_ID = OpenApiParameter("assignment_id", OpenApiTypes.INT, OpenApiParameter.PATH)


@extend_schema(tags=["queue"], parameters=[ASSIGNMENT_ID])
class SubmitView(APIView):
    @extend_schema(
        summary="Submit your judgment; a second submit supersedes the first.",
        description=(
            "An identical resubmit returns the stored judgment. With an `Idempotency-Key` header, a retry "
            "of the same request returns the first response and stores nothing new."
        ),
        request=serializers.SubmitSerializer,
        parameters=[idempotency.PARAMETER],
        # its 422 (the key reused) comes with the Idempotency-Key parameter (annotation.core.schema)
        responses={201: serializers.JudgmentSerializer},
    )
    def post(self, request, assignment_id):
        return idempotency.respond(
            request, lambda: (201, serializers.judgment_data(submit(request, assignment_id)))
        )


def submit(request, assignment_id):
    """The caller's judgment on their assignment `assignment_id`, from the request's body."""
    data = validated(serializers.SubmitSerializer, request.data)
    return services.submit_judgment(
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


def next_task(request, project_id: int, kind: str) -> dict | None:
    """The caller's next task in the project (as NextView's body), None when there is nothing left.
    For a caller without the annotate role there, NotFound or PermissionDenied as NextView answers."""
    view = NextView()
    view.request, view.kwargs = request, {"project_id": project_id}
    return view.task(kind)


@extend_schema(tags=["queue"], parameters=[ASSIGNMENT_ID])
class SubmitAndNextView(APIView):
    @extend_schema(
        summary="Submit your judgment and get your next item in the same request.",
        description=(
            "What a submit and then a next do, in one round trip: the judgment is stored as by "
            "`submit`, then the next item of the project is leased to you as by `next` (`next` is "
            "null when nothing is left for you). The next item is of the submitted item's kind "
            "unless `kind` says otherwise. If the judgment is refused, nothing is leased. If leasing "
            "fails after the judgment was stored, the error is returned and the judgment stays: "
            "sending the same submit again returns it without storing it twice. With an "
            "`Idempotency-Key`, a retry returns the first response, the same next item included."
        ),
        request=serializers.SubmitSerializer,
        parameters=[idempotency.PARAMETER, serializers.SubmitAndNextQuerySerializer],
        responses={201: serializers.SubmitAndNextSerializer},  # its 422: as submit's
    )
    def post(self, request, assignment_id):
        return idempotency.respond(request, lambda: (201, self._both(request, assignment_id)))

    @staticmethod
    def _both(request, assignment_id) -> dict:
        query = validated(serializers.SubmitAndNextQuerySerializer, request.query_params)
        judgment = submit(request, assignment_id)
        item = judgment.item
        task = next_task(request, item.project_id, query.get("kind") or item.kind)
        return {"judgment": serializers.judgment_data(judgment), "next": task}


@extend_schema(tags=["queue"], parameters=[ASSIGNMENT_ID])
class SkipView(APIView):
    @extend_schema(
        summary="Give the item back; you will not be offered it again.",
        request=serializers.SkipSerializer,
        responses={
            200: serializers.AssignmentSerializer,
        },
    )
    def post(self, request, assignment_id):
        assignment = services.get_assignment_for(assignment_id=assignment_id, user=request.user)
        data = validated(serializers.SkipSerializer, request.data)
        assignment = services.skip_assignment(assignment=assignment, user=request.user, reason=data["reason"])
        return Response(serializers.AssignmentSerializer(assignment).data)


@extend_schema(tags=["progress"])
class ProgressView(ProjectScoped, APIView):
    @extend_schema(
        summary="Items by state and your own n of m (`mine`).",
        responses={200: serializers.ProgressSerializer},
    )
    def get(self, request, project_id):
        project = self.project_for("view_project")
        return Response(
            serializers.ProgressSerializer(selectors.project_progress(project, request.user)).data
        )
