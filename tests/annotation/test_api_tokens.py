"""API tokens (issue 14): many per person, named, optionally expiring; listed and revoked by their
owner only; an expired or revoked token is a 401 at once, cached or not."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import ApiToken

pytestmark = pytest.mark.django_db
TOKEN = "/api/auth/token/"


@pytest.fixture(params=[0, 300], ids=["uncached", "cached"])
def cache_seconds(request, settings, memory_cache):
    """Both paths of annotation.core.auth: no cache, and a shared cache (a memory cache stands in)."""
    settings.TUNELOOP_AUTH_CACHE_SECONDS = request.param
    return request.param


def login(username, **options):
    r = APIClient().post(TOKEN, {"username": username, "password": "pw", **options}, format="json")
    assert r.status_code == 200, r.content
    return r.json()


def client_with(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_expiring_token_works_until_it_expires(cache_seconds, users, monkeypatch):
    body = login("lead", name="ci", expires_in_days=7)
    assert body["token"].startswith("tlk_") and body["name"] == "ci"
    expires = ApiToken.objects.get(pk=body["id"]).expires_at
    assert timedelta(days=7) - timedelta(minutes=1) < expires - timezone.now() <= timedelta(days=7)
    client = client_with(body["token"])
    assert client.get("/api/projects/").status_code == 200
    assert client.get("/api/projects/").status_code == 200  # from the cache when it is on
    later = timezone.now() + timedelta(days=7, seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    r = client.get("/api/projects/")
    assert r.status_code == 401 and r.json() == {"detail": "Token expired.", "code": "authentication_failed"}


def test_revoking_is_401_at_once_and_leaves_other_tokens(cache_seconds, users):
    first, second = login("lead", name="laptop"), login("lead", name="ci")
    one, two = client_with(first["token"]), client_with(second["token"])
    assert one.get("/api/projects/").status_code == 200 and two.get("/api/projects/").status_code == 200
    assert two.delete(f"/api/auth/tokens/{first['id']}/").status_code == 204
    assert one.get("/api/projects/").status_code == 401
    assert two.get("/api/projects/").status_code == 200
    assert two.delete(f"/api/auth/tokens/{first['id']}/").status_code == 404  # already gone


def test_listing_shows_only_your_tokens_and_never_their_keys(users):
    mine = login("lead", name="laptop")
    login("lead", name="ci", expires_in_days=30)
    theirs = login("annotator1", name="theirs")
    lead = client_with(mine["token"])
    listed = lead.get("/api/auth/tokens/").json()
    assert [t["name"] for t in listed] == ["ci", "laptop"]
    assert all("token" not in t and "key_hash" not in t for t in listed)
    assert listed[1]["prefix"] == mine["token"][:12] and listed[1]["expires_at"] is None
    assert listed[1]["last_used_at"] is not None  # noted by the listing request itself
    # someone else's token: 404, and it keeps working
    assert lead.delete(f"/api/auth/tokens/{theirs['id']}/").status_code == 404
    assert client_with(theirs["token"]).get("/api/projects/").status_code == 200
    assert lead.delete("/api/auth/tokens/99999999999999999999999/").status_code == 404
    assert APIClient().get("/api/auth/tokens/").status_code == 401


@pytest.mark.parametrize("days", [0, -1, 3651, "soon", 1.5])
def test_bad_expiry_is_a_400_and_creates_nothing(users, days):
    r = APIClient().post(
        TOKEN, {"username": "lead", "password": "pw", "expires_in_days": days}, format="json"
    )
    assert r.status_code == 400 and "expires_in_days" in r.json()["errors"]
    assert not ApiToken.objects.exists()


def test_cached_token_costs_no_statement(settings, users, memory_cache):
    settings.TUNELOOP_AUTH_CACHE_SECONDS = 300
    client = client_with(login("lead")["token"])
    assert client.get("/api/auth/tokens/").status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/auth/tokens/").status_code == 200
    assert not [q for q in ctx.captured_queries if "auth_user" in q["sql"] and "apitoken" not in q["sql"]]
    assert len([q for q in ctx.captured_queries if "apitoken" in q["sql"]]) == 1  # the listing itself


def test_deactivated_user_is_refused(cache_seconds, users):
    client = client_with(login("lead")["token"])
    assert client.get("/api/projects/").status_code == 200
    users["lead"].is_active = False
    users["lead"].save()
    assert client.get("/api/projects/").status_code == 401
