"""The API's hot path: next and submit in at most 4 SQL statements each (transaction control not
counted, what runs after the commit counted: the version bump) on PostgreSQL, for SFT items and
comparisons, whatever the size of the queue, under the default cache (the database's table, no token
cache) as under a shared one (Redis: a local-memory stand-in, or Redis itself); and the token cache
that saves one of them, dropped at once when a token is revoked or its user changes."""

import contextlib

import pytest
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from annotation.models import Assignment, AssignmentState, Item
from annotation.projects import services as project_services
from annotation.queue import lifecycle
from tests.annotation.factories import client_for
from tests.conftest import GOOD_SCORES, make_items
from tests.preferences.factories import make_cmp_project, make_comparisons

CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@contextlib.contextmanager
def max_statements(n):
    """At most `n` SQL statements inside the block, transaction control not counted; what the
    request's transactions run once committed (on_commit: the version bump) runs and counts."""
    with CaptureQueriesContext(connection) as ctx, TestCase.captureOnCommitCallbacks(execute=True):
        yield ctx
    sql = [q["sql"] for q in ctx.captured_queries if not q["sql"].strip().upper().startswith(CONTROL)]
    assert len(sql) <= n, f"{len(sql)} statements, at most {n} allowed:\n" + "\n".join(s[:300] for s in sql)


@pytest.fixture(
    params=[
        pytest.param(("database", 0, 4), id="default-cache"),  # settings' default: the cache table
        pytest.param(("memory", 0, 4), id="shared-cache-no-token-cache"),
        pytest.param(("memory", 300, 3), id="shared-cache"),  # a stand-in for Redis
        pytest.param(("redis", 300, 3), id="redis", marks=pytest.mark.redis),
    ]
)
def budget(request, settings):
    """The cache the hot path runs with, and its statement budget per request: the configured default
    (the database's table; the token cache off, as settings make it without a shared cache), a
    local-memory stand-in for Redis with and without the token cache, Redis itself."""
    backend, seconds, statements = request.param
    if backend == "memory":
        request.getfixturevalue("memory_cache")
    elif backend == "redis":
        import os

        url = os.environ["CELERY_BROKER_URL"].rsplit("/", 1)[0] + "/11"
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
        }
        from django.core.cache import cache

        cache.clear()
    else:
        assert settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache")
    settings.TUNELOOP_AUTH_CACHE_SECONDS = seconds
    return statements


def check_counters(project):
    problems = [
        p for item in Item.objects.filter(project=project) for p in lifecycle.check_item(item, project)
    ]
    assert problems == []


def cycle(client, project, *, kind, body, statements, key=None):
    with max_statements(statements):
        r = client.get(f"/api/projects/{project.pk}/next/?kind={kind}")
    assert r.status_code == 200, r.content
    task = r.json()
    # An Idempotency-Key costs the submit one statement (its claim); a request without one pays nothing.
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    with max_statements(statements + (1 if key else 0)):
        r = client.post(f"/api/assignments/{task['assignment']}/submit/", body, format="json", **headers)
    assert r.status_code == 201, r.content
    return task


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("size", [3, 300])
def test_sft_next_and_submit_statements(project, users, size, budget):
    make_items(project, users["lead"], size)
    client = client_for(users["annotator"])
    client.get("/api/projects/")  # the token is cached from here on (when the cache is on)
    for _ in range(2):
        task = cycle(
            client, project, kind="sft", body={"decision": "accept", "scores": GOOD_SCORES}, statements=budget
        )
        assert task["reason"] == "queue" and task["item"]["responses"][0]["text"].startswith("Answer")
        assert task["rubric_version"]["number"] == 1
    assert (
        Assignment.objects.filter(annotator=users["annotator"], state=AssignmentState.SUBMITTED).count() == 2
    )
    check_counters(project)


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("size", [3, 300])
def test_comparison_next_and_submit_statements(users, size, budget):
    cmp = make_cmp_project(users)
    make_comparisons(cmp, users["lead"], size)
    client = client_for(users["annotator"])
    client.get("/api/projects/")
    for _ in range(2):
        task = cycle(
            client,
            cmp,
            kind="comparison",
            body={"payload": {"choice": "A", "strength": 2}, "comment": "clearer"},
            statements=budget,
        )
        assert [r["slot"] for r in task["item"]["responses"]] == ["A", "B"]
    judged = Assignment.objects.filter(annotator=users["annotator"], state=AssignmentState.SUBMITTED)
    for assignment in judged:  # slot A is the first response this annotator was shown
        assert assignment.judgments.get().payload["winner"] == assignment.display_order[0]
    check_counters(cmp)


@pytest.mark.postgres
@pytest.mark.django_db
def test_submit_with_an_idempotency_key_costs_one_statement_more(project, users, budget):
    make_items(project, users["lead"], 3)
    client = client_for(users["annotator"])
    client.get("/api/projects/")
    for n in range(2):
        body = {"decision": "accept", "scores": GOOD_SCORES}
        cycle(client, project, kind="sft", body=body, statements=budget, key=f"key-{n}")
    assert (
        Assignment.objects.filter(annotator=users["annotator"], state=AssignmentState.SUBMITTED).count() == 2
    )
    check_counters(project)


@pytest.mark.postgres
@pytest.mark.django_db
def test_next_after_a_lease_expired_releases_it_and_leases_it_again(project, users):
    """The project's statement says leases ran out: next releases them (beyond the budget, rare)
    and the caller's own expired item comes back to them through the same one-statement lease."""
    make_items(project, users["lead"], 1)
    client = client_for(users["annotator"])
    first = client.get(f"/api/projects/{project.pk}/next/").json()
    Assignment.objects.filter(pk=first["assignment"]).update(leased_until="2000-01-01T00:00:00Z")
    again = client.get(f"/api/projects/{project.pk}/next/").json()
    assert again["assignment"] == first["assignment"] and again["reason"] == "queue"
    assert Assignment.objects.get(pk=first["assignment"]).state == AssignmentState.LEASED
    check_counters(project)
    with max_statements(4):  # resume: the lease is renewed
        resumed = client.get(f"/api/projects/{project.pk}/next/").json()
    assert resumed["assignment"] == first["assignment"] and resumed["reason"] == "resume"
    assert resumed["item"]["responses"][0]["text"] == "Answer 0."


# --- the token cache --------------------------------------------------------------------------


@pytest.fixture
def cached(settings, memory_cache):  # the token cache is for a shared cache: Redis in production
    settings.TUNELOOP_AUTH_CACHE_SECONDS = 300


@pytest.mark.django_db
def test_cached_token_needs_no_statement_and_revoking_it_is_401_at_once(cached, project, users):
    client = client_for(users["annotator"])
    assert client.get(f"/api/projects/{project.pk}/progress/").status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/api/projects/{project.pk}/progress/").status_code == 200
    assert not [q for q in ctx.captured_queries if "authtoken_token" in q["sql"]]
    # the cached identity is the user's own: no more rights than the row gives
    other = project_services.create_project(name="Not theirs", created_by=users["lead"])
    assert client.get(f"/api/projects/{other.pk}/progress/").status_code == 404
    mine = client.get("/api/projects/").json()
    assert [p["id"] for p in mine["results"]] == [project.pk]

    Token.objects.filter(user=users["annotator"]).delete()
    r = client.get(f"/api/projects/{project.pk}/progress/")
    assert r.status_code == 401 and r.json()["code"] == "authentication_failed"


@pytest.mark.django_db
def test_a_new_token_replaces_the_old_one_at_once(cached, project, users):
    client = client_for(users["annotator"])
    assert client.get("/api/projects/").status_code == 200
    old = Token.objects.get(user=users["annotator"])
    old.delete()
    fresh = Token.objects.create(user=users["annotator"])
    assert client.get("/api/projects/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {fresh.key}")
    assert client.get("/api/projects/").status_code == 200


@pytest.mark.django_db
def test_deactivated_user_is_refused_at_once(cached, project, users):
    client = client_for(users["annotator"])
    assert client.get("/api/projects/").status_code == 200
    user = users["annotator"]
    user.is_active = False
    user.save()
    assert client.get("/api/projects/").status_code == 401


@pytest.mark.django_db
def test_cached_user_carries_no_password_hash_and_its_flags(cached, project, users):
    from django.core.cache import cache

    from annotation.core.auth import cache_key

    client = client_for(users["admin"])
    assert client.get("/api/projects/").status_code == 200
    key = Token.objects.get(user=users["admin"]).key
    stored = cache.get(cache_key(key))
    assert stored is not None and "password" not in stored
    assert users["admin"].password not in stored.values()
    users["admin"].is_superuser = True
    users["admin"].save()
    assert cache.get(cache_key(key)) is None  # dropped: the next request reads the new flag
    outsider_project = project_services.create_project(name="Other", created_by=users["lead"])
    assert client.get(f"/api/projects/{outsider_project.pk}/progress/").status_code == 200


@pytest.mark.django_db
def test_role_removed_or_lowered_counts_at_once(cached, project, users):
    make_items(project, users["lead"], 3)
    annotator, lead = client_for(users["annotator"]), client_for(users["lead"])
    task = annotator.get(f"/api/projects/{project.pk}/next/").json()
    assert lead.get(f"/api/projects/{project.pk}/dashboard/").status_code == 200

    project_services.set_membership(
        project=project, actor=users["admin"], user=users["lead"], role="annotator"
    )
    assert lead.get(f"/api/projects/{project.pk}/dashboard/").status_code == 403

    project_services.remove_membership(project=project, actor=users["admin"], user=users["annotator"])
    assert annotator.get(f"/api/projects/{project.pk}/next/").status_code == 404
    r = annotator.post(
        f"/api/assignments/{task['assignment']}/submit/",
        {"decision": "accept", "scores": GOOD_SCORES},
        format="json",
    )
    assert r.status_code == 403


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_revocation_in_another_process_reaches_this_one_through_the_shared_cache(settings, project, users):
    """The production layout: several web processes sharing a Redis cache. A token revoked by another
    process (here `manage.py shell`) is refused at once in this one, which had it cached."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    redis_url = os.environ["CELERY_BROKER_URL"].rsplit("/", 1)[0] + "/11"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    settings.TUNELOOP_AUTH_CACHE_SECONDS = 300
    from django.core.cache import cache

    from annotation.core.auth import cache_key

    client = client_for(users["annotator"])
    assert client.get("/api/projects/").status_code == 200
    key = Token.objects.get(user=users["annotator"]).key
    assert cache.get(cache_key(key)) is not None

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CACHE_URL": redis_url,
    }
    code = f"from rest_framework.authtoken.models import Token; Token.objects.filter(key={key!r}).delete()"
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert cache.get(cache_key(key)) is None
    assert client.get("/api/projects/").status_code == 401
