"""The output JSON Schema of the format check: its rules (evaluation.metrics.schemas), the gates
form's textarea and the API's field (both through evaluation.promotion.set_gates), and the
format-validity metric reading what was saved. Bad input is a field error, never a 500."""

import json

import pytest
from django.utils.html import escape

from annotation.core.errors import InvalidInput
from evaluation import promotion, worker
from evaluation.metrics import schemas, suites
from evaluation.models import EvalRun, EvalSet
from tests.evaluation.factories import version
from tests.evaluation.test_api import client_for

ANSWER = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "score": {"$ref": "#/$defs/unit"}},
    "required": ["answer"],
    "$defs": {"unit": {"type": "number", "minimum": 0, "maximum": 1}},
}
DEEP_ARRAY = "[" * 30_000 + "]" * 30_000  # under the size cap; json.loads raises RecursionError
DEEP_SCHEMA = '{"not":' * 40 + "{}" + "}" * 40  # parses, valid per the metaschema, too deep for us
BIG = json.dumps({"description": "x" * (schemas.MAX_CHARS + 1)})


# --- the rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", None),
        ("   ", None),
        ("null", None),
        (json.dumps(ANSWER, indent=2), ANSWER),
        ("true", True),
    ],
)
def test_parse_accepts_a_schema_or_nothing(text, expected):
    assert schemas.parse(text) == (expected, "")


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"type": "object",}', "Not valid JSON"),
        ('{"type": "nonsense"}', "Not a valid JSON Schema at type"),
        ('{"properties": {"a": {"pattern": "("}}}', "Not a valid JSON Schema at properties/a/pattern"),
        ('{"required": "answer"}', "Not a valid JSON Schema at required"),
        ("[1, 2]", "A JSON Schema is an object"),
        ('"text"', "A JSON Schema is an object"),
        (BIG, "Too big"),
        ("[" + " " * (schemas.MAX_CHARS * 4) + "]", "Too big"),
        (DEEP_ARRAY, "Nested too deeply"),
        (DEEP_SCHEMA, "Nested too deeply"),
        ('{"$ref": "https://example.com/schema.json"}', "Only references inside the schema"),
        ('{"properties": {"a": {"$ref": "#/$defs/missing"}}}', "points to nothing"),
        ('{"const": "a\\u0000b"}', "NUL characters"),
        ('{"maximum": NaN}', "NaN and Infinity"),
    ],
)
def test_parse_refuses_with_a_sentence(text, message):
    value, problem = schemas.parse(text)
    assert value is None and message in problem, problem


def test_the_metric_checks_outputs_against_the_saved_schema(project, users):
    promotion.set_gates(project=project, actor=users["lead"], output_schema=ANSWER)
    v = version(project)
    eval_set = EvalSet.objects.create(project=project, name="s", source="imported", size=0)
    run = EvalRun.objects.create(project=project, eval_set=eval_set, model_version=v)
    spec = worker.spec_for(run)
    assert spec.schema == ANSWER and spec.regex == ""
    outputs = ['{"answer": "yes", "score": 0.5}', '{"answer": "yes", "score": 2}', '{"score": 1}',
               "not json", DEEP_ARRAY]  # fmt: skip
    out = suites.format_validity(outputs, schema=spec.schema, regex=spec.regex)
    assert out["rate"] == pytest.approx(1 / 5) and out["n"] == 5 and out["checker"] == "json-schema"


def test_set_gates_refuses_a_bad_schema_and_a_schema_beside_a_regex(project, users):
    lead = users["lead"]
    with pytest.raises(InvalidInput) as bad:
        promotion.set_gates(project=project, actor=lead, output_schema={"type": 3})
    assert "Not a valid JSON Schema" in bad.value.errors["output_schema"][0]
    promotion.set_gates(project=project, actor=lead, output_regex=r"ID-\d+")
    with pytest.raises(InvalidInput) as both:
        promotion.set_gates(project=project, actor=lead, output_schema=ANSWER)
    assert "not both" in both.value.errors["output_schema"][0]
    assert promotion.gates_for(project).output_schema is None  # nothing half-saved
    saved = promotion.set_gates(project=project, actor=lead, output_schema=ANSWER, output_regex="")
    assert saved.output_schema == ANSWER and saved.output_regex == ""


# --- the gates form ---------------------------------------------------------------------------------

FORM = {"min_preference_accuracy": "0.8", "min_win_rate_low": "", "max_forgetting_drop": "2",
        "safety_no_worse": "on", "few_shot": 3, "system_prompt": "", "output_regex": ""}  # fmt: skip


def test_the_gates_form_saves_a_schema_and_shows_it_indented(client, project, users):
    client.force_login(users["lead"])
    url = f"/projects/{project.pk}/evaluation/gates/"
    assert 'name="output_schema"' in client.get(url).content.decode()
    response = client.post(url, {**FORM, "output_schema": json.dumps(ANSWER)})
    assert response.status_code == 302
    assert promotion.gates_for(project).output_schema == ANSWER
    html = client.get(url).content.decode()
    assert "&quot;required&quot;: [\n    &quot;answer&quot;\n  ]" in html
    response = client.post(url, {**FORM, "output_schema": ""})  # blank clears it
    assert response.status_code == 302 and promotion.gates_for(project).output_schema is None


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"type": "object"', "Not valid JSON"),
        ('{"type": "nonsense"}', "Not a valid JSON Schema"),
        (BIG, "Too big"),
        (DEEP_ARRAY, "Nested too deeply"),
        (DEEP_SCHEMA, "Nested too deeply"),
        ('{"$ref": "https://example.com/s.json"}', "Only references inside the schema"),
    ],
)
def test_the_gates_form_refuses_bad_schemas_with_a_field_error(client, project, users, text, message):
    client.force_login(users["lead"])
    promotion.set_gates(project=project, actor=users["lead"], output_schema=ANSWER)
    url = f"/projects/{project.pk}/evaluation/gates/"
    response = client.post(url, {**FORM, "min_preference_accuracy": "0.5", "output_schema": text})
    html = response.content.decode()
    assert response.status_code == 400 and message in html
    assert 'class="field has-error"' in html
    saved = promotion.gates_for(project)
    assert saved.output_schema == ANSWER and saved.min_preference_accuracy == 0.8  # nothing lost
    if len(text) < 1000:
        assert escape(text) in html  # what was typed is still in the textarea


def test_the_gates_form_refuses_a_schema_and_a_regex_together(client, project, users):
    client.force_login(users["lead"])
    url = f"/projects/{project.pk}/evaluation/gates/"
    response = client.post(url, {**FORM, "output_schema": json.dumps(ANSWER), "output_regex": "ID-.*"})
    assert response.status_code == 400 and "not both" in response.content.decode()
    assert promotion.gates_for(project).output_regex == ""


# --- the API ----------------------------------------------------------------------------------------


def test_the_api_reads_and_writes_the_schema(project, users):
    client = client_for(users["lead"])
    url = f"/api/projects/{project.pk}/gates/"
    assert client.get(url).json()["output_schema"] is None
    saved = client.put(url, {"output_schema": ANSWER}, format="json")
    assert saved.status_code == 200 and saved.json()["output_schema"] == ANSWER
    assert client.get(url).json()["output_schema"] == ANSWER
    cleared = client.put(url, {"output_schema": None}, format="json")
    assert cleared.status_code == 200 and promotion.gates_for(project).output_schema is None


@pytest.mark.parametrize(
    "body,message",
    [
        ({"output_schema": {"type": "nonsense"}}, "Not a valid JSON Schema"),
        ({"output_schema": '{"type": "object"}'}, "A JSON Schema is an object"),
        ({"output_schema": {"description": "x" * (schemas.MAX_CHARS + 1)}}, "Too big"),
        ({"output_schema": json.loads(DEEP_SCHEMA)}, "Nested too deeply"),
        ({"output_schema": {"$ref": "https://example.com/s.json"}}, "Only references inside"),
    ],
)
def test_the_api_refuses_bad_schemas_with_field_errors(project, users, body, message):
    client = client_for(users["lead"])
    response = client.put(f"/api/projects/{project.pk}/gates/", body, format="json")
    assert response.status_code == 400 and message in response.json()["errors"]["output_schema"][0]
    assert promotion.gates_for(project).output_schema is None


@pytest.mark.parametrize("levels", [150, 100_000])
def test_the_api_answers_400_to_a_body_nested_too_deeply(project, users, levels):
    client = client_for(users["lead"])
    body = '{"output_schema": ' + '{"not": ' * levels + "{}" + "}" * levels + "}"
    response = client.put(f"/api/projects/{project.pk}/gates/", body, content_type="application/json")
    assert response.status_code == 400 and "nested deeper than" in response.json()["detail"]
