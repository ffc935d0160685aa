"""Parse item files (JSONL, CSV, OpenAI-style chat JSONL) into records. Pure Python: no Django.

`parse_items(data, fmt=..., mapping=...)` returns a `ParseResult`: the records, or the errors, each
naming the line and the field. Nothing is written here; `annotation.importing.services.import_items` writes
the records in one transaction, so an import is all-or-nothing.

Our fields (the keys of `mapping`, whose values name the columns / JSON keys in the file):
  prompt      the user turn, a string                      (default key "prompt")
  system      an optional system prompt                     ("system")
  messages    a chat list [{role, content}, ...]            ("messages")
  response    the candidate response text                   ("response")
  model       the model that produced the response          ("model")
  model_version, generation_params   its version and sampling settings (a JSON object)
  id          an external id                                ("id")
  priority    an integer, higher first                      ("priority")
  metadata    a JSON object (JSONL) or JSON text (CSV)      ("metadata")
With `messages` whose last turn is the assistant's, that turn is the candidate response
(OpenAI fine-tuning format). Kinds whose items hold several responses (`responses = "many"` in
annotation.kinds) use `responses: [{text, model}, ...]` instead; a row that gives such a list becomes
an item of the first registered such kind when the asked-for kind takes one response.
"""

import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from annotation.core.errors import RowErrors
from annotation.core.json_text import has_lone_surrogate
from annotation.importing.rows import csv_rows, jsonl_rows, surrogate_error
from annotation.importing.rows import loads as _loads
from annotation.kinds import registry

FIELDS = (
    "prompt",
    "system",
    "messages",
    "response",
    "responses",
    "model",
    "model_version",
    "generation_params",
    "id",
    "priority",
    "metadata",
)
ROLES = ("system", "user", "assistant")
MAX_ERRORS = 200
PRIORITY_LIMIT = 2**31 - 1  # the database column is a 32-bit integer


@dataclass
class ItemRecord:
    line: int
    kind: str
    messages: list[dict]
    responses: list[dict]
    external_id: str = ""
    priority: int = 0
    metadata: dict = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return content_hash(self.kind, self.messages, self.responses)


@dataclass
class ImportIssue:
    line: int
    field: str
    message: str

    def __str__(self):
        return f"line {self.line}, field '{self.field}': {self.message}"

    def as_dict(self):
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class ParseResult:
    records: list[ItemRecord] = field(default_factory=list)
    errors: list[ImportIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class ImportFailed(RowErrors):
    """All-or-nothing: raised with every issue found; nothing was written."""

    def __init__(self, errors: list[ImportIssue]):
        head = "; ".join(str(e) for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"Import failed, nothing was imported: {head}{more}", errors)


def content_hash(kind: str, messages: list[dict], responses: list[dict]) -> str:
    """Exact-duplicate key: the conversation and the response texts, whitespace-trimmed."""
    canonical = {
        "kind": kind,
        "messages": [[m["role"], m["content"].strip()] for m in messages],
        "responses": [r["text"].strip() for r in responses],
    }
    return hashlib.sha256(_HASH_JSON.encode(canonical).encode()).hexdigest()


_HASH_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False)  # json.dumps(..., these options)


def detect_format(filename: str, data: str) -> str:
    name = (filename or "").lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    return "jsonl" if data.lstrip().startswith("{") else "csv"


def parse_items(data, *, fmt: str = "jsonl", mapping: dict | None = None, kind: str = "sft") -> ParseResult:
    """Parse the whole file; collect every error (up to MAX_ERRORS) instead of stopping at the first."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return ParseResult(errors=[ImportIssue(0, "file", f"Not UTF-8 text ({exc.reason}).")])
    result = ParseResult()
    for found in iter_items(io.StringIO(data), fmt=fmt, mapping=mapping, kind=kind):
        if isinstance(found, ImportIssue):
            result.errors.append(found)
        else:
            result.records.append(found)
    if not result.records and not result.errors:
        result.errors.append(no_items())
    if result.errors:
        result.records = []
    return result


def no_items() -> ImportIssue:
    return ImportIssue(0, "file", "The file holds no items.")


def iter_items(
    lines: Iterable[str], *, fmt: str = "jsonl", mapping: dict | None = None, kind: str = "sft"
) -> Iterator[ItemRecord | ImportIssue]:
    """Stream the file: each record, or each issue, in file order, holding one row at a time.

    `lines` is any iterable of text lines (`rows.text_lines(binary_file)` for an upload); bytes that
    are not UTF-8 end the stream with a line-0 "file" issue. Stops after MAX_ERRORS issues (the last
    one says so). The caller decides what a file without records means (see `no_items`).
    """
    if kind not in registry.names():
        yield ImportIssue(0, "kind", f"Unknown kind {kind!r}; use {', '.join(registry.names())}.")
        return
    mapping = dict(mapping or {})
    bad = [k for k in mapping if k not in FIELDS]
    if bad:
        yield ImportIssue(0, "mapping", f"Unknown field(s) {', '.join(bad)}; use {', '.join(FIELDS)}.")
        return
    if fmt == "jsonl":
        rows = jsonl_rows(lines)
    elif fmt == "csv":
        rows = csv_rows(lines)
    else:
        yield ImportIssue(0, "format", f"Unknown format {fmt!r}; use jsonl or csv.")
        return
    errors = 0
    try:
        for line, row, error in rows:
            if not error and fmt == "csv":  # (jsonl_rows checks its rows itself)
                error = surrogate_error(row)
            if error:
                issues = [ImportIssue(line, "line", error)]
            else:
                record, issues = _to_record(line, row, mapping, kind, fmt)
                if not issues:
                    yield record
                    continue
            yield from issues
            errors += len(issues)
            if errors >= MAX_ERRORS:
                yield ImportIssue(line, "file", f"Stopped after {MAX_ERRORS} errors.")
                return
    except UnicodeDecodeError as exc:
        yield ImportIssue(0, "file", f"Not UTF-8 text ({exc.reason}).")


def _name(value, where, err) -> str:
    """A model name: a string (numbers are taken as text); objects and lists are refused."""
    if isinstance(value, dict | list | bool):
        err(where, "Must be a string (the model's name).")
        return ""
    return str(value or "")


def _get(row, mapping, name):
    key = mapping.get(name, name)
    return key, row.get(key)


# One prompt, turn or response: at most this many characters (the API's MAX_TEXT is the same figure).
MAX_TEXT_CHARS = 200_000


def _check_text(text: str, where: str, err) -> None:
    """Texts are stored as they are: refuse what no database column should hold."""
    if len(text) > MAX_TEXT_CHARS:
        err(where, f"At most {MAX_TEXT_CHARS:,} characters (this one has {len(text):,}).")
    elif "\x00" in text:
        err(where, "Contains a NUL character (\\u0000), which cannot be stored.")
    elif has_lone_surrogate(text):
        err(where, "Not valid Unicode: a lone surrogate escape (\\ud800-\\udfff).")


def _to_record(line, row, mapping, kind, fmt):
    issues = []

    def err(fld, msg):
        issues.append(ImportIssue(line, fld, msg))

    messages: list[dict] = []
    responses: list[dict] = []
    mkey, raw_messages = _get(row, mapping, "messages")
    if fmt == "csv" and isinstance(raw_messages, str) and raw_messages.strip():
        try:
            raw_messages = _loads(raw_messages)
        except json.JSONDecodeError:
            err(mkey, "Must be a JSON list of {role, content} objects.")
            raw_messages = None
    elif fmt == "csv" and raw_messages == "":
        raw_messages = None
    if raw_messages is not None:
        if not isinstance(raw_messages, list) or not raw_messages:
            err(mkey, "Must be a non-empty list of {role, content} objects.")
        else:
            for i, m in enumerate(raw_messages):
                if not isinstance(m, dict):
                    err(f"{mkey}[{i}]", "Must be an object with role and content.")
                    continue
                role, content = m.get("role"), m.get("content")
                if role not in ROLES:
                    err(f"{mkey}[{i}].role", f"Must be one of {', '.join(ROLES)}.")
                if not isinstance(content, str):
                    err(f"{mkey}[{i}].content", "Must be a string.")
                    continue
                messages.append({"role": role, "content": content})
    else:
        skey, system = _get(row, mapping, "system")
        pkey, prompt = _get(row, mapping, "prompt")
        if system not in (None, ""):
            if not isinstance(system, str):
                err(skey, "Must be a string.")
            else:
                messages.append({"role": "system", "content": system})
        if not isinstance(prompt, str) or not prompt.strip():
            err(pkey, "Required: a non-empty string (or give `messages`).")
        else:
            messages.append({"role": "user", "content": prompt})

    rkey, response = _get(row, mapping, "response")
    rskey, raw_responses = _get(row, mapping, "responses")
    mokey, model = _get(row, mapping, "model")
    model = _name(model, mokey, err)
    many = registry.get(kind).responses == "many"
    listing = kind if many else registry.listing_responses()
    if many or (raw_responses not in (None, "") and listing is not None):
        many = True
        if fmt == "csv" and isinstance(raw_responses, str):
            try:
                raw_responses = _loads(raw_responses)
            except json.JSONDecodeError:
                err(rskey, "Must be a JSON list of {text, model} objects.")
                raw_responses = []
        if not isinstance(raw_responses, list) or len(raw_responses) < 2:
            err(rskey, f"A {registry.get(listing).noun} needs a list of at least two responses.")
        else:
            for i, r in enumerate(raw_responses):
                if isinstance(r, str):
                    r = {"text": r}
                if not isinstance(r, dict) or not isinstance(r.get("text"), str) or not r["text"].strip():
                    err(f"{rskey}[{i}].text", "Required: a non-empty string.")
                    continue
                responses.append(
                    {
                        "text": r["text"],
                        "model": _name(r.get("model"), f"{rskey}[{i}].model", err),
                        "model_version": str(r.get("model_version") or ""),
                        "generation_params": r.get("generation_params")
                        if isinstance(r.get("generation_params"), dict)
                        else {},
                    }
                )
        kind = listing
    else:
        if response in (None, "") and messages and messages[-1]["role"] == "assistant":
            response = messages.pop()["content"]
        if not isinstance(response, str) or not response.strip():
            err(rkey, "Required: the candidate response (or end `messages` with an assistant turn).")
        else:
            _, model_version = _get(row, mapping, "model_version")
            gkey, params = _get(row, mapping, "generation_params")
            if fmt == "csv" and isinstance(params, str) and params.strip():
                try:
                    params = _loads(params)
                except json.JSONDecodeError:
                    err(gkey, "Must be a JSON object.")
            if params in (None, ""):
                params = {}
            if not isinstance(params, dict):
                err(gkey, "Must be a JSON object.")
                params = {}
            responses.append(
                {
                    "text": response,
                    "model": model,
                    "model_version": str(model_version or ""),
                    "generation_params": params,
                }
            )
    conversation_reported = any(i.field in (mkey, mapping.get("prompt", "prompt")) for i in issues)
    if not conversation_reported and not any(m["role"] == "user" for m in messages):
        err(mkey, "The conversation needs at least one user turn.")
    for i, m in enumerate(messages):
        _check_text(m["content"], f"{mkey}[{i}].content" if raw_messages is not None else "prompt", err)
    for i, r in enumerate(responses):
        _check_text(r["text"], f"{rskey}[{i}].text" if many else rkey, err)
    for i, r in enumerate(responses):  # the columns' sizes (Response.model_name, .model_version)
        for name, limit in (("model", 500), ("model_version", 200)):
            if len(r[name]) > limit:
                where = f"{rskey}[{i}].{name}" if many else mapping.get(name, name)
                err(where, f"At most {limit} characters.")

    ikey, external_id = _get(row, mapping, "id")
    external_id = "" if external_id is None else str(external_id)
    if len(external_id) > 200:
        err(ikey, "At most 200 characters.")
    prkey, priority = _get(row, mapping, "priority")
    if priority in (None, ""):
        priority = 0
    else:
        try:
            if isinstance(priority, bool) or (isinstance(priority, float) and not priority.is_integer()):
                raise ValueError
            priority = int(priority)
        except (TypeError, ValueError, OverflowError):
            err(prkey, "Must be an integer.")
            priority = 0
        if not -PRIORITY_LIMIT <= priority <= PRIORITY_LIMIT:
            err(prkey, f"Must be between {-PRIORITY_LIMIT} and {PRIORITY_LIMIT}.")
            priority = 0
    mdkey, metadata = _get(row, mapping, "metadata")
    if metadata in (None, ""):
        metadata = {}
    elif fmt == "csv" and isinstance(metadata, str):
        try:
            metadata = _loads(metadata)
        except json.JSONDecodeError:
            err(mdkey, "Must be a JSON object.")
            metadata = {}
    if not isinstance(metadata, dict):
        err(mdkey, "Must be a JSON object.")
        metadata = {}
    if issues:
        return None, issues
    return ItemRecord(
        line=line,
        kind=kind,
        messages=messages,
        responses=responses,
        external_id=external_id,
        priority=priority,
        metadata=metadata,
    ), []
