"""Login throttling and lockout (issue 14): wrong passwords lock the account on every login path,
the lock is audited, expires, and leaves other accounts alone; the token endpoint is rate limited."""

import pytest
from django.contrib.auth import authenticate
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import AuditEvent
from annotation.people import lockout

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("memory_cache")]


TOKEN = "/api/auth/token/"


@pytest.fixture
def limits(settings):
    settings.TUNELOOP_LOGIN_MAX_FAILURES = 3
    settings.TUNELOOP_LOGIN_LOCKOUT_SECONDS = 600
    return settings


def token(client, username, password):
    return client.post(TOKEN, {"username": username, "password": password}, format="json")


def test_token_endpoint_locks_after_failures_even_for_the_right_password(limits, project, users):
    api = APIClient()
    for _ in range(3):
        assert token(api, "annotator1", "wrong").status_code == 400
    r = token(api, "annotator1", "pw")
    assert r.status_code == 429 and r.json()["code"] == "locked_out"
    assert 0 < int(r["Retry-After"]) <= 601
    assert "locked" in r.json()["detail"]
    # other accounts are not affected
    assert token(api, "annotator2", "pw").status_code == 200
    # audited in the account's project, visible to its leads
    event = AuditEvent.objects.get(verb="auth.locked_out")
    assert event.project == project and event.data["username"] == "annotator1" and event.data["failures"] == 3


def test_lock_applies_to_page_login_and_authenticate_and_ignores_case(limits, client, users):
    for _ in range(3):
        r = client.post(reverse("login"), {"username": "Annotator1", "password": "nope"})
        assert r.status_code == 200 and "didn't match" in r.content.decode()
    r = client.post(reverse("login"), {"username": "annotator1", "password": "pw"})
    assert r.status_code == 429 and "locked for about 10 minutes" in r.content.decode()
    assert 'value="annotator1"' in r.content.decode()
    assert "_auth_user_id" not in client.session
    assert authenticate(username="annotator1", password="pw") is None  # the admin's path too


def test_lock_expires_and_success_resets_the_count(limits, monkeypatch, users):
    now = [1_000_000.0]
    monkeypatch.setattr(lockout.time, "time", lambda: now[0])
    api = APIClient()
    for _ in range(2):
        token(api, "annotator1", "wrong")
    assert token(api, "annotator1", "pw").status_code == 200  # success clears the two failures
    for _ in range(2):
        token(api, "annotator1", "wrong")
    assert lockout.locked_for("annotator1") == 0
    token(api, "annotator1", "wrong")
    assert lockout.locked_for("annotator1") > 0
    # attempts while locked neither count nor extend the lock
    before = lockout.locked_for("annotator1")
    token(api, "annotator1", "wrong")
    assert lockout.locked_for("annotator1") == before
    now[0] += 601
    assert lockout.locked_for("annotator1") == 0
    assert token(api, "annotator1", "pw").status_code == 200


def test_unknown_and_odd_usernames_never_500(limits):
    api = APIClient()
    for name in ["ghost", "", " ", "x" * 500, "名前 with spaces\t", {"a": 1}, ["x"]]:
        for _ in range(4):
            r = api.post(TOKEN, {"username": name, "password": "x"}, format="json")
            assert r.status_code in (400, 429), (name, r.status_code)
    assert AuditEvent.objects.filter(verb="auth.locked_out", project=None).exists()


def test_token_endpoint_is_rate_limited_per_address(users):
    api = APIClient()
    codes = [token(api, f"nobody{i}", "x").status_code for i in range(31)]
    assert codes[:30] == [400] * 30 and codes[30] == 429
