"""A dataset's vital signs before training: lengths, lexical diversity, duplicates, balance, PII.

Accepts TRL rows (see `data`) or the simple forms ({"messages", "response"} / {"messages", "chosen",
"rejected"}, text or message lists). "Tokens" here are word-ish pieces (`\\w+` runs and single
punctuation marks), a tokenizer-free stand-in that tracks subword counts within a small factor.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter

from .pii import detect_pii

TOKEN_RE = re.compile(r"\w+|[^\w\s]")
BALANCE_KEYS = ("source", "criterion")


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value.get("content", ""))
    return "\n".join(_text(v) for v in value)


def _parts(row: dict, method: str) -> dict[str, str]:
    """prompt / response (SFT) or prompt / chosen / rejected (DPO) as plain text."""
    if "prompt" in row:
        prompt = _text(row["prompt"])
    else:
        msgs = row.get("messages") or []
        if isinstance(msgs, list) and msgs and "response" not in row and "chosen" not in row:
            last = msgs[-1] if isinstance(msgs[-1], dict) else {}
            if last.get("role") == "assistant":
                return {"prompt": _text(msgs[:-1]), "response": _text(last)}
        prompt = _text(msgs)
    if method == "dpo":
        return {"prompt": prompt, "chosen": _text(row.get("chosen")), "rejected": _text(row.get("rejected"))}
    return {"prompt": prompt, "response": _text(row.get("completion", row.get("response")))}


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {"min": 0, "p50": 0, "p90": 0, "max": 0, "mean": 0.0}
    ordered = sorted(values)

    def pct(q: float) -> int:  # nearest-rank percentile
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {
        "min": ordered[0],
        "p50": pct(0.5),
        "p90": pct(0.9),
        "max": ordered[-1],
        "mean": round(sum(ordered) / len(ordered), 2),
    }


def tokens(text: str) -> list[str]:
    return TOKEN_RE.findall(text.lower())


def distinct_n(texts: list[str], n: int) -> float:
    """Unique n-grams / all n-grams over the texts (0 when there are none)."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        toks = tokens(text)
        grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return round(len(seen) / total, 4) if total else 0.0


def _balance_value(row: dict, key: str):
    if key in row:
        return row[key]
    meta = row.get("metadata")
    return meta.get(key) if isinstance(meta, dict) else None


def quality_report(rows: list[dict], method: str) -> dict:
    """A JSON-able dict: count; per-part length stats in chars and tokens; distinct-1/2 of the
    responses; exact duplicate rows and repeated prompts; for DPO, identical pairs and how often the
    chosen answer is the longer one (a length-bias signal); counts per source/criterion when rows
    carry them; PII matches by kind and rows with any."""
    if method not in ("sft", "dpo"):
        raise ValueError("method must be sft or dpo")
    parts = [_parts(r, method) for r in rows]
    names = ["prompt", "chosen", "rejected"] if method == "dpo" else ["prompt", "response"]
    lengths = {
        name: {
            "chars": _stats([len(p[name]) for p in parts]),
            "tokens": _stats([len(tokens(p[name])) for p in parts]),
        }
        for name in names
    }
    responses = [p[n] for p in parts for n in names[1:]]
    row_counts = Counter(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in rows)
    prompt_counts = Counter(p["prompt"] for p in parts)
    report: dict = {
        "method": method,
        "count": len(rows),
        "lengths": lengths,
        "diversity": {"distinct_1": distinct_n(responses, 1), "distinct_2": distinct_n(responses, 2)},
        "duplicates": {
            "rows": sum(c - 1 for c in row_counts.values()),
            "prompts_repeated": sum(1 for c in prompt_counts.values() if c > 1),
            "rows_with_repeated_prompt": sum(c for c in prompt_counts.values() if c > 1),
        },
    }
    if method == "dpo":
        comparable = [p for p in parts if len(p["chosen"]) != len(p["rejected"])]
        report["pairs"] = {
            "identical": sum(1 for p in parts if p["chosen"].strip() == p["rejected"].strip()),
            "chosen_longer_fraction": round(
                sum(1 for p in comparable if len(p["chosen"]) > len(p["rejected"])) / len(comparable), 4
            )
            if comparable
            else None,
        }
    balance = {}
    for key in BALANCE_KEYS:
        values = [_balance_value(r, key) for r in rows]
        if any(v is not None for v in values):
            balance[key] = dict(Counter(str(v) for v in values if v is not None).most_common())
    report["balance"] = balance
    pii_counts: Counter = Counter()
    rows_with_pii = 0
    for p in parts:
        kinds = [m.kind for text in p.values() for m in detect_pii(text)]
        pii_counts.update(kinds)
        rows_with_pii += bool(kinds)
    report["pii"] = {"email": 0, "phone": 0, "card": 0, **pii_counts, "rows_with_pii": rows_with_pii}
    return report
