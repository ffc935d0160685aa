"""Schemathesis against the API, in-process (WSGI): every operation of /api/schema/, called with the
tokens of a seeded project's admin, lead and annotator and of an outsider (no member of it), and with
no token at all (anonymous: what an attacker without an account sends), must answer without a 500,
with a status code the schema documents and a body that matches the schema (error bodies included).

Bounded: a fixed number of derandomized examples per operation and role, no example database. Path
parameters named `project_id` point at the seeded project (else nearly every call would be a 404);
the other ids are generated. Operations that start model work (training and evaluation runs, scoring
samples with the embedder, pushing to the Hub) are left out: their input checks have their own tests.
"""

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from tests.conftest import make_items

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

EXAMPLES = 12  # per operation and role
MODEL_WORK = {
    ("POST", "/api/projects/{project_id}/runs/"),
    ("POST", "/api/runs/{run_id}/resume/"),
    ("POST", "/api/projects/{project_id}/eval-runs/"),
    ("POST", "/api/eval-runs/{run_id}/resume/"),
    ("POST", "/api/projects/{project_id}/samples/score/"),
    ("POST", "/api/exports/{export_id}/push/"),
}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def operations():
    # Django's WSGI handler, not config.wsgi: that marks the process a server (DJANGO_SERVER_PROCESS),
    # which later tests' subprocesses would inherit as production mode
    schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())
    ops = [result.ok() for result in schema.get_all_operations()]
    return [op for op in ops if (op.method.upper(), op.path) not in MODEL_WORK]


@pytest.fixture
def tokens(users, project, items):
    make_items(project, users["lead"], 3, start=10)
    keys = {
        role: Token.objects.get_or_create(user=users[role])[0].key
        for role in ("admin", "lead", "annotator", "outsider")
    }
    return {**keys, "anonymous": None}


@pytest.fixture
def keep_connection():
    """Django closes the database connection after each request (request_finished); Django's test client
    turns that off, Schemathesis' WSGI client does not: the test's transaction would go with it."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def check(operation, key, project_id):
    """Run `operation`'s examples with one role's token (`key` None: no Authorization header); raise on
    the first failing check."""
    headers = {"Authorization": f"Token {key}"} if key is not None else {}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case):
        if "project_id" in (case.path_parameters or {}):
            case.path_parameters["project_id"] = project_id
        with transaction.atomic():  # each example starts from the seeded project, whatever it did
            try:
                case.call_and_validate(headers=headers, checks=CHECKS)
            finally:
                transaction.set_rollback(True)

    run()


@pytest.mark.timeout(1200)  # a hard limit (pytest-timeout); it takes 2-4 minutes on 2 busy cores
def test_api_conforms_to_its_schema(tokens, project, keep_connection):
    failures = []
    for operation in operations():
        for role, key in tokens.items():
            try:
                check(operation, key, project.pk)
            except (
                Exception,
                BaseExceptionGroup,
            ) as exc:  # collect every operation's failure, then report them all
                failures.append(f"{role} {operation.method.upper()} {operation.path}: {exc}"[:2500])
    assert not failures, "\n\n".join(failures)
