"""Production samples from a batch (JSON objects), JSONL or CSV, validated. Pure Python: no Django.

One sample: `prompt` (or `messages`, a chat list), `output` (the model's answer; `response` is
accepted too), `model_version`, `timestamp` (ISO 8601, optional), `metadata` (a JSON object), and
the user's feedback: `thumbs` ("up" | "down"), `retried` (bool), `edited_text` (the user's edit),
`id` (the service's own id). Errors name the line (1-based; the index in a batch) and the field,
like annotation.importing.parse, and reuse its ImportIssue / ImportFailed so the API's 400 is the
same shape. The content hash (conversation + output, whitespace-trimmed) keys exact duplicates.
"""

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import datetime

from annotation.core import json_text
from annotation.importing.parse import MAX_ERRORS, ImportFailed, ImportIssue

__all__ = ["ImportFailed", "ImportIssue", "SampleRecord", "parse_rows", "parse_text", "sample_hash"]

ROLES = ("system", "user", "assistant")
TEXT_LIMIT = 200_000
THUMBS = ("up", "down")


@dataclass
class SampleRecord:
    line: int
    messages: list[dict]
    output: str
    model_version: str = ""
    timestamp: datetime | None = None
    metadata: dict = field(default_factory=dict)
    thumbs: str = ""
    retried: bool = False
    edited_text: str = ""
    external_id: str = ""
    content_hash: str = ""


def sample_hash(messages: list[dict], output: str) -> str:
    """Exact-duplicate key of a sample: the conversation and the output, whitespace-trimmed."""
    canonical = [[m["role"], m["content"].strip()] for m in messages], output.strip()
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode()).hexdigest()


def _bool(value, where, name, errors):
    if isinstance(value, bool):
        return value
    if value in (None, ""):
        return False
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    errors.append(ImportIssue(where, name, "Must be true or false."))
    return False


def _text(row, name, where, errors, *, required=False) -> str:
    value = row.get(name)
    if value is None or value == "":
        if required:
            errors.append(ImportIssue(where, name, "Required."))
        return ""
    if not isinstance(value, str):
        errors.append(ImportIssue(where, name, "Must be a string."))
        return ""
    if len(value) > TEXT_LIMIT or "\x00" in value:
        errors.append(ImportIssue(where, name, f"Too long (over {TEXT_LIMIT} characters) or has NUL."))
        return ""
    return value


def _messages(row, where, errors) -> list[dict]:
    messages = row.get("messages")
    if isinstance(messages, str) and messages.strip():
        try:
            messages = json_text.loads(messages)
        except ValueError:
            errors.append(ImportIssue(where, "messages", "Not valid JSON."))
            return []
    if messages in (None, "", []):
        prompt = _text(row, "prompt", where, errors)
        if not prompt.strip():
            errors.append(ImportIssue(where, "prompt", "Give a prompt or messages."))
            return []
        return [{"role": "user", "content": prompt}]
    if not isinstance(messages, list):
        errors.append(ImportIssue(where, "messages", "Must be a list of {role, content}."))
        return []
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            errors.append(
                ImportIssue(where, f"messages[{i}]", f"Needs a role ({'/'.join(ROLES)}) and content.")
            )
            return []
        out.append({"role": m["role"], "content": m["content"]})
    if not any(m["role"] == "user" for m in out):
        errors.append(ImportIssue(where, "messages", "Needs at least one user turn."))
    return out


def _record(where: int, row) -> tuple[SampleRecord | None, list[ImportIssue]]:
    errors: list[ImportIssue] = []
    if not isinstance(row, dict):
        return None, [ImportIssue(where, "", "Each sample must be a JSON object.")]
    messages = _messages(row, where, errors)
    output = _text(row, "output", where, errors) or _text(row, "response", where, errors)
    if not output.strip():
        errors.append(ImportIssue(where, "output", "Required: the model's output."))
    model_version = _text(row, "model_version", where, errors)[:200]
    stamp = None
    raw_stamp = row.get("timestamp")
    if raw_stamp not in (None, ""):
        try:
            stamp = datetime.fromisoformat(str(raw_stamp).replace("Z", "+00:00"))
        except ValueError:
            errors.append(ImportIssue(where, "timestamp", "Not an ISO 8601 date-time."))
    metadata = row.get("metadata") or {}
    if isinstance(metadata, str):
        try:
            metadata = json_text.loads(metadata)
        except ValueError:
            metadata = None
    if not isinstance(metadata, dict):
        errors.append(ImportIssue(where, "metadata", "Must be a JSON object."))
        metadata = {}
    thumbs = row.get("thumbs") or ""
    if thumbs not in ("", *THUMBS):
        errors.append(ImportIssue(where, "thumbs", 'Must be "up", "down" or empty.'))
    retried = _bool(row.get("retried"), where, "retried", errors)
    edited = _text(row, "edited_text", where, errors)
    external_id = row.get("id")
    external_id = "" if external_id is None else str(external_id)[:200]
    if errors:
        return None, errors
    return (
        SampleRecord(
            line=where,
            messages=messages,
            output=output,
            model_version=model_version,
            timestamp=stamp,
            metadata=metadata,
            thumbs=thumbs,
            retried=retried,
            edited_text=edited,
            external_id=external_id,
            content_hash=sample_hash(messages, output),
        ),
        [],
    )


def parse_rows(rows: list, *, first_line: int = 1) -> list[SampleRecord]:
    """Validate rows (dicts); the records, or ImportFailed with every issue (line = position)."""
    records, errors = [], []
    for offset, row in enumerate(rows):
        record, issues = _record(first_line + offset, row)
        if issues:
            errors.extend(issues)
            if len(errors) >= MAX_ERRORS:
                break
        else:
            records.append(record)
    if errors:
        raise ImportFailed(errors[:MAX_ERRORS])
    return records


def parse_text(data: str | bytes, *, fmt: str = "jsonl") -> list[SampleRecord]:
    """JSONL (one sample a line; blank lines skipped) or CSV (a header row; `messages` and
    `metadata` cells hold JSON) -> records, or ImportFailed naming lines and fields."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportFailed([ImportIssue(0, "file", "Not UTF-8 text.")])
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(data))
        rows = [{k: v for k, v in row.items() if k is not None} for row in reader]
        return parse_rows(rows, first_line=2)
    if fmt != "jsonl":
        raise ImportFailed([ImportIssue(0, "format", "Must be jsonl or csv.")])
    rows, errors, lines = [], [], []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json_text.loads(line))
            lines.append(number)
        except ValueError as exc:
            errors.append(ImportIssue(number, "", f"Not valid JSON: {exc.msg}."))
    records, row_errors = [], []
    for number, row in zip(lines, rows, strict=True):
        record, issues = _record(number, row)
        row_errors.extend(issues)
        if record is not None:
            records.append(record)
    errors = sorted(errors + row_errors, key=lambda e: e.line)
    if errors:
        raise ImportFailed(errors[:MAX_ERRORS])
    return records


def detect_format(filename: str, head: str) -> str:
    if filename.lower().endswith(".csv"):
        return "csv"
    if filename.lower().endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    return "jsonl" if head.lstrip().startswith("{") else "csv"
