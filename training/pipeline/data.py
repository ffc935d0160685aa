"""Rows for training: validation, conversion to TRL's conversational formats, a prompt-disjoint split
and a content hash. Pure functions over lists of dicts.

TRL formats accepted by `run_training`:
- SFT: {"messages": [..., {"role": "assistant", ...}]} or {"prompt": [messages], "completion": [assistant msg]}
- DPO: {"prompt": [messages], "chosen": [assistant msg], "rejected": [assistant msg]}
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from .config import ConfigError
from .pii import PiiMatch, detect_pii, redact_pii  # noqa: F401  (re-exported)
from .quality import quality_report  # noqa: F401  (re-exported)

ROLES = ("system", "user", "assistant", "tool")
MAX_ROW_ERRORS = 50


def _message_errors(messages, where: str) -> list[str]:
    if not isinstance(messages, list) or not messages:
        return [f"{where} must be a non-empty list of messages."]
    problems = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            problems.append(f"{where}[{i}] is not a message object.")
            continue
        if msg.get("role") not in ROLES:
            problems.append(f"{where}[{i}] has role {msg.get('role')!r}; expected one of {', '.join(ROLES)}.")
        if not isinstance(msg.get("content"), str):
            problems.append(f"{where}[{i}] content must be text.")
    return problems


def _assistant_reply_errors(reply, where: str) -> list[str]:
    if not isinstance(reply, list) or len(reply) != 1 or not isinstance(reply[0], dict):
        return [f"{where} must be a list holding one assistant message."]
    msg = reply[0]
    problems = []
    if msg.get("role") != "assistant":
        problems.append(f"{where} must be an assistant message.")
    if not isinstance(msg.get("content"), str) or not msg["content"].strip():
        problems.append(f"{where} is empty.")
    return problems


def _sft_row_errors(row: dict) -> list[str]:
    if "messages" in row:
        problems = _message_errors(row["messages"], "messages")
        if problems:
            return problems
        msgs = row["messages"]
        if msgs[-1]["role"] != "assistant":
            return ["messages must end with an assistant turn."]
        if not msgs[-1]["content"].strip():
            return ["the final assistant turn is empty."]
        if not any(m["role"] == "user" for m in msgs[:-1]):
            return ["messages need a user turn before the final assistant turn."]
        return []
    if "prompt" in row and "completion" in row:
        problems = _message_errors(row["prompt"], "prompt")
        if not problems and row["prompt"][-1]["role"] == "assistant":
            problems.append("prompt must end with a user (or system/tool) turn.")
        return problems + _assistant_reply_errors(row["completion"], "completion")
    return ['expected "messages" (ending with an assistant turn) or "prompt" + "completion".']


def _dpo_row_errors(row: dict) -> list[str]:
    missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
    if missing:
        return [f"missing {', '.join(missing)}."]
    problems = _message_errors(row["prompt"], "prompt")
    if not problems and row["prompt"][-1]["role"] == "assistant":
        problems.append("prompt must end with a user (or system/tool) turn.")
    chosen = _assistant_reply_errors(row["chosen"], "chosen")
    rejected = _assistant_reply_errors(row["rejected"], "rejected")
    problems += chosen + rejected
    if (
        not chosen
        and not rejected
        and row["chosen"][0]["content"].strip() == row["rejected"][0]["content"].strip()
    ):
        problems.append("chosen and rejected are the same text.")
    return problems


def validate_rows(method: str, rows: list[dict]) -> None:
    """Raise ConfigError keyed "row N" (1-based) for every malformed row (first 50 shown), or
    {"rows": [...]} when there are none."""
    if method not in ("sft", "dpo"):
        raise ConfigError({"method": ["must be sft or dpo."]})
    if not rows:
        raise ConfigError({"rows": ["no training rows."]})
    check = _sft_row_errors if method == "sft" else _dpo_row_errors
    errors: dict[str, list[str]] = {}
    bad = 0
    for number, row in enumerate(rows, start=1):
        problems = check(row) if isinstance(row, dict) else ["is not an object."]
        if problems:
            bad += 1
            if len(errors) < MAX_ROW_ERRORS:
                errors[f"row {number}"] = problems
    if bad > len(errors):
        errors["rows"] = [f"{bad} rows are invalid; the first {len(errors)} are listed."]
    if errors:
        raise ConfigError(errors)


def _as_messages(value) -> list[dict]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _as_reply(value) -> list[dict]:
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    if isinstance(value, dict):
        return [{"role": "assistant", "content": value["content"]}]
    return [{"role": "assistant", "content": value[-1]["content"]}]


def to_trl_sft(rows: Iterable[dict], *, system: str | None = None) -> list[dict]:
    """{"messages": prompt (list or text), "response": text} -> TRL prompt/completion rows.
    `system`, when given and the prompt has none, is prepended as a system message."""
    out = []
    for row in rows:
        prompt = _as_messages(row["messages"])
        if system and prompt[0]["role"] != "system":
            prompt = [{"role": "system", "content": system}, *prompt]
        out.append({"prompt": prompt, "completion": _as_reply(row["response"])})
    return out


def to_trl_dpo(rows: Iterable[dict], *, system: str | None = None) -> list[dict]:
    """{"messages", "chosen", "rejected"} (texts or messages) -> TRL conversational preference rows."""
    out = []
    for row in rows:
        prompt = _as_messages(row["messages"])
        if system and prompt[0]["role"] != "system":
            prompt = [{"role": "system", "content": system}, *prompt]
        out.append(
            {"prompt": prompt, "chosen": _as_reply(row["chosen"]), "rejected": _as_reply(row["rejected"])}
        )
    return out


def to_trainer_rows(method: str, rows: Iterable[dict]) -> list[dict]:
    """Snapshot rows in the simple form ({"messages", "response"} or {"messages", "chosen",
    "rejected"}; a row may be wrapped as {"data": ...}) -> TRL conversational rows for `method`.
    The one converter: snapshots (quality report), the worker (training) and exports use it."""
    plain = [row["data"] if "data" in row else row for row in rows]
    return to_trl_dpo(plain) if method == "dpo" else to_trl_sft(plain)


def prompt_text(messages) -> str:
    """A prompt as TRL's plain-text layouts hold it: a string, or a single user turn's text.
    ValueError for a system turn or several turns (plain text has no place for them)."""
    if isinstance(messages, str):
        return messages
    if len(messages) != 1 or messages[0].get("role") != "user":
        roles = "/".join(str(m.get("role")) for m in messages)
        raise ValueError(f"the prompt has turns {roles}; a plain-text prompt holds one user turn only.")
    return messages[0]["content"]


def trainer_rows(method: str, rows: list[dict]) -> list[dict]:
    """Only the columns TRL reads. SFT "messages" rows become prompt/completion, so the loss covers the
    final assistant turn only (earlier turns are context), as for reviewed responses."""
    if method == "dpo":
        return [
            {"prompt": _as_messages(r["prompt"]), "chosen": r["chosen"], "rejected": r["rejected"]}
            for r in rows
        ]
    out = []
    for r in rows:
        if "messages" in r:
            msgs = _as_messages(r["messages"])
            out.append({"prompt": msgs[:-1], "completion": msgs[-1:]})
        else:
            out.append({"prompt": _as_messages(r["prompt"]), "completion": _as_reply(r["completion"])})
    return out


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def jsonable(value: Any) -> Any:
    """`value` as plain JSON types (anything else becomes its str), e.g. for a JSONField."""
    return json.loads(json.dumps(value, default=str))


def content_hash(rows: Iterable[dict]) -> str:
    """sha256 hex of the rows as canonical JSON lines (key order and whitespace do not matter; row
    order does)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(canonical_json(row).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def prompt_key(row: dict) -> str:
    """What identifies a row's prompt: its "prompt", else "messages" without the final assistant turn."""
    if "prompt" in row:
        return canonical_json(row["prompt"])
    msgs = row.get("messages")
    if isinstance(msgs, list) and msgs and isinstance(msgs[-1], dict) and msgs[-1].get("role") == "assistant":
        msgs = msgs[:-1]
    return canonical_json(msgs)


def split_by_prompt(
    rows: list[dict],
    val_fraction: float,
    seed: int = 0,
    key: str | Callable[[dict], Any] | None = None,
) -> tuple[list[dict], list[dict]]:
    """Split into (train, val) so that no prompt appears on both sides; both keep input order.

    Prompts are ordered by a seeded hash (deterministic for a seed, independent of row order) and whole
    prompt groups go to val until it holds at least `val_fraction` of the rows. With two or more
    prompts and 0 < val_fraction < 1, each side gets at least one. `key` is a field name or a
    function of the row; default `prompt_key`.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError("val_fraction must be in [0, 1).")
    if key is None:
        key_fn = prompt_key
    elif callable(key):
        key_fn = key
    else:
        field = key
        key_fn = lambda row: canonical_json(row.get(field))  # noqa: E731

    groups: dict[str, int] = {}
    keys = []
    for row in rows:
        k = key_fn(row)
        k = k if isinstance(k, str) else canonical_json(k)
        keys.append(k)
        groups[k] = groups.get(k, 0) + 1
    if val_fraction == 0 or len(groups) < 2:
        return list(rows), []

    def order(k: str) -> str:
        return hashlib.sha256(f"{seed}\x00{k}".encode()).hexdigest()

    target = math.ceil(val_fraction * len(rows))
    val_keys: set[str] = set()
    taken = 0
    ranked = sorted(groups, key=order)
    for k in ranked[:-1]:  # the last group always stays in train
        if taken >= target:
            break
        val_keys.add(k)
        taken += groups[k]
    train = [r for r, k in zip(rows, keys, strict=True) if k not in val_keys]
    val = [r for r, k in zip(rows, keys, strict=True) if k in val_keys]
    return train, val
