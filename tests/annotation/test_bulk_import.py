"""The file import (annotation.importing.bulk): streaming validation, staging (COPY on PostgreSQL,
executemany on SQLite), one INSERT ... SELECT. These run on whichever database the run has (SQLite in
`make test-fast`, PostgreSQL in CI); the postgres-marked ones need PostgreSQL's COPY path."""

import io
import json
import threading

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.importing import bulk, jobs, services
from annotation.importing.parse import ImportFailed, parse_items
from annotation.models import AuditEvent, ImportJob, Item, Response
from config.celery import app

pytestmark = pytest.mark.django_db


def jsonl(*rows) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n").encode()


def good(i: int) -> dict:
    return {"prompt": f"Question {i}?", "response": f"Answer {i}.", "model": "m1"}


def run(project, actor, data: bytes, **kw):
    return bulk.import_file(project=project, actor=actor, stream=io.BytesIO(data), size=len(data), **kw)


def failure(project, actor, data: bytes, **kw) -> set[tuple[int, str]]:
    with pytest.raises(ImportFailed) as exc:
        run(project, actor, data, **kw)
    return {(e.line, e.field) for e in exc.value.errors}


def nothing_stored(project):
    assert not Item.objects.filter(project=project).exists()
    assert not Response.objects.filter(item__project=project).exists()
    assert not AuditEvent.objects.filter(project=project, verb="items.imported").exists()


def staging_exists() -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [bulk.STAGING])
            return cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM sqlite_temp_master WHERE name = %s", [bulk.STAGING])
        return cursor.fetchone()[0] > 0


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 10)


# --- all or nothing, line-numbered ------------------------------------------------------------


def test_a_bad_first_line_stores_nothing(project, users):
    data = jsonl({"prompt": "no response"}, *[good(i) for i in range(30)])
    assert failure(project, users["lead"], data) == {(1, "response")}
    nothing_stored(project)
    assert not staging_exists()


def test_a_bad_line_near_the_end_of_a_big_file_stores_nothing(project, users, small_chunks):
    """The first 49 chunks were already staged when line 498 turned out bad: none of them is kept."""
    rows = [good(i) for i in range(500)]
    rows[497] = {"prompt": "q", "response": "r", "priority": "high"}
    data = jsonl(*rows[:499], '{"prompt": oops}', rows[499])
    assert failure(project, users["lead"], data) == {(498, "priority"), (500, "line")}
    nothing_stored(project)
    assert not staging_exists()


def test_every_issue_is_reported_with_its_line_and_field(project, users, small_chunks):
    rows = [good(i) for i in range(40)]
    rows[3] = {"prompt": "", "response": "r"}
    rows[25] = {"prompt": "q", "response": "r", "metadata": [1]}
    with pytest.raises(ImportFailed) as exc:
        run(project, users["lead"], jsonl(*rows))
    assert [(e.line, e.field) for e in exc.value.errors] == [(4, "prompt"), (26, "metadata")]
    assert str(exc.value).startswith("Import failed, nothing was imported: line 4, field 'prompt': ")
    nothing_stored(project)


def test_file_level_failures(project, users):
    assert failure(project, users["lead"], b"") == {(0, "file")}
    assert failure(project, users["lead"], b"\n\n") == {(0, "file")}
    assert failure(project, users["lead"], jsonl(good(1)) + b"\xff\xfe\n") == {(0, "file")}
    assert failure(project, users["lead"], jsonl(good(1)), fmt="xml") == {(0, "format")}
    assert failure(project, users["lead"], jsonl(good(1)), mapping={"title": "x"}) == {(0, "mapping")}
    nothing_stored(project)


def test_csv_rows_spanning_lines_report_where_they_start(project, users):
    text = 'prompt,response\n"A prompt\nthat spans\nthree lines",Fine.\n\n"Another\nprompt",\n'
    assert failure(project, users["lead"], text.encode(), fmt="csv") == {(6, "response")}
    result = run(project, users["lead"], text.split("\n\n")[0].encode() + b"\n", fmt="csv")
    assert result.created == 1
    assert Item.objects.get(project=project).messages[0]["content"] == "A prompt\nthat spans\nthree lines"


def test_text_a_database_cannot_store_is_refused_with_its_line(project, users):
    data = jsonl(
        good(1), '{"prompt": "lone \\ud800", "response": "r"}', '{"prompt": "nul\\u0000", "response": "r"}'
    )
    assert failure(project, users["lead"], data) == {(2, "line"), (3, "line")}
    ok = jsonl({"prompt": "an emoji \\ud83d\\ude00 is a pair", "response": "fine"})
    assert run(project, users["lead"], ok.replace(b"\\\\", b"\\")).created == 1


def test_permission_is_checked_before_reading(project, users):
    from annotation.core.errors import ServiceError

    with pytest.raises(ServiceError):
        run(project, users["annotator"], jsonl(good(1)))
    nothing_stored(project)


# --- dedupe -------------------------------------------------------------------------------------


def test_duplicates_within_the_file_and_against_the_project(project, users, small_chunks):
    rows = [good(i) for i in range(25)]
    rows.insert(20, {"prompt": " Question 3? ", "response": "Answer 3.\n"})  # same hash, trimmed
    rows.append(good(0))
    first = run(project, users["lead"], jsonl(*rows), source="a.jsonl")
    assert (first.created, first.duplicates) == (25, 2)
    # The file's first row of each hash is the one kept, and ids follow the file's order.
    kept = list(Item.objects.filter(project=project).order_by("id").values_list("messages", flat=True))
    assert [m[0]["content"] for m in kept] == [f"Question {i}?" for i in range(25)]
    second = run(project, users["lead"], jsonl(*[good(i) for i in range(20, 30)]), source="b.jsonl")
    assert (second.created, second.duplicates) == (5, 5)
    assert Item.objects.filter(project=project).count() == 30
    assert Response.objects.filter(item__project=project).count() == 30
    event = AuditEvent.objects.filter(project=project, verb="items.imported").first()
    assert event.data == {"source": "b.jsonl", "created": 5, "duplicates": 5}
    assert event.actor == users["lead"]


ROWS = [
    {"prompt": "Hi?", "response": "Hello.", "model": "m1", "id": 7, "priority": "3", "metadata": {"a": [1, 2]}},
    {"prompt": "Q", "system": "Be terse.", "response": "A", "model_version": "v2",
     "generation_params": {"temperature": 0.7, "top_p": 0.9}},
    {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "2+2?"},
                  {"role": "assistant", "content": "4"}, {"role": "user", "content": "3+3?"},
                  {"role": "assistant", "content": "6"}]},
    {"prompt": "Pick one", "responses": [{"text": "A", "model": "x"}, "B", {"text": "C", "model_version": "9"}]},
    {"prompt": "Unicode: ü — 字 \u2028 ok", "response": "Yes \u00e9", "priority": -4},
    {"prompt": "Hi?", "response": "Hello.", "model": "other"},  # a duplicate of the first
]  # fmt: skip


def stored(project):
    items = list(
        Item.objects.filter(project=project).order_by("id").values(
            "kind", "messages", "external_id", "content_hash", "metadata", "priority", "state", "active_count",
            "submitted_count", "extra_overlap", "is_gold", "gold_answer", "resolution", "source",
        )
    )  # fmt: skip
    responses = Response.objects.filter(item__project=project).order_by("item_id", "position")
    fields = ("position", "text", "model_name", "model_version", "generation_params", "author_id", "shown")
    return items, list(responses.values_list(*fields))


def test_the_same_rows_as_the_in_memory_path(project, users):
    from annotation.projects import services as project_services

    other = project_services.create_project(name="Other", created_by=users["lead"], overlap=2)
    data = jsonl(*ROWS)
    old = services.import_items(
        project=other, actor=users["lead"], records=parse_items(data).records, source="same.jsonl"
    )
    new = run(project, users["lead"], data, source="same.jsonl")
    assert (new.created, new.duplicates) == (old.created, old.duplicates) == (5, 1)
    assert stored(project) == stored(other)
    kinds = [i["kind"] for i in stored(project)[0]]
    assert kinds == ["sft", "sft", "sft", "comparison", "sft"]


def test_comparisons_share_the_path(project, users):
    data = jsonl({"prompt": "P", "responses": ["a", "b"]}, {"prompt": "P", "responses": ["a", "b"]})
    result = run(project, users["lead"], data, kind="comparison")
    assert (result.created, result.duplicates) == (1, 1)
    item = Item.objects.get(project=project)
    assert item.kind == "comparison" and [r.text for r in item.responses.order_by("position")] == ["a", "b"]


def test_progress_is_reported_between_chunks(project, users, small_chunks):
    calls = []
    data = jsonl(*[good(i) for i in range(35)])
    run(project, users["lead"], data, progress=lambda *call: calls.append(call))
    reading = [c for c in calls if c[0] == "reading"]
    assert [c[1] for c in reading] == [10, 20, 30, 35]
    fractions = [c[2] for c in reading]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] == 1.0
    assert calls[-1] == ("inserting", 35, 1.0)


def test_a_text_stream_is_read_too(project, users):
    text = jsonl(good(1), good(2)).decode()
    result = bulk.import_file(project=project, actor=users["lead"], stream=io.StringIO(text))
    assert result.created == 2


# --- the API, the page, the task ----------------------------------------------------------------


@pytest.fixture
def api(users):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=users['lead']).key}")
    return client


@pytest.fixture
def eager():
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the queued task runs in this process as soon as it is queued
    yield
    app.conf.task_always_eager = before


def upload(name: str, data: bytes):
    f = io.BytesIO(data)
    f.name = name
    return f


def test_api_large_upload_is_a_job_with_a_url(project, api, settings, eager, tmp_path):
    settings.TUNELOOP_IMPORT_TASK_BYTES = 100
    settings.DATA_DIR = tmp_path
    data = jsonl(*[good(i) for i in range(20)], good(3))
    url = f"/api/projects/{project.pk}/items/import/"
    res = api.post(url, {"file": upload("big.jsonl", data)}, format="multipart")
    assert res.status_code == 202, res.content
    body = res.json()
    assert res["Location"] == body["url"] == f"{url}jobs/{body['id']}/"
    polled = api.get(body["url"]).json()
    assert polled["state"] == "done" and polled["result"] == {"created": 20, "duplicates": 1}
    assert polled["lines"] == 21 and polled["progress"] == 1.0 and polled["issues"] == []
    assert Item.objects.filter(project=project, source="big.jsonl").count() == 20
    assert list(tmp_path.joinpath("imports").iterdir()) == []  # the stored upload is removed

    bad = jsonl(*[good(i) for i in range(30, 50)], {"prompt": "x"})
    body = api.post(url, {"file": upload("bad.jsonl", bad)}, format="multipart").json()
    polled = api.get(body["url"]).json()
    assert polled["state"] == "failed" and polled["result"] is None
    assert polled["issues"] == [
        {"line": 21, "field": "response",
         "message": "Required: the candidate response (or end `messages` with an assistant turn)."}
    ]  # fmt: skip
    assert Item.objects.filter(project=project).count() == 20

    small = api.post(url, {"data": jsonl(good(99)).decode()}, format="json")
    assert small.status_code == 201 and small.json() == {"created": 1, "duplicates": 0}


def test_job_url_is_scoped_to_the_project_and_the_role(project, users, api, settings, eager, tmp_path):
    settings.TUNELOOP_IMPORT_TASK_BYTES = 10
    settings.DATA_DIR = tmp_path
    body = api.post(
        f"/api/projects/{project.pk}/items/import/",
        {"file": upload("x.jsonl", jsonl(good(1)))},
        format="multipart",
    ).json()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=users['annotator']).key}")
    assert other.get(body["url"]).status_code == 403
    outsider = APIClient()
    outsider.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=users['outsider']).key}")
    assert outsider.get(body["url"]).status_code == 404
    assert api.get(f"/api/projects/{project.pk}/items/import/jobs/{body['id'] + 100}/").status_code == 404


def test_a_job_runs_once(project, users, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    job = jobs.create(project=project, actor=users["lead"], upload=upload("a.jsonl", jsonl(good(1), good(2))),
                      fmt="jsonl", mapping={}, kind="sft")  # fmt: skip
    assert job.state == ImportJob.State.QUEUED and job.size > 0
    assert jobs.run(job.pk) == "done"
    assert jobs.run(job.pk) == "done"  # a redelivered task finds it done and leaves it
    assert Item.objects.filter(project=project).count() == 2


def test_page_shows_the_job_progress_then_its_result(client, users, project, settings, eager, tmp_path):
    settings.TUNELOOP_IMPORT_TASK_BYTES = 100
    settings.DATA_DIR = tmp_path
    client.force_login(users["lead"])
    data = jsonl(*[good(i) for i in range(10)])
    res = client.post(
        reverse("annotation:import", args=[project.pk]),
        {"file": upload("page.jsonl", data), "kind": "sft"},
        HTTP_HX_REQUEST="true",
    )
    assert res.status_code == 200
    html = res.content.decode()
    assert 'id="import-progress"' in html and "10 created, 0 duplicates skipped" in html
    job = ImportJob.objects.get(project=project)
    res = client.get(reverse("annotation:import-job", args=[project.pk, job.pk]))
    assert res.status_code == 200 and "10 created" in res.content.decode()
    # while it runs, the partial polls itself
    ImportJob.objects.filter(pk=job.pk).update(state="running", stage="reading", progress=0.45, lines=1234)
    html = client.get(reverse("annotation:import-job", args=[project.pk, job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in html and "1234 lines read" in html and 'value="45"' in html
    client.force_login(users["annotator"])
    assert client.get(reverse("annotation:import-job", args=[project.pk, job.pk])).status_code == 403


# --- PostgreSQL: COPY, concurrent imports ---------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_into_one_project_take_turns(project, users):
    """Two imports of overlapping files at once: each item stored once, no error, every row counted."""
    from django.db import connections

    files = [jsonl(*[good(i) for i in range(0, 300)]), jsonl(*[good(i) for i in range(150, 450)])]
    results, errors = [], []

    def one(data):
        try:
            results.append(run(project, users["lead"], data))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted((r.created, r.duplicates) for r in results) == [(150, 150), (300, 0)]
    assert Item.objects.filter(project=project).count() == 450
    assert Response.objects.filter(item__project=project).count() == 450


@pytest.mark.postgres
def test_postgres_stages_with_copy(project, users, monkeypatch):
    """The PostgreSQL path is COPY: every staged row goes through psycopg's Copy.write_row."""
    from psycopg import Copy

    written = []
    real = Copy.write_row
    monkeypatch.setattr(Copy, "write_row", lambda self, row: (written.append(row[0]), real(self, row))[1])
    run(project, users["lead"], jsonl(*[good(i) for i in range(5)]))
    assert written == [1, 2, 3, 4, 5]
    assert Item.objects.filter(project=project).count() == 5


@pytest.mark.postgres
def test_an_import_writes_its_search_rows_after_it_commits(
    project, users, eager, django_capture_on_commit_callbacks
):
    """The Items page's search rows (annotation.quality.search_index) are written by a task queued on
    commit, outside the import's transaction; a failed import queues nothing."""
    from annotation.models import ItemSearchText

    with django_capture_on_commit_callbacks(execute=False) as queued:
        failure(project, users["lead"], jsonl(good(1), "{not json"))
    assert queued == []
    with django_capture_on_commit_callbacks(execute=True) as queued:
        run(project, users["lead"], jsonl(*[good(i) for i in range(5)]))
        assert not ItemSearchText.objects.exists()  # not in the import's transaction
    assert len(queued) == 1
    rows = ItemSearchText.objects.filter(item_id__in=Item.objects.filter(project=project).values("pk"))
    assert sorted(r.responses for r in rows) == [f"Answer {i}." for i in range(5)]
    assert sorted(r.prompt for r in rows) == [f'["Question {i}?"]' for i in range(5)]
