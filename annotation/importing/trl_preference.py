"""Parse a dataset in TRL's preference layout into comparison records. Pure Python (pyarrow for Parquet,
`datasets` for a `save_to_disk` folder, both imported only when needed).

Accepted rows, as TRL reads them:
  plain           {"prompt": str, "chosen": str, "rejected": str}
  conversational  {"prompt": [messages], "chosen": [assistant msg], "rejected": [assistant msg]}
  implicit prompt {"chosen": [... , assistant], "rejected": [... , assistant]} sharing every turn
                  before the last (the prompt)
Extra columns (margin, scores, provenance) are ignored. Each row becomes a comparison of two responses
(chosen first); with `as_judgments=True` it also carries an ExternalJudgment "chosen > rejected" by
the annotator `source` (e.g. "hf:org/dataset"), so the pair can go straight to curation.

Sources: a JSONL file (errors name the line), a Parquet file or a `save_to_disk` folder (errors name
the row, 1-based, as "line", and the split in the field when the folder holds several).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .interchange import ExternalJudgment, InterchangeResult, ranked_kind
from .parse import MAX_ERRORS, ImportIssue, ItemRecord
from .rows import jsonl_rows

ROLES = ("system", "user", "assistant")


def _messages(value, where, err) -> list[dict] | None:
    if isinstance(value, str):
        if not value.strip():
            err(where, "Must not be empty.")
            return None
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        err(where, "Must be text or a non-empty list of {role, content} messages.")
        return None
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            err(f"{where}[{i}]", "Must be {role: system|user|assistant, content: text}.")
            return None
        out.append({"role": m["role"], "content": m["content"]})
    return out


def _reply(value, where, err) -> str | None:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and value and isinstance(value[-1], dict):
        if value[-1].get("role") != "assistant" or not isinstance(value[-1].get("content"), str):
            err(where, "The last message must be the assistant's, with text content.")
            return None
        text = value[-1]["content"]
    else:
        err(where, "Must be text or a list ending with an assistant message.")
        return None
    if not text.strip():
        err(where, "Must not be empty.")
        return None
    return text


def row_to_record(number: int, row, *, prefix: str = "", as_judgments: bool, source: str):
    """(ItemRecord, [ExternalJudgment]) or (None, issues) for one row."""
    issues: list[ImportIssue] = []

    def err(where, message):
        issues.append(ImportIssue(number, prefix + where, message))

    if not isinstance(row, dict):
        err("row", "Must be an object.")
        return None, issues
    for key in ("chosen", "rejected"):
        if key not in row or row[key] is None:
            err(key, "Required.")
    if issues:
        return None, issues
    if row.get("prompt") is not None:
        prompt = _messages(row["prompt"], "prompt", err)
        if prompt is not None and prompt[-1]["role"] == "assistant":
            err("prompt", "Must end with a user (or system) turn.")
    else:  # implicit prompt: the turns before the last, shared by chosen and rejected
        chosen, rejected = row["chosen"], row["rejected"]
        if not (isinstance(chosen, list) and isinstance(rejected, list) and len(chosen) > 1):
            err("prompt", "Required (or give chosen/rejected as conversations that share the prompt).")
            return None, issues
        prompt = _messages(chosen[:-1], "chosen", err)
        if prompt is not None and _messages(rejected[:-1], "rejected", err) != prompt:
            err("rejected", "Implicit prompt: chosen and rejected must share every turn before the last.")
    chosen_text = _reply(row["chosen"], "chosen", err)
    rejected_text = _reply(row["rejected"], "rejected", err)
    if chosen_text is not None and rejected_text is not None and chosen_text.strip() == rejected_text.strip():
        err("rejected", "Same text as chosen.")
    if prompt is not None and not any(m["role"] == "user" for m in prompt):
        err("prompt", "Needs at least one user turn.")
    if issues:
        return None, issues
    responses = [
        {"text": t, "model": "", "model_version": "", "generation_params": {}}
        for t in (chosen_text, rejected_text)
    ]
    record = ItemRecord(
        line=number, kind=ranked_kind(), messages=prompt, responses=responses, metadata={"source": source}
    )
    judgments = []
    if as_judgments:
        judgments.append(
            ExternalJudgment(
                annotator=source, source=source, ranking=[[0], [1]], outcome="win", external_id=f"{number}"
            )
        )
    return record, judgments


def _jsonl(path: Path) -> Iterator[tuple[int, str, object, str | None]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield 0, "", None, f"Not UTF-8 text ({exc.reason})."
        return
    for line, row, error in jsonl_rows(text):
        yield line, "", row, error


def _parquet(path: Path, batch_size: int = 1000):
    import pyarrow.parquet as pq  # deferred: only Parquet imports need pyarrow

    number = 0
    try:
        file = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        yield 0, "", None, f"Not a Parquet file ({exc})."
        return
    for batch in file.iter_batches(batch_size=batch_size):
        for row in batch.to_pylist():
            number += 1
            yield number, "", row, None


def _folder(path: Path):
    # deferred: heavy optional dependency (datasets)
    from datasets import DatasetDict, load_from_disk

    try:
        loaded = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        yield 0, "", None, f"Not a datasets save_to_disk folder ({exc})."
        return
    splits = loaded.items() if isinstance(loaded, DatasetDict) else [("", loaded)]
    for split, dataset in splits:
        prefix = f"{split}." if split else ""
        for number, row in enumerate(dataset, start=1):
            yield number, prefix, row, None


def parse_trl_preference(path, *, as_judgments: bool = False, source: str = "") -> InterchangeResult:
    """Read `path` (.jsonl/.json, .parquet, or a save_to_disk folder); all or nothing."""
    path = Path(path)
    source = source or f"trl:{path.name}"
    result = InterchangeResult()
    if path.is_dir():
        rows = _folder(path)
    elif path.suffix.lower() == ".parquet":
        rows = _parquet(path)
    elif path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        rows = _jsonl(path)
    else:
        result.errors.append(
            ImportIssue(0, "file", "Expected a .jsonl or .parquet file, or a dataset folder.")
        )
        return result
    for number, prefix, row, error in rows:
        if error:
            result.errors.append(ImportIssue(number, "line" if number else "file", error))
        else:
            record, extra = row_to_record(
                number, row, prefix=prefix, as_judgments=as_judgments, source=source
            )
            if record is None:
                result.errors.extend(extra)
            else:
                result.records.append(record)
                result.judgments.append(extra)
        if len(result.errors) >= MAX_ERRORS:
            result.errors.append(ImportIssue(number, "file", f"Stopped after {MAX_ERRORS} errors."))
            break
    if not result.records and not result.errors:
        result.errors.append(ImportIssue(0, "file", "The dataset holds no rows."))
    return result.fail()
