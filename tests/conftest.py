"""Shared fixtures. Tests marked postgres / redis / browser skip with a reason when the service is absent."""

import gc
import json
import os
import shutil

import pytest

from annotation.importing.parse import parse_items
from tests.fixtures.tiny_models import tiny_model_dir  # noqa: F401  (registers the fixture)

PG = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
REDIS = os.environ.get("CELERY_BROKER_URL", "").startswith("redis://")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_collection_finish(session):
    """Everything imported so far (Django, the apps, the test modules) lives for the whole run: keep
    the cyclic garbage collector from rescanning it after every few thousand allocations."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


# Fixtures that build or load a model: a test using one is `slow` (out of `make test-fast`, still in CI).
MODEL_FIXTURES = {"tiny_model_dir"}


@pytest.hookimpl(tryfirst=True)  # before -m "not slow" deselects
def pytest_collection_modifyitems(config, items):
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    reasons = {
        "postgres": None if PG else "needs DATABASE_URL=postgres://... (CI sets it)",
        "redis": None if REDIS else "needs CELERY_BROKER_URL=redis://... (CI sets it)",
        "browser": None if CHROMIUM else "needs Debian's chromium (apt-get install chromium)",
    }
    for item in items:
        for mark, reason in reasons.items():
            if reason and mark in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Session-wide test settings. PBKDF2's deliberate slowness costs minutes over the suite; tests need no real hashing. Set
    once for the session (a per-test settings override costs a signal round trip in every test)."""
    from django.conf import settings
    from django.contrib.auth.hashers import get_hashers

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_hashers.cache_clear()
    # A word-count embedder instead of MiniLM (a real model): tests about MiniLM itself set it back.
    settings.TUNELOOP_EMBEDDER = "tests.training.factories.word_embedder"


@pytest.fixture(autouse=True)
def _empty_cache(request):
    """Each test with a database starts with an empty cache (the leaderboard caches its fit; the default
    cache is a table in the database, so tests without one have no cache either)."""
    names = set(request.fixturenames)
    marker = request.node.get_closest_marker("django_db")
    if not ({"db", "transactional_db"} & names or marker):
        return
    if marker is None:  # autouse fixtures run before `db`: open the database for the clear below first
        request.getfixturevalue("transactional_db" if "transactional_db" in names else "db")
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def memory_cache(settings):
    """A local-memory cache instead of the configured one, emptied: the embedded default is a table in
    the database, whose own statements would count against a test's SQL budget and whose expiry
    times are compared in SQL, out of reach of a patched clock (Redis in production has neither
    effect). Opted into per module (`pytestmark = [..., pytest.mark.usefixtures("memory_cache")]`)
    or per test."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import cache  # deferred: the cache of the settings just set

    cache.clear()


CRITERIA = [
    {"key": "helpfulness", "type": "likert", "instructions": "How much does it help the user?"},
    {"key": "safe", "type": "binary", "instructions": "Is it free of harmful content?"},
    {"key": "tone", "type": "labels", "labels": ["formal", "casual", "rude"], "required": False},
]


@pytest.fixture
def users(django_user_model):
    make = django_user_model.objects.create_user
    return {
        "admin": make("admin1", password="pw"),
        "lead": make("lead", password="pw"),
        "annotator": make("annotator1", password="pw"),
        "annotator2": make("annotator2", password="pw"),
        "outsider": make("outsider", password="pw"),
    }


@pytest.fixture
def project(users):
    from annotation.projects import services as project_services

    # Routing off: queue tests look at the queue alone (COMPLETE after k judgments); the routing,
    # adjudication and gold tests turn it on. New projects have it on by default.
    p = project_services.create_project(
        name="Demo", created_by=users["admin"], overlap=2, guidelines="Be *kind*.", agreement_routing=False
    )
    project_services.set_membership(project=p, actor=users["admin"], user=users["lead"], role="lead")
    project_services.set_membership(
        project=p, actor=users["admin"], user=users["annotator"], role="annotator"
    )
    project_services.set_membership(
        project=p, actor=users["admin"], user=users["annotator2"], role="annotator"
    )
    project_services.create_rubric_version(
        project=p, actor=users["lead"], criteria=CRITERIA, instructions="Score it."
    )
    return p


def make_items(project, actor, n, *, start=0, priority=0):
    from annotation.importing import services as import_services

    lines = "\n".join(
        json.dumps(
            {"prompt": f"Question {i}?", "response": f"Answer {i}.", "model": "m", "priority": priority}
        )
        for i in range(start, start + n)
    )
    parsed = parse_items(lines, fmt="jsonl")
    assert parsed.ok, parsed.errors
    return import_services.import_items(project=project, actor=actor, records=parsed.records, source="test")


@pytest.fixture
def items(project, users):
    make_items(project, users["lead"], 5)
    return list(project.items.order_by("id"))


GOOD_SCORES = {"helpfulness": 4, "safe": True}
