"""Eval-set JSONL, parsed purely and all-or-nothing: one prompt per line,

    {"prompt": "...", "reference": "...", "group": "g1", "chosen": "...", "rejected": "..."}

`prompt` (a string) or `messages` ([{role, content}], no final assistant turn) is required; the rest is
optional: `reference` a gold answer (perplexity), `group` names a paraphrase group (consistency),
`chosen` + `rejected` a held-out preference pair (preference accuracy). Every problem is an
annotation.importing.parse.ImportIssue with its line and field; any problem raises ImportFailed.
"""

from __future__ import annotations

from annotation.core import json_text
from annotation.importing.parse import ImportFailed, ImportIssue

ROLES = {"system", "user", "assistant"}
TEXT_FIELDS = ("reference", "group", "chosen", "rejected")


def _messages(row, line, issues) -> list[dict] | None:
    if "messages" in row:
        msgs = row["messages"]
        ok = (
            isinstance(msgs, list)
            and msgs
            and all(
                isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)
                for m in msgs
            )
        )
        if not ok:
            issues.append(ImportIssue(line, "messages", "must be a non-empty list of {role, content}"))
            return None
        if msgs[-1]["role"] != "user":
            issues.append(ImportIssue(line, "messages", "must end with a user turn"))
            return None
        return [{"role": m["role"], "content": m["content"]} for m in msgs]
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        issues.append(ImportIssue(line, "prompt", "required: a non-empty string (or give messages)"))
        return None
    return [{"role": "user", "content": prompt}]


def parse_eval_jsonl(text: str) -> list[dict]:
    """[{"messages", "reference", "group", "chosen", "rejected"}] or raise ImportFailed."""
    issues: list[ImportIssue] = []
    rows = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json_text.loads(raw)
        except ValueError as exc:
            issues.append(ImportIssue(line, "", f"not valid JSON: {exc}"))
            continue
        if not isinstance(row, dict):
            issues.append(ImportIssue(line, "", "must be a JSON object"))
            continue
        messages = _messages(row, line, issues)
        out = {"messages": messages}
        for name in TEXT_FIELDS:
            value = row.get(name, "")
            if value is None:
                value = ""
            if not isinstance(value, str):
                issues.append(ImportIssue(line, name, "must be a string"))
            out[name] = value if isinstance(value, str) else ""
        if bool(out["chosen"]) != bool(out["rejected"]):
            issues.append(
                ImportIssue(
                    line, "chosen" if not out["chosen"] else "rejected", "chosen and rejected go together"
                )
            )
        rows.append(out)
    if not rows and not issues:
        issues.append(ImportIssue(1, "", "the file holds no prompts"))
    if issues:
        raise ImportFailed(issues)
    return rows
