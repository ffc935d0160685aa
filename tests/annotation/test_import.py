"""Import: the pure parser (errors name line and field), all-or-nothing writes through the service, the
API and the management command, and duplicate counting."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.importing import services as import_services
from annotation.importing.parse import MAX_ERRORS, ImportIssue, ItemRecord, parse_items
from annotation.management.commands.import_items import Command as ImportCommand
from annotation.models import AuditEvent, Item


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def jsonl(*rows) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n"


def issues(result) -> set[tuple[int, str]]:
    return {(e.line, e.field) for e in result.errors}


GOOD = [{"prompt": f"Question {i}?", "response": f"Answer {i}."} for i in range(10)]


# --- parse_items: pure, no database ---------------------------------------------------------


def test_jsonl_records():
    result = parse_items(
        jsonl(
            {
                "prompt": "Hi?",
                "response": "Hello.",
                "model": "m1",
                "id": 7,
                "priority": "3",
                "metadata": {"a": 1},
            },
            {"prompt": "Q", "system": "Be terse.", "response": "A"},
        )
    )
    assert result.ok
    first, second = result.records
    assert (first.line, first.kind, first.external_id, first.priority, first.metadata) == (
        1,
        "sft",
        "7",
        3,
        {"a": 1},
    )
    assert first.messages == [{"role": "user", "content": "Hi?"}]
    assert [(r["text"], r["model"]) for r in first.responses] == [("Hello.", "m1")]
    assert second.messages == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Q"}]


def test_errors_name_line_and_field_and_all_are_collected():
    result = parse_items(
        jsonl(
            {"prompt": "fine", "response": "fine"},
            {"response": "no prompt"},
            {"prompt": "q", "response": "r", "priority": "high", "metadata": [1]},
            {"prompt": "q", "response": "   "},
            {"prompt": "q", "response": "r", "id": "x" * 201},
        )
    )
    assert not result.ok and result.records == []  # all or nothing, even in the parser
    assert issues(result) == {(2, "prompt"), (3, "priority"), (3, "metadata"), (4, "response"), (5, "id")}
    assert all(e.message for e in result.errors)
    assert str(result.errors[0]).startswith("line 2, field 'prompt': ")


def test_json_syntax_error_reports_its_line_and_column():
    text = jsonl({"prompt": "a", "response": "b"}, "", '{"prompt": "c", "response": }', "[1, 2]")
    result = parse_items(text)
    assert issues(result) == {(3, "line"), (4, "line")}
    syntax = next(e for e in result.errors if e.line == 3)
    assert "Invalid JSON" in syntax.message and "column 29" in syntax.message
    assert "JSON object" in next(e for e in result.errors if e.line == 4).message


def test_unicode_line_separator_inside_a_string_is_not_a_new_line():
    text = jsonl({"prompt": "one\u2028two", "response": "ok"}, {"prompt": "x"})
    text = text.replace("\\u2028", "\u2028")  # a raw U+2028, legal inside a JSON string
    result = parse_items(text)
    assert issues(result) == {(2, "response")}


def test_csv_quoted_newlines_report_the_row_start_line():
    text = (
        "prompt,response\n"  # line 1
        '"A prompt\nthat spans\nthree lines",Fine.\n'  # lines 2-4
        "\n"  # line 5, blank
        '"Another\nprompt",\n'  # lines 6-7: missing response
        "Short?,Yes.,extra\n"  # line 8: too many columns
    )
    result = parse_items(text, fmt="csv")
    assert issues(result) == {(6, "response"), (8, "line")}
    assert "3 columns; the header has 2" in next(e for e in result.errors if e.line == 8).message

    ok = parse_items(text.split("\n\n")[0] + "\n", fmt="csv")
    assert ok.ok and ok.records[0].line == 2
    assert ok.records[0].messages[0]["content"] == "A prompt\nthat spans\nthree lines"


def test_mapping_of_custom_column_names():
    text = "question,answer,engine,ref,rank\nWhy?,Because.,gpt-x,r1,4\n"
    mapping = {"prompt": "question", "response": "answer", "model": "engine", "id": "ref", "priority": "rank"}
    result = parse_items(text, fmt="csv", mapping=mapping)
    assert result.ok, result.errors
    record = result.records[0]
    assert record.messages == [{"role": "user", "content": "Why?"}]
    assert [(r["text"], r["model"]) for r in record.responses] == [("Because.", "gpt-x")]
    assert (record.external_id, record.priority) == ("r1", 4)

    # Without the mapping the same file names our default column as missing.
    assert issues(parse_items(text, fmt="csv")) == {(2, "prompt"), (2, "response")}
    # The error names the column of the file, not ours.
    bad = parse_items(
        "question,answer\n,x\n", fmt="csv", mapping={"prompt": "question", "response": "answer"}
    )
    assert issues(bad) == {(2, "question")}
    unknown = parse_items(text, fmt="csv", mapping={"title": "question"})
    assert issues(unknown) == {(0, "mapping")}


def test_openai_chat_format():
    chat = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3+3?"},
            {"role": "assistant", "content": "6"},
        ]
    }
    result = parse_items(jsonl(chat))
    assert result.ok
    record = result.records[0]
    assert [m["role"] for m in record.messages] == ["system", "user", "assistant", "user"]
    assert [(r["text"], r["model"]) for r in record.responses] == [("6", "")]

    bad = parse_items(
        jsonl(
            {"messages": [{"role": "user", "content": "no answer"}]},
            {"messages": [{"role": "robot", "content": "x"}, {"role": "user", "content": 5}]},
            {"messages": []},
            {"messages": [{"role": "assistant", "content": "only me"}], "response": "r"},
        )
    )
    assert issues(bad) == {
        (1, "response"),  # no assistant turn at the end and no `response`
        (2, "messages[0].role"),
        (2, "messages[1].content"),
        (2, "messages"),  # no user turn left
        (2, "response"),
        (3, "messages"),
        (3, "response"),
        (4, "messages"),  # an answer needs a user turn before it
    }


def test_comparison_items():
    result = parse_items(
        jsonl({"prompt": "Pick one", "responses": [{"text": "A", "model": "m1"}, "B"]}), kind="comparison"
    )
    assert result.ok
    assert result.records[0].kind == "comparison"
    assert [r["text"] for r in result.records[0].responses] == ["A", "B"]
    assert issues(parse_items(jsonl({"prompt": "x", "responses": ["only one"]}))) == {(1, "responses")}


def test_file_level_errors():
    assert issues(parse_items("")) == {(0, "file")}
    assert issues(parse_items(b"\xff\xfe\xfa")) == {(0, "file")}
    assert issues(parse_items("x", fmt="xml")) == {(0, "format")}
    assert issues(parse_items("", fmt="csv")) == {(1, "line")}
    assert parse_items(("\ufeff" + jsonl(GOOD[0])).encode()).ok  # a UTF-8 BOM is fine


def test_values_the_database_would_refuse_are_errors():
    result = parse_items(
        jsonl(
            {"prompt": "q1", "response": "r", "priority": 10**12},
            {"prompt": "q2", "response": "r", "priority": 1.5},
            {"prompt": "q3", "response": "r", "priority": True},
            '{"prompt": "q4", "response": "r", "metadata": {"x": NaN}}',
            '{"prompt": "nul\\u0000", "response": "r"}',
        )
    )
    assert issues(result) == {(1, "priority"), (2, "priority"), (3, "priority"), (4, "line"), (5, "line")}
    assert issues(parse_items("prompt,response\nq,r\x00\n", fmt="csv")) == {(2, "line")}
    assert parse_items(jsonl({"prompt": "q", "response": "r", "priority": 2.0})).records[0].priority == 2


def test_error_count_is_capped():
    result = parse_items(jsonl(*[{"prompt": f"q{i}"} for i in range(MAX_ERRORS + 50)]))
    assert len(result.errors) == MAX_ERRORS + 1
    assert result.errors[-1].field == "file"


def test_content_hash_ignores_surrounding_whitespace():
    result = parse_items(
        jsonl({"prompt": "Same?", "response": "Yes."}, {"prompt": " Same? ", "response": "Yes.\n"})
    )
    assert result.records[0].content_hash == result.records[1].content_hash


# --- writing: all or nothing, duplicates ----------------------------------------------------


@pytest.fixture
def ten_good_one_bad():
    rows = [json.dumps(r) for r in GOOD]
    rows.insert(6, json.dumps({"prompt": "Broken", "response": ""}))
    return "\n".join(rows) + "\n"


@pytest.mark.django_db
def test_service_is_atomic_when_the_database_refuses_a_row(project, users):
    records = parse_items(jsonl(*GOOD)).records
    # A response the database layer cannot store, after all items were inserted.
    records.append(
        ItemRecord(
            line=11,
            kind="sft",
            messages=[{"role": "user", "content": "Last"}],
            responses=[{"text": "x", "generation_params": {"bad": object()}}],
        )
    )
    with pytest.raises(TypeError):
        import_services.import_items(project=project, actor=users["lead"], records=records)
    assert not Item.objects.filter(project=project).exists()
    assert not AuditEvent.objects.filter(project=project, verb="items.imported").exists()


@pytest.mark.django_db
def test_parse_failure_means_nothing_reaches_the_service(project, ten_good_one_bad):
    result = parse_items(ten_good_one_bad)
    assert issues(result) == {(7, "response")} and result.records == []


@pytest.mark.django_db
def test_api_import_is_all_or_nothing(project, users, ten_good_one_bad):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=users['lead']).key}")
    url = f"/api/projects/{project.pk}/items/import/"
    r = client.post(url, {"data": ten_good_one_bad}, format="json")
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {
            "line": 7,
            "field": "response",
            "message": "Required: the candidate response (or end `messages` with an assistant turn).",
        }
    ]
    assert not Item.objects.filter(project=project).exists()
    r = client.post(
        url, {"data": ten_good_one_bad.replace('"response": ""', '"response": "Fixed."')}, format="json"
    )
    assert r.status_code == 201 and r.json() == {"created": 11, "duplicates": 0}


@pytest.mark.django_db
def test_duplicates_within_a_file_and_across_imports(project, users):
    text = jsonl(GOOD[0], GOOD[1], {"prompt": " Question 0? ", "response": "Answer 0."}, GOOD[1])
    first = import_services.import_items(
        project=project, actor=users["lead"], records=parse_items(text).records
    )
    assert (first.created, first.duplicates) == (2, 2)
    second = import_services.import_items(
        project=project, actor=users["lead"], records=parse_items(jsonl(*GOOD[:3])).records
    )
    assert (second.created, second.duplicates) == (1, 2)
    assert Item.objects.filter(project=project).count() == 3
    event = AuditEvent.objects.filter(project=project, verb="items.imported").first()
    assert event.data["created"] == 1 and event.data["duplicates"] == 2 and event.actor == users["lead"]


# --- the management command -----------------------------------------------------------------


def run_command(*args):
    out, err = StringIO(), StringIO()
    call_command("import_items", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_command_imports_and_counts_duplicates(project, users, tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_text(jsonl(*GOOD[:3], GOOD[0]))
    out, err = run_command(project.pk, path)
    assert "Imported 3 item(s) into 'Demo'; 1 duplicate(s) skipped." in out and err == ""
    out, _ = run_command(project.pk, path, "--as", "lead")
    assert "Imported 0 item(s)" in out and "4 duplicate(s)" in out
    item = Item.objects.filter(project=project).first()
    assert item.source == "batch.jsonl"
    actors = set(AuditEvent.objects.filter(verb="items.imported").values_list("actor__username", flat=True))
    assert actors == {"admin1", "lead"}  # default actor: the project's admin


@pytest.mark.django_db
def test_command_csv_with_mapping_and_explicit_format(project, tmp_path):
    path = tmp_path / "export.txt"
    path.write_text('q,a,who\n"Multi\nline?",Yes.,m9\n')
    out, _ = run_command(
        project.pk, path, "--format", "csv", "--map", "prompt=q", "--map", "response=a", "--map", "model=who"
    )
    assert "Imported 1 item(s)" in out
    item = Item.objects.get(project=project)
    assert item.messages == [{"role": "user", "content": "Multi\nline?"}]
    assert item.responses.get().model_name == "m9"


@pytest.mark.django_db
def test_command_failure_lists_lines_and_writes_nothing(project, tmp_path, ten_good_one_bad):
    path = tmp_path / "bad.jsonl"
    path.write_text(ten_good_one_bad + '{"prompt": oops}\n')
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="2 error"):
        call_command("import_items", str(project.pk), str(path), stdout=out, stderr=err)
    lines = err.getvalue().splitlines()
    assert lines == [
        "bad.jsonl: line 7, field 'response': Required: the candidate response "
        "(or end `messages` with an assistant turn).",
        "bad.jsonl: line 12, field 'line': Invalid JSON: Expecting value at column 12.",
    ]
    assert out.getvalue() == ""
    assert not Item.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_command_exits_non_zero(project, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("prompt,response\nq,\n")
    with pytest.raises(SystemExit) as exc:
        ImportCommand().run_from_argv(["manage.py", "import_items", str(project.pk), str(path)])
    assert exc.value.code == 1
    assert "line 2, field 'response'" in capsys.readouterr().err


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args,message",
    [
        (["{p}", "missing.jsonl"], "No such file"),
        (["987654", "{f}"], "No project with id 987654"),
        (["{p}", "{f}", "--as", "ghost"], "No user named 'ghost'"),
        (["{p}", "{f}", "--as", "annotator1"], "may not import items"),
        (["{p}", "{f}", "--as", "outsider"], "may not import items"),
        (["{p}", "{f}", "--map", "prompt"], "expected OURS=THEIRS"),
        (["{p}", "{f}", "--map", "title=q"], "unknown field 'title'"),
    ],
)
def test_command_refusals(project, tmp_path, args, message):
    path = tmp_path / "ok.jsonl"
    path.write_text(jsonl(GOOD[0]))
    args = [a.format(p=project.pk, f=path) for a in args]
    with pytest.raises(CommandError, match=message):
        run_command(*args)
    assert not Item.objects.filter(project=project).exists()


def test_import_issue_shape():
    assert ImportIssue(3, "prompt", "Required.").as_dict() == {
        "line": 3,
        "field": "prompt",
        "message": "Required.",
    }


@pytest.mark.django_db
def test_create_project_command_then_import(users, tmp_path):
    from annotation.models import Membership, Project

    guidelines = tmp_path / "guide.md"
    guidelines.write_text("# Be kind")
    out = StringIO()
    call_command(
        "create_project",
        "Scripted",
        "--admin",
        "admin1",
        "--lead",
        "lead",
        "--annotator",
        "annotator1",
        "--overlap",
        "2",
        "--guidelines-file",
        str(guidelines),
        stdout=out,
    )
    project = Project.objects.get(pk=int(out.getvalue()))
    assert (project.name, project.overlap, project.guidelines) == ("Scripted", 2, "# Be kind")
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"admin1": "admin", "lead": "lead", "annotator1": "annotator"}

    with pytest.raises(CommandError, match="overlap"):
        call_command("create_project", "Bad", "--admin", "admin1", "--overlap", "0", stdout=StringIO())
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("create_project", "Bad", "--admin", "admin1", "--lead", "ghost", stdout=StringIO())
    assert not Project.objects.filter(name="Bad").exists()  # the failed runs left nothing behind

    path = tmp_path / "items.jsonl"
    path.write_text(jsonl(*GOOD[:2]))
    out, _ = run_command(project.pk, path, "--as", "lead")
    assert "Imported 2 item(s) into 'Scripted'" in out


def test_text_a_database_cannot_store_is_refused_with_its_line():
    """Each of these once reached the database and came back as a 500."""
    lines = "\n".join(
        [
            '{"prompt": "ok", "response": "fine"}',
            '{"prompt": "lone \\ud800 surrogate", "response": "r"}',  # JSON allows it, UTF-8 does not
            '{"prompt": "p", "response": "r", "metadata": {"x": 1e999}}',  # infinity
            '{"prompt": "p", "response": "r", "generation_params": {"temperature": -1e400}}',
            json.dumps({"prompt": "p", "response": "r", "model": "m" * 501}),
            json.dumps({"prompt": "p", "response": "r", "model_version": "v" * 201}),
            json.dumps({"prompt": "p", "responses": [{"text": "a", "model": "m" * 501}, {"text": "b"}]}),
            json.dumps({"messages": [{"role": "assistant", "content": "only an answer"}]}),
            json.dumps({"prompt": "p", "response": "r", "model": {"name": "x"}}),
            json.dumps({"prompt": "p", "responses": [{"text": "a", "model": ["x"]}, {"text": "b"}]}),
        ]
    )
    result = parse_items(lines)
    assert not result.ok and result.records == []
    assert issues(result) == {
        (2, "line"),
        (3, "line"),
        (4, "line"),
        (5, "model"),
        (6, "model_version"),
        (7, "responses[0].model"),
        (8, "messages"),  # no user turn: the conversation would be empty
        (9, "model"),  # an object stored as its Python repr before
        (10, "responses[0].model"),
    }
    messages = {(e.line, e.field): e.message for e in result.errors}
    assert "unpaired surrogate" in messages[(2, "line")] and "\\ud800" in messages[(2, "line")]
    assert "out of range" in messages[(3, "line")]
    # the same surrogate handed in as text (the API's JSON body can carry one), in CSV
    csv_result = parse_items("prompt,response\nhi \ud800,r\n", fmt="csv")
    assert issues(csv_result) == {(2, "line")}


@pytest.mark.django_db
def test_api_import_of_unstorable_text_is_a_400_not_a_500(users, project):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=users['lead'])[0].key}")
    url = f"/api/projects/{project.pk}/items/import/"
    for line in (
        '{"prompt": "a \\ud800", "response": "r"}',
        '{"prompt": "p", "response": "r", "metadata": {"x": 1e999}}',
    ):
        res = client.post(url, {"data": line, "format": "jsonl", "kind": "sft"}, format="json")
        assert res.status_code == 400, res.content
    assert project.items.count() == 0
    long_name = "x" * 300 + ".jsonl"
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(long_name, b'{"prompt": "p", "response": "r"}\n')
    res = client.post(url, {"file": upload, "kind": "sft"}, format="multipart")
    assert res.status_code == 201, res.content
    assert len(project.items.get().source) == 200
