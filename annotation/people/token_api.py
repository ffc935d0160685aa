"""The token API: exchange a username and password for a named, optionally expiring API token; list
and revoke your own tokens. Services in `annotation.people.api_tokens`."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from annotation.core.api import MAX_ID, validated
from annotation.people import api_tokens, lockout
from annotation.people import selectors as people_selectors


class OptionsSerializer(serializers.Serializer):
    """The token's options (checked before the password, so bad options cost no login attempt)."""

    name = serializers.CharField(
        required=False, allow_blank=True, max_length=100, default="", help_text="To tell your tokens apart."
    )
    expires_in_days = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=api_tokens.MAX_DAYS,
        help_text="The token stops working after this many days; omitted: until revoked.",
    )  # fmt: skip


class TokenRequestSerializer(OptionsSerializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})


class ApiTokenSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The key's first characters.")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True, help_text="Noted at most once a minute.")


class NewTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`. Shown only now.")


@extend_schema(
    tags=["auth"],
    auth=[],
    request=TokenRequestSerializer,
    responses={200: NewTokenSerializer},
    summary="Exchange a username and password for a new API token (optionally expiring).",
)
class TokenView(ObtainAuthToken):
    """POST username + password (+ name, expires_in_days) -> a new token. Send it as
    `Authorization: Token <token>`. An account still on its one-time password gets no token (403)
    until its owner chooses a password; repeated failures lock the account (429, `Retry-After`)."""

    throttle_scope = "auth"  # settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], per client address
    throttle_classes = [ScopedRateThrottle]
    # ObtainAuthToken names DRF's own parsers (a 2,000-level nested body was a RecursionError, a 500)
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES

    def post(self, request, *args, **kwargs):
        username = request.data.get("username") if hasattr(request.data, "get") else None
        seconds = lockout.locked_for(username if isinstance(username, str) else None)
        if seconds:
            return Response(
                {"detail": lockout.lockout_message(seconds), "code": "locked_out"},
                status=429,
                headers={"Retry-After": str(seconds)},
            )
        options = validated(OptionsSerializer, request.data)
        serializer = self.serializer_class(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        lockout.record_success(user.get_username())  # no login signal here
        if people_selectors.must_change_password(user):
            return Response(
                {
                    "detail": "Change your one-time password first (on the web page).",
                    "code": "password_change_required",
                },
                status=403,
            )
        token, key = api_tokens.create_api_token(user=user, **options)
        return Response(NewTokenSerializer({**ApiTokenSerializer(token).data, "token": key}).data)


@extend_schema(tags=["auth"])
class TokenListView(APIView):
    @extend_schema(
        summary="Your API tokens (never their keys).", responses={200: ApiTokenSerializer(many=True)}
    )
    def get(self, request):
        return Response(ApiTokenSerializer(api_tokens.tokens_of(request.user), many=True).data)


@extend_schema(tags=["auth"])
class TokenDetailView(APIView):
    @extend_schema(
        summary="Revoke one of your API tokens; it is refused at once.",
        responses={204: None},
    )
    def delete(self, request, token_id):
        if token_id > MAX_ID:
            return Response({"detail": "No such token.", "code": "not_found"}, status=404)
        api_tokens.revoke_api_token(user=request.user, token_id=token_id)
        return Response(status=204)
