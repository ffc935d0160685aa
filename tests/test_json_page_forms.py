"""Every page form that parses JSON answers hostile JSON with a form error, never a 500 (issue 14):
nested 2,000 levels deep (Python's json raises RecursionError, not ValueError) or holding a lone
surrogate ("\\ud800" is valid JSON but no UTF-8 column stores it). The test client runs with DEBUG off
and raise_request_exception off, as a browser meets the server."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

DEEP = "[" * 2000 + "]" * 2000
DEEP_OBJECT = '{"a":' * 2000 + "1" + "}" * 2000
SURROGATE = '"\\ud800"'


def _rubric_criteria(value: str) -> str:
    return '[{"key": "helpfulness", "type": "likert", "instructions": ' + value + "}]"


HOSTILE = {
    "deep array": DEEP,
    "deep object": DEEP_OBJECT,
    "lone surrogate": _rubric_criteria(SURROGATE),
    "surrogate key": '[{"key": "a", "type": "likert", ' + SURROGATE + ': "x"}]',
}


def _jsonl_rows(value: str) -> dict[str, str]:
    """Lines of a JSONL upload: a deep row, a deep field, a row with a lone surrogate."""
    return {
        "deep row": DEEP,
        "deep field": '{"prompt": "p", "response": "r", "metadata": ' + DEEP_OBJECT + "}",
        "surrogate": '{"prompt": ' + SURROGATE + ', "response": "r", "model": "m"}',
        "surrogate messages": '{"messages": "[{\\"role\\": \\"user\\", \\"content\\": \\"\\\\ud800\\"}]", '
        '"response": "r", "output": "o", "model": "m", "reference": "x"}',
        "deep messages": '{"messages": ' + json.dumps(DEEP) + ', "response": "r", "output": "o"}',
    }


@pytest.fixture
def lead_client(users, settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    client.force_login(users["lead"])
    return client


@pytest.mark.parametrize("name", HOSTILE)
def test_rubric_json_field(lead_client, project, name):
    response = lead_client.post(reverse("annotation:rubric", args=[project.pk]), {"criteria": HOSTILE[name]})
    assert response.status_code == 400, response.content[:300]
    assert b"criteria" in response.content.lower()


@pytest.mark.parametrize("name", list(_jsonl_rows("")))
def test_item_import_file(lead_client, project, name):
    upload = SimpleUploadedFile("items.jsonl", _jsonl_rows("")[name].encode("utf-8"), "application/jsonl")
    response = lead_client.post(
        reverse("annotation:import", args=[project.pk]), {"file": upload, "kind": "sft"}
    )
    assert response.status_code == 400, response.content[:300]
    assert project.items.count() == 0


@pytest.mark.parametrize("fmt", ["label-studio", "trl"])
@pytest.mark.parametrize("body", [DEEP, '[{"data": {"prompt": ' + SURROGATE + "}}]"])
def test_external_import_file(lead_client, project, fmt, body):
    name = "export.json" if fmt == "label-studio" else "pairs.jsonl"
    if fmt == "trl" and body.startswith("[{"):
        body = '{"prompt": ' + SURROGATE + ', "chosen": "a", "rejected": "b"}'
    upload = SimpleUploadedFile(name, body.encode("utf-8"), "application/json")
    response = lead_client.post(
        reverse("annotation:import-external", args=[project.pk]), {"file": upload, "format": fmt}
    )
    assert response.status_code == 400, response.content[:300]
    assert project.items.count() == 0


@pytest.mark.parametrize("name", list(_jsonl_rows("")))
def test_production_sample_import(lead_client, project, name):
    from annotation.models import ProductionSample

    upload = SimpleUploadedFile("samples.jsonl", _jsonl_rows("")[name].encode("utf-8"), "application/jsonl")
    response = lead_client.post(reverse("annotation:production-import", args=[project.pk]), {"file": upload})
    assert response.status_code == 302, response.content[:300]
    assert ProductionSample.objects.filter(project=project).count() == 0
    page = lead_client.get(response["Location"])
    assert page.status_code == 200 and b"message error" in page.content


@pytest.mark.parametrize("name", list(_jsonl_rows("")))
def test_eval_set_import(lead_client, project, name):
    from evaluation.models import EvalSet

    response = lead_client.post(
        reverse("evaluation:index", args=[project.pk]),
        {"source": "imported", "name": "hostile", "data": _jsonl_rows("")[name]},
    )
    assert response.status_code == 400, response.content[:300]
    assert not EvalSet.objects.filter(project=project).exists()


@pytest.mark.parametrize("schema", [DEEP_OBJECT, '{"type": "object", "description": ' + SURROGATE + "}",
                                    '{' + SURROGATE + ': {}}'])  # fmt: skip
def test_gates_output_schema(lead_client, project, schema):
    response = lead_client.post(reverse("evaluation:gates", args=[project.pk]), {"output_schema": schema})
    assert response.status_code == 400, response.content[:300]
    assert b"output_schema" in response.content or b"Output schema" in response.content


@pytest.mark.parametrize("cursor", [DEEP, '["\\ud800", 1]'])
def test_keyset_cursor(lead_client, project, cursor):
    import base64

    token = base64.urlsafe_b64encode(cursor.encode()).decode().rstrip("=")
    response = lead_client.get(reverse("annotation:audit", args=[project.pk]), {"after": token})
    assert response.status_code in (200, 400), response.content[:300]


def test_json_text_refuses_depth_and_surrogates_but_not_ordinary_json():
    from annotation.core import json_text

    assert json_text.loads('{"a": [1, {"b": "\\u00e9"}]}') == {"a": [1, {"b": "é"}]}
    nested_100 = "[" * 100 + "]" * 100
    assert json_text.loads(nested_100)  # the limit itself is fine
    for text, why in ((DEEP, "nested deeper"), ("[" * 101 + "]" * 101, "nested deeper"),
                      (SURROGATE, "lone surrogate"), ('{"\\udfff": 1}', "lone surrogate")):  # fmt: skip
        with pytest.raises(json_text.Refused, match=why):
            json_text.loads(text)
    assert json_text.loads(SURROGATE, surrogates=True) == "\ud800"
    with pytest.raises(ValueError):  # callers catching ValueError / JSONDecodeError see it
        json_text.loads(DEEP)


@pytest.mark.parametrize("decoder", [None, json.JSONDecoder()], ids=["json.loads", "shared decoder"])
def test_json_text_refusals_hold_on_the_fast_path(decoder):
    """`loads` skips the walk over the value when the text shows it is fine (few brackets, no \\u escape,
    no lone surrogate); the refusals must be the same either way, with a shared decoder too (the import
    reuses one per file)."""
    from annotation.core import json_text

    deep = "[" * 3 + "]" * 3
    assert json_text.loads(deep, max_depth=3, decoder=decoder) == [[[]]]
    for text, depth, why in (("[" * 4 + "]" * 4, 3, "nested deeper"),
                             ('{"a": {"b": {"c": {}}}}', 3, "nested deeper"),
                             ('["\\ud800"]', 100, "lone surrogate"),  # an escape: walked
                             ('{"k": "a \ud800 b"}', 100, "lone surrogate")):  # fmt: skip
        with pytest.raises(json_text.Refused, match=why):
            json_text.loads(text, max_depth=depth, decoder=decoder)
    # Brackets inside strings count towards the shortcut's bound, never towards the depth.
    assert json_text.loads('["[[[[{{{{"]', max_depth=1, decoder=decoder) == ["[[[[{{{{"]
    assert json_text.loads('["\\u00e9", "[x"]', max_depth=1, decoder=decoder) == ["é", "[x"]
    with pytest.raises(json.JSONDecodeError, match="BOM"):
        json_text.loads("\ufeff{}", decoder=decoder)


def test_import_rows_refuse_what_no_column_stores():
    from annotation.importing.rows import loads

    assert loads('{"a": 1.5, "b": [1, 2]}') == {"a": 1.5, "b": [1, 2]}
    for text in ('{"a": NaN}', '{"a": Infinity}', '{"a": 1e999}', "[" * 101 + "]" * 101):
        with pytest.raises(json.JSONDecodeError):
            loads(text)
