"""Every API view parses JSON with the project's parser (annotation.core.parsers.JSONParser: a depth
limit and lone surrogates refused, a 400), whatever it inherits: DRF's ObtainAuthToken names DRF's own
parsers, and the token endpoint answered a 2,000-level nested body with a 500. The walk covers every
URL pattern, so a new view that names a raw parser fails here."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import parsers as drf_parsers
from rest_framework.test import APIClient

from annotation.core.parsers import JSONParser

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
