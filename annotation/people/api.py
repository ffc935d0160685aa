"""People's API: a lead's new annotator accounts (one-time passwords or invite links, returned once),
pending invitations, withdrawing one. The same services as the Members page."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core.api import ProjectScoped, reject_nul, validated
from annotation.people import selectors, services


class AccountsWriteSerializer(serializers.Serializer):
    lines = serializers.CharField(
        max_length=100_000, validators=[reject_nul], help_text="One email or username a line."
    )
    mode = serializers.ChoiceField(choices=sorted(services.MODES), default=services.INVITE)


class NewAccountSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    password = serializers.CharField(allow_blank=True, help_text="The one-time password (mode password).")
    invite_url = serializers.CharField(allow_blank=True, help_text="The invite link (mode invite).")
    expires_at = serializers.DateTimeField(allow_null=True)


class AccountsSerializer(serializers.Serializer):
    accounts = NewAccountSerializer(many=True)


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    role = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", default=None)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


@extend_schema(tags=["members"])
class AccountsView(ProjectScoped, APIView):
    @extend_schema(
        summary="Create annotator accounts from a list (lead or admin): all or nothing, errors by line.",
        request=AccountsWriteSerializer,
        responses={201: AccountsSerializer},
    )
    def post(self, request, project_id):
        project = self.project_for("manage_members")
        data = validated(AccountsWriteSerializer, request.data)
        accounts = services.create_accounts(
            project=project, actor=request.user, text=data["lines"], mode=data["mode"]
        )
        rows = selectors.shown_once(request, accounts)
        response = Response(AccountsSerializer({"accounts": rows}).data, status=201)
        response["Cache-Control"] = "no-store"
        return response


@extend_schema(tags=["members"])
class InvitationListView(ProjectScoped, APIView):
    @extend_schema(
        summary="Pending invitations (lead or admin).",
        responses={200: InvitationSerializer(many=True)},
    )
    def get(self, request, project_id):
        project = self.project_for("manage_members")
        return Response(InvitationSerializer(selectors.pending_invitations(project), many=True).data)


@extend_schema(tags=["members"])
class InvitationRevokeView(ProjectScoped, APIView):
    @extend_schema(
        summary="Withdraw an invitation (lead or admin).",
        request=None,
        responses={200: InvitationSerializer},
    )
    def post(self, request, project_id, invitation_id):
        project = self.project_for("manage_members")
        invitation = services.revoke_invitation(
            project=project, actor=request.user, invitation_id=invitation_id
        )
        return Response(InvitationSerializer(invitation).data)
