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

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass, field

from annotation.core.errors import RowErrors
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


def _reject_constant(name):
    # NaN and Infinity are not JSON; PostgreSQL's jsonb refuses them.
    raise json.JSONDecodeError(f"{name} is not allowed", name, 0)


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to infinity, which no database column stores
        raise json.JSONDecodeError(f"{text} is out of range", text, 0)
    return value


def _loads(text):
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


def _unencodable(value) -> str | None:
    """The first string in `value` that is not valid Unicode text (a lone surrogate, which JSON's
    \\ud800 escapes allow and UTF-8 cannot store), shown escaped; None when all are fine."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return value[max(0, exc.start - 10) : exc.end + 10].encode("unicode_escape").decode()
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            found = _unencodable(k) or _unencodable(v)
            if found:
                return found
    if isinstance(value, list | tuple):
        for v in value:
            found = _unencodable(v)
            if found:
                return found
    return None


def content_hash(kind: str, messages: list[dict], responses: list[dict]) -> str:
    """Exact-duplicate key: the conversation and the response texts, whitespace-trimmed."""
    canonical = {
        "kind": kind,
        "messages": [[m["role"], m["content"].strip()] for m in messages],
        "responses": [r["text"].strip() for r in responses],
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


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
    if kind not in registry.names():
        return ParseResult(
            errors=[ImportIssue(0, "kind", f"Unknown kind {kind!r}; use {', '.join(registry.names())}.")]
        )
    mapping = dict(mapping or {})
    bad = [k for k in mapping if k not in FIELDS]
    if bad:
        return ParseResult(
            errors=[ImportIssue(0, "mapping", f"Unknown field(s) {', '.join(bad)}; use {', '.join(FIELDS)}.")]
        )
    if fmt == "jsonl":
        rows = _jsonl_rows(data)
    elif fmt == "csv":
        rows = _csv_rows(data)
    else:
        return ParseResult(errors=[ImportIssue(0, "format", f"Unknown format {fmt!r}; use jsonl or csv.")])
    result = ParseResult()
    for line, row, error in rows:
        bad = None if error else _unencodable(row)
        if bad is not None:  # JSON "\\ud800" escapes (or text handed in through the API) can hold them
            error = f"Contains an unpaired surrogate, not text: ...{bad}..."
        if error:
            result.errors.append(ImportIssue(line, "line", error))
        else:
            record, issues = _to_record(line, row, mapping, kind, fmt)
            if issues:
                result.errors.extend(issues)
            else:
                result.records.append(record)
        if len(result.errors) >= MAX_ERRORS:
            result.errors.append(ImportIssue(line, "file", f"Stopped after {MAX_ERRORS} errors."))
            break
    if not result.records and not result.errors:
        result.errors.append(ImportIssue(0, "file", "The file holds no items."))
    if result.errors:
        result.records = []
    return result


def _jsonl_rows(text):
    # Split on "\n" only: str.splitlines() also splits on U+2028 and friends, valid inside JSON strings.
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        if "\x00" in raw or "\\u0000" in raw:
            yield number, None, "Contains a NUL character."
            continue
        try:
            row = _loads(raw)
        except json.JSONDecodeError as exc:
            yield number, None, f"Invalid JSON: {exc.msg} at column {exc.colno}."
            continue
        if not isinstance(row, dict):
            yield number, None, "Each line must be a JSON object."
            continue
        yield number, row, None


def _csv_rows(text):
    if "\x00" in text:
        yield text.count("\n", 0, text.index("\x00")) + 1, None, "Contains a NUL character."
        return
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        yield 1, None, "The CSV has no header row."
        return
    physical = text.split("\n")
    end = reader.line_num  # the header's last physical line
    try:
        for row in reader:
            # A row spans physical lines end+1 .. reader.line_num (quoted newlines); report the first
            # non-blank one, where the row starts.
            start, end = end + 1, reader.line_num
            while start < end and not physical[start - 1].strip():
                start += 1
            if None in row:
                yield (
                    start,
                    None,
                    f"Has {len(reader.fieldnames) + len(row[None])} columns; the header has {len(reader.fieldnames)}.",
                )
                continue
            if not any((v or "").strip() for v in row.values()):
                continue
            yield start, row, None
    except csv.Error as exc:
        yield reader.line_num, None, f"Malformed CSV: {exc}."


def _name(value, where, err) -> str:
    """A model name: a string (numbers are taken as text); objects and lists are refused."""
    if isinstance(value, dict | list | bool):
        err(where, "Must be a string (the model's name).")
        return ""
    return str(value or "")


def _get(row, mapping, name):
    key = mapping.get(name, name)
    return key, row.get(key)


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
