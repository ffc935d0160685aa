"""training.export: every layout x format round-trips, CSV neutralising, pseudonyms, the dataset card,
snapshot diff, and (slow) exported files training one step in TRL's SFT, DPO and KTO trainers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from training.export import (
    LAYOUTS,
    LayoutError,
    Pseudonymizer,
    convert,
    dataset_card,
    diff_snapshots,
    export_rows,
    neutralise,
    pseudonym,
    push_to_hub,
    write_csv,
    write_hf_dataset,
    write_jsonl,
    write_parquet,
)
from training.export.writers import csv_cell
from training.pipeline.data import prompt_text

USERS = ["alice.smith", "bob@example.com"]


def user(text):
    return {"role": "user", "content": text}


def sft_row(i, split="train", **prov):
    return {
        "split": split,
        "position": i,
        "data": {"messages": [user(f"What is {i} plus {i}?")], "response": f"It is {2 * i}, thank you."},
        "provenance": {
            "source": "annotation",
            "item_id": 100 + i,
            "judgment_ids": [10 * i, 10 * i + 1],
            "annotators": USERS,
            "gold_from": "response",
            "adjudication_ids": [],
            **prov,
        },
    }


def dpo_row(i, split="train", **prov):
    return {
        "split": split,
        "position": i,
        "data": {
            "messages": [user(f"What is the capital of France, question {i}?")],
            "chosen": "The capital of France is Paris.",
            "rejected": f'=HYPERLINK("http://x") I do not know {i}.',
        },
        "provenance": {
            "source": "preferences",
            "item_id": 200 + i,
            "pair_id": 300 + i,
            "criterion": "",
            "confidence": 0.75,
            "margin": 1.5 if i % 2 else None,
            "response_ids": [2 * i, 2 * i + 1],
            "judgment_ids": [i],
            "annotators": USERS[:1] if i % 2 else USERS,
            "adjudication_ids": [],
            "chosen_edited": False,
            "decided_by": "lead.person",
            **prov,
        },
    }


def raw_row(i, split="train"):
    return {
        "split": split,
        "position": i,
        "data": {
            "messages": [user(f"Which is better, {i}?")],
            "responses": [{"id": 2 * i, "text": "A", "model": "m1"}, {"id": 2 * i + 1, "text": "B", "model": "m2"}],
            "judgment": {
                "id": 500 + i, "item_id": 200 + i, "item_kind": "comparison", "annotator": USERS[i % 2],
                "external": i == 3, "source": "label-studio" if i == 3 else "", "is_current": i != 2,
                "rubric_version": 1 + i % 2, "decision": "", "edited_text": "", "scores": {"helpful": i},
                "flags": ["pii"] if i == 1 else [], "comment": "", "payload": {"choice": "A", "strength": 2},
                "duration_seconds": 3.5 if i else None, "rushed": i == 4, "created_at": "2025-01-01T00:00:00",
            },
            "adjudications": [{"id": 9, "decision": "override", "lead": "lead.person"}] if i == 2 else [],
            "consensus": [{"criterion": "", "rule": "majority", "confidence": 0.75, "outcome": "win"}],
        },
        "provenance": {"source": "judgment", "item_id": 200 + i, "judgment_ids": [500 + i], "annotators": [USERS[i % 2]]},
    }  # fmt: skip


RAW = [raw_row(i) for i in range(6)] + [raw_row(i, "validation") for i in range(6, 8)]
SFT = [sft_row(i) for i in range(6)] + [sft_row(i, "validation") for i in range(6, 8)]
DPO = [dpo_row(i) for i in range(6)] + [dpo_row(i, "validation") for i in range(6, 8)]
PSEUDO = Pseudonymizer("project-secret", 1)


def rows_for(layout):
    if LAYOUTS[layout].kinds == ("raw",):
        return RAW
    return SFT if "sft" in LAYOUTS[layout].kinds and "dpo" not in LAYOUTS[layout].kinds else DPO


def expected(layout, provenance):
    out = {}
    for split, record in convert(layout, rows_for(layout), provenance=provenance, pseudonym=PSEUDO):
        out.setdefault(split, []).append(record)
    return out


def read_back(fmt, info):
    path = info["path"]
    if fmt == "jsonl":
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh]
    if fmt == "parquet":
        return pq.read_table(path).to_pylist()
    if fmt == "csv":
        with open(path, encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    raise AssertionError(fmt)


@pytest.mark.parametrize("provenance", [False, True], ids=["plain", "provenance"])
@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_and_file_format_round_trips(layout, fmt, provenance, tmp_path):
    want = expected(layout, provenance)
    progress = []
    result = export_rows(
        iter(rows_for(layout)),
        tmp_path / "out",
        layout=layout,
        fmt=fmt,
        provenance=provenance,
        pseudonym=PSEUDO,
        on_progress=progress.append,
        batch_size=4,
    )
    assert set(result["files"]) == {"train", "validation"}
    for split, info in result["files"].items():
        got = read_back(fmt, info)
        assert info["rows"] == len(want[split]) == len(got)
        if fmt == "csv":
            want_cells = [{k: csv_cell(v) for k, v in r.items()} for r in want[split]]
            assert got == want_cells
        else:
            assert got == want[split]
    assert progress[-1] == sum(len(v) for v in want.values())
    assert (tmp_path / "out" / "README.md").exists()


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_round_trips_through_a_datasets_folder(layout, tmp_path):
    from datasets import load_from_disk

    want = expected(layout, True)
    export_rows(
        iter(rows_for(layout)), tmp_path / "ds", layout=layout, fmt="hf", provenance=True, pseudonym=PSEUDO
    )
    loaded = load_from_disk(str(tmp_path / "ds"))
    assert set(loaded) == {"train", "validation"}
    for split in loaded:
        assert loaded[split].to_list() == want[split]


def test_layout_shapes_are_what_the_tools_read():
    pref = dict(convert("trl-preference", DPO[:2], scores=True))
    record = next(iter(pref.values()))
    assert record["prompt"] == [user("What is the capital of France, question 1?")]
    assert record["chosen"] == [{"role": "assistant", "content": "The capital of France is Paris."}]
    assert record["rejected"][0]["role"] == "assistant"
    assert record["margin"] == 1.5 and "score_chosen" in record
    text = next(convert("trl-preference-text", DPO[:1], scores=False))[1]
    assert text == {
        "prompt": "What is the capital of France, question 0?",
        "chosen": "The capital of France is Paris.",
        "rejected": '=HYPERLINK("http://x") I do not know 0.',
    }
    kto = list(convert("trl-kto", DPO[:1]))
    assert [r["label"] for _, r in kto] == [True, False]
    assert [r["completion"][0]["content"] for _, r in kto] == [
        "The capital of France is Paris.",
        DPO[0]["data"]["rejected"],
    ]
    assert [r["label"] for _, r in convert("trl-kto-text", SFT[:2])] == [True, True]
    oai = next(convert("openai-preference", DPO[:1]))[1]
    assert set(oai) == {"input", "preferred_output", "non_preferred_output"}
    assert oai["input"] == {"messages": [user("What is the capital of France, question 0?")]}
    chat = next(convert("openai-chat", SFT[:1]))[1]
    assert chat["messages"][-1] == {"role": "assistant", "content": "It is 0, thank you."}
    pc = next(convert("trl-prompt-completion", SFT[:1]))[1]
    assert pc["prompt"] == [user("What is 0 plus 0?")] and pc["completion"][0]["role"] == "assistant"


def test_wrong_kind_and_multi_turn_plain_prompt_are_refused(tmp_path):
    with pytest.raises(LayoutError, match="takes DPO rows"):
        list(convert("trl-preference", SFT[:1]))
    row = sft_row(3)
    row["data"]["messages"] = [{"role": "system", "content": "Be brief."}, user("Hi")]
    with pytest.raises(LayoutError, match="train row 3.*conversational"):
        export_rows([SFT[0], row], tmp_path / "out", layout="trl-prompt-completion-text", fmt="jsonl")
    assert not (tmp_path / "out").exists()  # all or nothing: no half-written export
    assert list(tmp_path.iterdir()) == []
    assert next(convert("trl-prompt-completion", [row]))[1]["prompt"][0]["role"] == "system"


def test_prompt_text_helper():
    assert prompt_text([user("Hi")]) == "Hi"
    assert prompt_text("plain") == "plain"
    with pytest.raises(ValueError, match="one user turn"):
        prompt_text([user("a"), {"role": "assistant", "content": "b"}, user("c")])


def test_provenance_columns_and_pseudonyms_never_leak_names(tmp_path):
    export_rows(
        iter(DPO), tmp_path / "j", layout="trl-preference", fmt="jsonl", provenance=True, pseudonym=PSEUDO
    )
    export_rows(
        iter(DPO), tmp_path / "c", layout="trl-preference", fmt="csv", provenance=True, pseudonym=PSEUDO
    )
    export_rows(
        iter(DPO), tmp_path / "p", layout="trl-preference", fmt="parquet", provenance=True, pseudonym=PSEUDO
    )
    for path in tmp_path.rglob("*.*"):
        blob = path.read_bytes()
        for name in [*USERS, "lead.person", "alice", "example.com"]:
            assert name.encode() not in blob, (name, path)
    first = json.loads((tmp_path / "j" / "train.jsonl").read_text().splitlines()[0])
    assert first["annotators"] == sorted({PSEUDO(u) for u in USERS})
    assert first["item_id"] == 200 and first["pair_id"] == 300 and first["judgment_ids"] == [0]
    assert first["confidence"] == 0.75 and first["lead_edited"] is False
    with pytest.raises(ValueError, match="pseudonym"):
        list(convert("trl-preference", DPO, provenance=True))


def test_pseudonyms_are_stable_per_project_and_keyed():
    a = pseudonym("secret", 1, "alice")
    assert a == pseudonym("secret", 1, "alice") == Pseudonymizer("secret", 1)("alice")
    assert a.startswith("annotator-") and len(a) == len("annotator-") + 10
    assert a != pseudonym("secret", 2, "alice")  # another project
    assert a != pseudonym("other", 1, "alice")  # another secret
    assert a != pseudonym("secret", 1, "bob")
    assert "alice" not in a
    with pytest.raises(ValueError):
        pseudonym("", 1, "alice")


def test_csv_neutralises_formulas(tmp_path):
    cells = ['=HYPERLINK("http://evil","x")', "+1", "-2", "@x", "\tcmd", "\rcmd", "plain", "a=b"]
    records = [
        ("train", {"text": c, "n": -3, "nested": [{"role": "user", "content": "=1+1"}]}) for c in cells
    ]
    write_csv(records, tmp_path)
    with open(tmp_path / "train.csv", encoding="utf-8", newline="") as fh:
        got = list(csv.DictReader(fh))
    assert [r["text"] for r in got] == [
        '\'=HYPERLINK("http://evil","x")',
        "'+1",
        "'-2",
        "'@x",
        "'\tcmd",
        "'\rcmd",
        "plain",
        "a=b",
    ]
    assert got[0]["n"] == "'-3"
    assert json.loads(got[0]["nested"]) == [{"role": "user", "content": "=1+1"}]  # JSON text, not a formula
    assert neutralise("=1") == "'=1" and neutralise("1") == "1"


def test_writers_report_progress_and_batch(tmp_path):
    records = [("train", {"x": i, "ids": []}) for i in range(25)]
    seen = []
    write_jsonl(iter(records), tmp_path / "j", on_progress=seen.append, progress_every=10)
    assert seen == [10, 20, 25]
    info = write_parquet(iter(records), tmp_path / "p", batch_size=7, type_hints={"ids": "list<int64>"})
    meta = pq.ParquetFile(info["train"]["path"])
    assert meta.metadata.num_row_groups == 4 and meta.metadata.num_rows == 25
    assert meta.schema_arrow.field("ids").type.value_type == pa.int64()
    bad = [("train", {"x": 1}), ("train", {"x": "text"})]
    with pytest.raises(ValueError, match="do not fit"):
        write_parquet(iter(bad), tmp_path / "bad", batch_size=1)


def test_parquet_messages_are_list_of_struct(tmp_path):
    info = write_parquet(convert("trl-preference", DPO), tmp_path)
    field = pq.read_schema(info["train"]["path"]).field("prompt").type
    assert pa.types.is_list(field) and pa.types.is_struct(field.value_type)
    assert {f.name for f in field.value_type} == {"role", "content"}


def test_push_to_hub_calls_datasets_with_the_arguments(tmp_path, monkeypatch):
    from datasets import DatasetDict

    write_hf_dataset(convert("trl-preference", DPO), tmp_path / "ds")
    calls = []
    monkeypatch.setattr(
        DatasetDict, "push_to_hub", lambda self, repo, **kw: calls.append((self, repo, kw)) or "ok"
    )
    assert push_to_hub(tmp_path / "ds", "team/prefs", "hf_token") == "ok"
    dd, repo, kwargs = calls[0]
    assert repo == "team/prefs" and kwargs == {"token": "hf_token", "private": True}
    assert dd["train"].num_rows == 6 and dd["validation"].num_rows == 2
    with pytest.raises(ValueError):
        push_to_hub(tmp_path / "ds", "no-owner", "t")
    with pytest.raises(ValueError):
        push_to_hub(tmp_path / "ds", "team/prefs", "")


def test_dataset_card_header_and_body(tmp_path):
    meta = {
        "snapshot_id": 7,
        "snapshot_hash": "ab" * 32,
        "kind": "dpo",
        "project": "Demo",
        "license": "cc-by-4.0",
        "filters": {"min_confidence": 0.6, "status": "approved"},
        "rubric_versions": [2, 3],
        "agreement": {"krippendorff_alpha": 0.71},
        "consensus_rule": "bradley_terry",
    }
    result = export_rows(iter(DPO), tmp_path / "out", layout="trl-preference", fmt="parquet", meta=meta)
    text = Path(result["card"]).read_text()
    header = yaml.safe_load(text.split("---")[1])
    assert header["license"] == "cc-by-4.0"
    assert header["task_categories"] == ["text-generation"]
    assert header["size_categories"] == ["n<1K"]
    assert "dpo" in header["tags"] and "trl" in header["tags"]
    assert header["configs"][0]["data_files"] == [
        {"split": "train", "path": "train.parquet"},
        {"split": "validation", "path": "validation.parquet"},
    ]
    assert "Rows: 8 (train: 6, validation: 2)" in text
    assert "ab" * 32 in text and "bradley_terry" in text and "Rubric versions: 2, 3" in text
    assert "| min_confidence | 0.6 |" in text and "| krippendorff_alpha | 0.71 |" in text
    assert 'load_dataset("parquet", data_files={"train": "train.parquet"' in text
    assert "DPOTrainer" in text
    big = dataset_card({"layout": "trl-kto", "format": "hf", "splits": {"train": 1_500_000}})
    head = yaml.safe_load(big.split("---")[1])
    assert head["size_categories"] == ["1M<n<10M"] and head["license"] == "other"
    assert head["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*"}]
    assert "load_from_disk" in big and "1,500,000" in big


def test_snapshot_diff_counts_rows_by_source():
    old = [dpo_row(i) for i in range(5)] + [sft_row(i) for i in range(3)]
    new = [
        dpo_row(0),  # unchanged
        dpo_row(1, judgment_ids=[1, 99], annotators=USERS),  # a new judgment
        dpo_row(2, adjudication_ids=[5], confidence=1.0, consensus_rule="adjudication"),
        dpo_row(3, chosen_edited=True, decided_at="2025-01-01T00:00:00"),  # a lead's edit
        sft_row(0, rubric_versions=[2]),
        sft_row(1, gold_from="resolution"),
        dpo_row(9),  # added
    ]
    new[2]["data"]["chosen"], new[2]["data"]["rejected"] = (
        new[2]["data"]["rejected"],
        new[2]["data"]["chosen"],
    )
    new[3]["data"]["chosen"] = "Paris, France's capital."
    flipped = dpo_row(4, confidence=0.55)
    flipped["data"]["chosen"], flipped["data"]["rejected"] = "Other", "The capital of France is Paris."
    new.append(flipped)  # consensus flipped the winner, no new judgment: same pair, changed
    diff = diff_snapshots(iter(old), iter(new))
    summary = diff.summary()
    assert summary["added"] == 1 and summary["removed"] == 1 and summary["unchanged"] == 1
    assert summary["changed"] == 6
    assert summary["changed_by_source"] == {
        "new_judgments": 1,
        "adjudications": 1,
        "lead_edits": 2,
        "rubric_version": 1,
        "consensus": 1,
    }
    assert ("item", 102) in diff.removed and ("pair", 209, "", (18, 19)) in diff.added
    assert diff_snapshots(old, old).summary()["changed"] == 0


# --- the exported files train as-is ----------------------------------------------------------------


def _train_one_step(trainer_name, model_dir, files, out):
    import trl
    from datasets import load_dataset
    from transformers import AutoTokenizer

    fmt = "parquet" if files["train"]["path"].endswith(".parquet") else "json"
    ds = load_dataset(fmt, data_files={"train": files["train"]["path"]}, cache_dir=str(out / "cache"))[
        "train"
    ]
    config_cls = getattr(trl, trainer_name.replace("Trainer", "Config"))
    args = config_cls(
        output_dir=str(out / "run"),
        max_steps=1,
        per_device_train_batch_size=2,
        max_length=64,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        logging_steps=1,
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    trainer_cls = getattr(trl, trainer_name)
    trainer = trainer_cls(model=str(model_dir), args=args, train_dataset=ds, processing_class=tokenizer)
    result = trainer.train()
    assert result.global_step == 1
    assert any("loss" in entry for entry in trainer.state.log_history)


@pytest.mark.parametrize(
    "trainer_name, layout, fmt",
    [
        ("SFTTrainer", "trl-messages", "jsonl"),
        ("DPOTrainer", "trl-preference", "parquet"),
        ("KTOTrainer", "trl-kto", "parquet"),
    ],
)
def test_exported_file_trains_one_step(trainer_name, layout, fmt, tiny_model_dir, tmp_path):
    result = export_rows(
        iter(rows_for(layout)), tmp_path / "export", layout=layout, fmt=fmt, provenance=True, pseudonym=PSEUDO
    )
    _train_one_step(trainer_name, tiny_model_dir, result["files"], tmp_path)
