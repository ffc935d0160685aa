"""Every API view parses JSON with the project's parser (annotation.core.parsers.JSONParser: a depth
limit and lone surrogates refused, a 400), whatever it inherits: DRF's ObtainAuthToken names DRF's own
parsers, and the token endpoint answered a 2,000-level nested body with a 500. The walk covers every
URL pattern, so a new view that names a raw parser fails here."""

import pytest
from django.http import QueryDict
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import parsers as drf_parsers
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIClient

from annotation.core.api import validated
from annotation.core.parsers import JSONParser
from training.models import DatasetSnapshot
from training.serializers import SnapshotCreateSerializer

pytestmark = pytest.mark.django_db

NESTED = "[" * 2000 + "]" * 2000


def views(patterns=None, prefix=""):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            cls = getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)
            if cls is not None and hasattr(cls, "parser_classes"):
                yield prefix + str(entry.pattern), cls


def test_every_api_view_parses_json_with_the_projects_parser():
    found = list(views())
    assert len(found) > 50
    wrong = [
        f"{route}: {cls.__name__} uses {parser.__module__}.{parser.__name__}"
        for route, cls in found
        for parser in cls.parser_classes
        if issubclass(parser, drf_parsers.JSONParser) and not issubclass(parser, JSONParser)
    ]
    assert wrong == []


def test_the_token_endpoint_refuses_a_deeply_nested_body(users):
    client = APIClient(raise_request_exception=False)
    response = client.post("/api/auth/token/", NESTED, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "JSON parse error - nested deeper than 100 levels.",
        "code": "parse_error",
    }


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_an_object_field_sent_flat_in_a_form_is_refused(project, users, encoding):
    """DRF reads an object-valued field of a form only from `filters.key` entries and dropped a plain
    `filters=...` in silence: a snapshot or a filtered action ran on everything. Now a 400 naming it
    (annotation.core.api.validated, for every endpoint)."""
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=users['lead'])[0].key}")
    url = f"/api/projects/{project.pk}/snapshots/"
    if encoding == "urlencoded":
        body = "kind=sft&filters=min_agreement%3D0.9"
        response = client.post(url, body, content_type="application/x-www-form-urlencoded")
    else:
        response = client.post(url, {"kind": "sft", "filters": "min_agreement=0.9"}, format="multipart")
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {
        "filters": ["An object: send the request as JSON (Content-Type: application/json)."]
    }
    assert not DatasetSnapshot.objects.exists()


def test_validated_reads_dotted_form_keys_and_refuses_a_flat_object():
    flat = QueryDict("kind=sft&filters=min_agreement%3D0.9")
    with pytest.raises(ValidationError) as refused:
        validated(SnapshotCreateSerializer, flat)
    assert list(refused.value.detail) == ["filters"]
    dotted = validated(SnapshotCreateSerializer, QueryDict("kind=sft&filters.min_agreement=0.9"))
    assert dotted["filters"] == {"min_agreement": "0.9"}
    assert validated(SnapshotCreateSerializer, {"kind": "sft", "filters": {"a": 1}})["filters"] == {"a": 1}
