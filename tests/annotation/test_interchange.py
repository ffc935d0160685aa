"""Interchange imports: a Label Studio export (choices, textarea, pairwise, ranker) and TRL preference
datasets (JSONL, Parquet, save_to_disk; plain, conversational, implicit prompt). All or nothing, with
line-numbered errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotation.importing.label_studio import parse_label_studio
from annotation.importing.trl_preference import parse_trl_preference

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "interchange" / "label_studio_export.json"


def test_label_studio_fixture_imports_every_result_type():
    result = parse_label_studio(FIXTURE.read_bytes())
    assert result.ok, result.errors
    assert [r.kind for r in result.records] == ["sft", "sft", "comparison", "comparison"]
    assert [r.external_id for r in result.records] == ["101", "102", "103", "104"]
    assert [r.line for r in result.records] == [2, 30, 43, 65]  # where each task starts in the file

    sft, edited, pair, ranked = result.records
    assert sft.messages == [{"role": "user", "content": "What is the capital of France?"}]
    assert [r["text"] for r in sft.responses] == ["The capital of France is Paris."]
    accept, reject = result.judgments[0]  # the cancelled annotation is skipped
    assert (accept.annotator, accept.decision, accept.duration_seconds) == ("ls:7", "accept", 4.2)
    assert (reject.annotator, reject.decision, reject.scores) == ("ls:8", "reject", {"quality": 2})
    assert all(j.source == "label_studio" for js in result.judgments for j in js)

    assert edited.messages[0] == {"role": "system", "content": "Answer briefly."}
    (edit,) = result.judgments[1]
    assert edit.decision == "edit"
    assert edit.edited_text == "Use sorted(items) for a new list,\nor items.sort() in place."

    assert [r["text"][:9] for r in pair.responses] == ["Rain taps", "Rain is w"]
    assert [(j.annotator, j.ranking) for j in result.judgments[2]] == [
        ("ls:7", [[0], [1]]),
        ("ls:8", [[1], [0]]),
    ]

    assert len(ranked.responses) == 3
    (rank,) = result.judgments[3]
    assert rank.annotator == "ls:9" and rank.ranking == [[2], [0], [1]] and rank.outcome == "win"


def test_label_studio_never_keeps_an_email_or_name():
    result = parse_label_studio(FIXTURE.read_text())
    dumped = json.dumps([[j.as_dict() for j in js] for js in result.judgments])
    dumped += json.dumps([r.metadata for r in result.records])
    assert "maria" not in dumped.lower() and "example.com" not in dumped


def _task(data, results, task_id=1, completed_by=1):
    return {
        "id": task_id,
        "data": data,
        "annotations": [{"id": 5, "completed_by": completed_by, "result": results}],
    }


def test_label_studio_malformed_tasks_give_numbered_errors_and_no_records():
    good = _task(
        {"prompt": "Hi", "response": "Hello"}, [{"type": "choices", "value": {"choices": ["accept"]}}]
    )
    bad_choice = _task(
        {"prompt": "Hi", "response": "Yo"}, [{"type": "choices", "value": {"choices": ["maybe"]}}]
    )
    no_prompt = _task({"response": "Hello"}, [{"type": "choices", "value": {"choices": ["accept"]}}])
    bad_rank = _task(
        {"prompt": "Q", "items": [{"id": "a", "body": "A"}, {"id": "b", "body": "B"}]},
        [{"type": "ranker", "to_name": "items", "value": {"ranker": {"items": ["a"]}}}],
    )
    text = "[\n" + ",\n".join(json.dumps(t) for t in (good, bad_choice, no_prompt, bad_rank)) + "\n]"
    result = parse_label_studio(text)
    assert result.records == [] and result.judgments == []
    found = {(e.line, e.field) for e in result.errors}
    assert found == {
        (3, "annotations[0].result[0].value.choices"),
        (4, "data"),
        (5, "annotations[0].result[0].value.ranker"),
    }
    assert "line 3" in str(result.errors[0])


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"not": "a list"}', "JSON list of tasks"),
        ("[", "not closed"),
        ('[\n{"id": 1,\n "data": }]', "Invalid JSON"),
        ("[]", "no tasks"),
    ],
)
def test_label_studio_broken_files(text, message):
    result = parse_label_studio(text)
    assert result.records == [] and message in " ".join(e.message for e in result.errors)


PLAIN = [
    {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5", "margin": 1.0},
    {"prompt": "Capital of Italy?", "chosen": "Rome", "rejected": "Milan"},
]
CONVERSATIONAL = [
    {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "chosen": [{"role": "assistant", "content": "Hello!"}],
        "rejected": [{"role": "assistant", "content": "Go away."}],
    }
]
IMPLICIT = [
    {
        "chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
        "rejected": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Go away."}],
    }
]


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_trl_preference_jsonl_plain_as_judgments(tmp_path):
    result = parse_trl_preference(
        _jsonl(tmp_path / "prefs.jsonl", PLAIN), as_judgments=True, source="hf:team/p"
    )
    assert result.ok
    first = result.records[0]
    assert first.kind == "comparison" and first.messages == [{"role": "user", "content": "What is 2+2?"}]
    assert [r["text"] for r in first.responses] == ["4", "5"]
    (j,) = result.judgments[0]
    assert (j.annotator, j.source, j.ranking, j.outcome) == ("hf:team/p", "hf:team/p", [[0], [1]], "win")
    assert parse_trl_preference(tmp_path / "prefs.jsonl").judgments == [[], []]  # to be judged


def test_trl_preference_parquet_conversational_and_implicit(tmp_path):
    rows = CONVERSATIONAL + IMPLICIT
    pq.write_table(pa.Table.from_pylist(CONVERSATIONAL), tmp_path / "c.parquet")
    pq.write_table(pa.Table.from_pylist(IMPLICIT), tmp_path / "i.parquet")
    conv = parse_trl_preference(tmp_path / "c.parquet")
    impl = parse_trl_preference(tmp_path / "i.parquet")
    assert conv.ok and impl.ok and len(rows) == 2
    assert conv.records[0].messages[0]["role"] == "system"
    assert [r["text"] for r in conv.records[0].responses] == ["Hello!", "Go away."]
    assert impl.records[0].messages == [{"role": "user", "content": "Hi"}]


@pytest.mark.slow  # writes and reads a `datasets` folder (a heavy library)
def test_trl_preference_save_to_disk_folder_imports(tmp_path):
    from datasets import Dataset, DatasetDict

    DatasetDict({"train": Dataset.from_list(PLAIN), "test": Dataset.from_list(PLAIN[:1])}).save_to_disk(
        str(tmp_path / "ds")
    )
    result = parse_trl_preference(tmp_path / "ds", as_judgments=True)
    assert result.ok and len(result.records) == 3
    assert result.judgments[0][0].source == "trl:ds"


def test_trl_preference_export_round_trip(tmp_path):
    """What training.export writes in the preference layout imports back as the same comparisons."""
    from training.export import export_rows

    rows = [
        {
            "split": "train",
            "position": i,
            "data": {
                "messages": [{"role": "user", "content": f"Q{i}"}],
                "chosen": f"good {i}",
                "rejected": f"bad {i}",
            },
            "provenance": {"margin": 1.0},
        }
        for i in range(3)
    ]
    export_rows(rows, tmp_path / "out", layout="trl-preference", fmt="hf")
    result = parse_trl_preference(tmp_path / "out", as_judgments=True)
    assert result.ok
    assert [[r["text"] for r in rec.responses] for rec in result.records] == [
        [f"good {i}", f"bad {i}"] for i in range(3)
    ]


def test_trl_preference_malformed_rows_give_line_numbers_and_nothing(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(PLAIN[0]),
                json.dumps({"prompt": "Q", "chosen": "same", "rejected": "same"}),
                "{not json",
                json.dumps({"prompt": "Q", "chosen": "A"}),
                json.dumps(
                    {
                        "prompt": [{"role": "user", "content": "Q"}],
                        "chosen": [{"role": "user", "content": "x"}],
                        "rejected": "r",
                    }
                ),
            ]
        )
    )
    result = parse_trl_preference(path)
    assert result.records == [] and result.judgments == []
    assert {(e.line, e.field) for e in result.errors} == {
        (2, "rejected"),
        (3, "line"),
        (4, "rejected"),
        (5, "chosen"),
    }
    assert parse_trl_preference(tmp_path / "x.txt").errors[0].field == "file"
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    assert "Not a Parquet file" in parse_trl_preference(tmp_path / "junk.parquet").errors[0].message
