"""The API's hot statements are prepared once per connection on PostgreSQL
(annotation.core.statements.cursor): the second next + submit runs them by name; their constants are
literals in the text (statements.once), so a generic plan knows them (the pick's partial index); the
captured statements still read with their values in place; TUNELOOP_DB_PREPARE=0 (a pooler in
transaction mode) prepares nothing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.core import statements
from tests.annotation.factories import client_for
from tests.conftest import GOOD_SCORES, make_items

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def prepared() -> set[str]:
    with connection.cursor() as cursor:  # Django's own cursor: this statement is not prepared
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def cycles(client, project, n):
    for _ in range(n):
        r = client.get(f"/api/projects/{project.pk}/next/")
        assert r.status_code == 200, r.content
        body = {"decision": "accept", "scores": GOOD_SCORES}
        r = client.post(f"/api/assignments/{r.json()['assignment']}/submit/", body, format="json")
        assert r.status_code == 201, r.content


def test_next_and_submit_prepare_their_statements_once_per_connection(project, users):
    make_items(project, users["lead"], 4)
    client = client_for(users["annotator"])
    before = prepared()
    cycles(client, project, 1)
    after_one = prepared() - before
    # every statement of the cycle that is not transaction control: the token lookup, the project with
    # the caller's role, the user lock, the pick and lease, the assignment locked for submit, the
    # submit's writes (the version bump after the commit is Django's own cursor)
    assert len(after_one) == 6, after_one
    assert any("WITH judged AS" in s for s in after_one) and any(
        'FROM "authtoken_token"' in s for s in after_one
    )
    (pick,) = [s for s in after_one if "WITH pick AS" in s]
    # its constants are literals, so that a generic plan can use the partial queue index
    # (item_queue_idx: WHERE state = 'open'); only the values are parameters
    assert """"annotation_item"."state" = 'open'""" in pick and """"kind" = 'sft'""" in pick
    assert "$1" in pick and "$9" not in pick
    with CaptureQueriesContext(connection) as ctx:
        cycles(client, project, 2)
    assert prepared() - before == after_one  # the same texts again: run by name, nothing new prepared
    logged = [q["sql"] for q in ctx.captured_queries]
    assert logged and all(q is not None and "%s" not in q and "$1" not in q for q in logged), logged
    assert any(f"= {project.pk}" in q for q in logged)  # values in place, as a client-side cursor logs them


def test_with_prepare_off_nothing_is_prepared(project, users, settings):
    settings.TUNELOOP_DB_PREPARE = False
    make_items(project, users["lead"], 3)
    client = client_for(users["annotator"])
    before = prepared()
    cycles(client, project, 2)
    assert prepared() == before


def test_a_prepared_statement_reads_the_same_rows_as_a_plain_one(project, users):
    make_items(project, users["lead"], 3)
    sql = "SELECT id, kind, created_at, gold_answer FROM annotation_item WHERE project_id = %s AND id > %s ORDER BY id"
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, 0])
        plain = cursor.fetchall()
    for _ in range(3):  # prepared on the first run, by name afterwards
        with statements.cursor() as cursor:
            cursor.execute(sql, [project.pk, 0])
            assert cursor.fetchall() == plain
