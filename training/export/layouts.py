"""Snapshot rows -> the row layouts trainers read, one generator per layout, row by row. No Django.

Input: snapshot rows as `training.snapshots.snapshot_jsonl` writes them,
    {"split": "train"|"validation", "position": int, "data": {...}, "provenance": {...}}
with SFT data {"messages": [prompt turns], "response": text} and DPO data
{"messages": [prompt turns], "chosen": text, "rejected": text}. Output: `(split, record)` pairs, the
record exactly as the tool reads it (see LAYOUTS). The conversational conversions go through the
training pipeline's own converters (`to_trl_sft`, `to_trl_dpo`), so an export and a run see the same
rows.

Plain-text layouts (`*-text`): TRL's plain prompt is one string, with no chat template applied. A
prompt that is exactly one user turn becomes its text; a prompt with a system turn or several turns
raises `LayoutError` (naming the row) rather than inventing a transcript format: use the
conversational layout for those.

Provenance columns (`provenance=True`): always the same set, so every row has the same schema:
`item_id`, `pair_id`, `source`, `judgment_ids`, `adjudication_ids`, `annotators` (pseudonyms, never the
names stored in the snapshot), `rubric_versions`, `consensus_rule`, `confidence`, `lead_edited`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from training.pipeline.data import prompt_text, to_trl_dpo, to_trl_sft

Record = tuple[str, dict]

PROVENANCE_COLUMNS = {  # name -> Arrow type, for writers that need a schema when a column is all null
    "item_id": "int64",
    "pair_id": "int64",
    "source": "string",
    "judgment_ids": "list<int64>",
    "adjudication_ids": "list<int64>",
    "annotators": "list<string>",
    "rubric_versions": "list<int64>",
    "consensus_rule": "string",
    "confidence": "float64",
    "lead_edited": "bool",
}
RAW_COLUMNS = {"rubric_version": "int64", "duration_seconds": "float64", "consensus_rule": "string",
               "flags": "list<string>"}  # fmt: skip
SCORE_COLUMNS = {"margin": "float64", "score_chosen": "float64", "score_rejected": "float64"}
COLUMN_TYPES = {**PROVENANCE_COLUMNS, **SCORE_COLUMNS, **RAW_COLUMNS}


class LayoutError(ValueError):
    """A row that the chosen layout cannot express; names the row."""


def _where(row: dict) -> str:
    return f"{row.get('split', '?')} row {row.get('position', '?')}"


def _data(row: dict) -> dict:
    return row["data"] if "data" in row else row


def _kind(data: dict) -> str:
    if "chosen" in data and "rejected" in data:
        return "dpo"
    if "response" in data:
        return "sft"
    raise LayoutError("a row must hold a response (SFT) or chosen and rejected (DPO).")


def _require(row: dict, kind: str, layout: str) -> dict:
    data = _data(row)
    found = _kind(data)
    if found != kind:
        raise LayoutError(f"{_where(row)}: layout {layout} takes {kind.upper()} rows, not {found.upper()}.")
    return data


def _plain(row: dict, messages: list[dict]) -> str:
    try:
        return prompt_text(messages)
    except ValueError as exc:
        raise LayoutError(f"{_where(row)}: {exc} Use the conversational layout.") from None


def _ints(values) -> list[int]:
    return [int(v) for v in values or [] if v is not None]


def provenance_columns(provenance: dict, pseudonym: Callable[[str], str]) -> dict:
    """The fixed provenance columns of one row; annotators go through `pseudonym`."""
    p = provenance or {}
    versions = p.get("rubric_versions")
    if versions is None and p.get("rubric_version") is not None:
        versions = [p["rubric_version"]]
    lead_edited = bool(p.get("chosen_edited")) or p.get("gold_from") not in (None, "response", "edit", "none")
    return {
        "item_id": p.get("item_id"),
        "pair_id": p.get("pair_id"),
        "source": p.get("source"),
        "judgment_ids": _ints(p.get("judgment_ids")),
        "adjudication_ids": _ints(p.get("adjudication_ids")),
        "annotators": sorted({pseudonym(str(a)) for a in p.get("annotators") or []}),
        "rubric_versions": _ints(versions),
        "consensus_rule": p.get("consensus_rule") or ("adjudication" if p.get("adjudication_ids") else None),
        "confidence": None if p.get("confidence") is None else float(p["confidence"]),
        "lead_edited": lead_edited,
    }


def _score(data: dict, provenance: dict, key: str):
    value = data.get(key, (provenance or {}).get(key))
    return None if value is None else float(value)


def _extras(row, data, *, provenance, pseudonym, scores) -> dict:
    out = {}
    if scores:
        for key in SCORE_COLUMNS:
            out[key] = _score(data, row.get("provenance"), key)
    if provenance:
        if pseudonym is None:
            raise ValueError("provenance=True needs a pseudonym function: annotator names never leave.")
        out.update(provenance_columns(row.get("provenance") or {}, pseudonym))
    return out


# --- SFT -------------------------------------------------------------------------------------------


def _sft(row, layout):
    data = _require(row, "sft", layout)
    return data, to_trl_sft([data])[0]


def trl_messages(rows: Iterable[dict], *, provenance=False, pseudonym=None, **_) -> Iterator[Record]:
    """TRL SFT conversational: {"messages": prompt turns + the assistant answer}."""
    for row in rows:
        data, conv = _sft(row, "trl-messages")
        extra = _extras(row, data, provenance=provenance, pseudonym=pseudonym, scores=False)
        yield row["split"], {"messages": conv["prompt"] + conv["completion"], **extra}


def trl_prompt_completion(rows, *, provenance=False, pseudonym=None, **_) -> Iterator[Record]:
    """TRL SFT prompt-completion, conversational: {"prompt": [turns], "completion": [assistant msg]}."""
    for row in rows:
        data, conv = _sft(row, "trl-prompt-completion")
        extra = _extras(row, data, provenance=provenance, pseudonym=pseudonym, scores=False)
        yield row["split"], {**conv, **extra}


def trl_prompt_completion_text(rows, *, provenance=False, pseudonym=None, **_) -> Iterator[Record]:
    """TRL SFT prompt-completion, plain text: {"prompt": str, "completion": str}."""
    for row in rows:
        data, conv = _sft(row, "trl-prompt-completion-text")
        extra = _extras(row, data, provenance=provenance, pseudonym=pseudonym, scores=False)
        record = {"prompt": _plain(row, conv["prompt"]), "completion": conv["completion"][0]["content"]}
        yield row["split"], {**record, **extra}


def openai_chat(rows, *, provenance=False, pseudonym=None, **_) -> Iterator[Record]:
    """OpenAI fine-tuning chat (SFT): {"messages": [... , assistant]} (TRL's messages layout too)."""
    yield from trl_messages(rows, provenance=provenance, pseudonym=pseudonym)


# --- preferences ------------------------------------------------------------------------------------


def _dpo(row, layout):
    data = _require(row, "dpo", layout)
    return data, to_trl_dpo([data])[0]


def trl_preference(rows, *, provenance=False, pseudonym=None, scores=True) -> Iterator[Record]:
    """TRL preference, conversational: {"prompt": [turns], "chosen": [assistant], "rejected": [assistant]}
    plus margin / score_chosen / score_rejected when `scores`."""
    for row in rows:
        data, conv = _dpo(row, "trl-preference")
        extra = _extras(row, data, provenance=provenance, pseudonym=pseudonym, scores=scores)
        yield row["split"], {**conv, **extra}


def trl_preference_text(rows, *, provenance=False, pseudonym=None, scores=True) -> Iterator[Record]:
    """TRL preference, plain text: {"prompt": str, "chosen": str, "rejected": str} (+ scores)."""
    for row in rows:
        data, conv = _dpo(row, "trl-preference-text")
        extra = _extras(row, data, provenance=provenance, pseudonym=pseudonym, scores=scores)
        record = {
            "prompt": _plain(row, conv["prompt"]),
            "chosen": conv["chosen"][0]["content"],
            "rejected": conv["rejected"][0]["content"],
        }
        yield row["split"], {**record, **extra}


def _unpaired(row, layout):
    """(prompt messages, [(assistant msg list, label), ...]): a pair gives a True and a False row; an
    accepted SFT row gives one True row."""
    data = _data(row)
    if _kind(data) == "dpo":
        conv = to_trl_dpo([data])[0]
        return data, conv["prompt"], [(conv["chosen"], True), (conv["rejected"], False)]
    conv = to_trl_sft([data])[0]
    return data, conv["prompt"], [(conv["completion"], True)]


def trl_kto(rows, *, provenance=False, pseudonym=None, **_) -> Iterator[Record]:
    """TRL unpaired preference (KTO), conversational: {"prompt": [turns], "completion": [assistant],
    "label": bool}."""
    for row in rows:
        data, prompt, outs = _unpaired(row, "trl-kto")
        extra = _extras(row, data, provenance=provenance, pseudonym=pseudonym, scores=False)
        for completion, label in outs:
            yield row["split"], {"prompt": prompt, "completion": completion, "label": label, **extra}


def trl_kto_text(rows, *, provenance=False, pseudonym=None, **_) -> Iterator[Record]:
    """TRL unpaired preference (KTO), plain text: {"prompt": str, "completion": str, "label": bool}."""
    for row in rows:
        data, prompt, outs = _unpaired(row, "trl-kto-text")
        extra = _extras(row, data, provenance=provenance, pseudonym=pseudonym, scores=False)
        text = _plain(row, prompt)
        for completion, label in outs:
            yield (
                row["split"],
                {"prompt": text, "completion": completion[0]["content"], "label": label, **extra},
            )


def openai_preference(rows, *, provenance=False, pseudonym=None, **_) -> Iterator[Record]:
    """OpenAI fine-tuning DPO: {"input": {"messages": [...]}, "preferred_output": [assistant],
    "non_preferred_output": [assistant]}."""
    for row in rows:
        data, conv = _dpo(row, "openai-preference")
        extra = _extras(row, data, provenance=provenance, pseudonym=pseudonym, scores=False)
        yield (
            row["split"],
            {
                "input": {"messages": conv["prompt"]},
                "preferred_output": conv["chosen"],
                "non_preferred_output": conv["rejected"],
                **extra,
            },
        )


# --- raw judgments (research) -----------------------------------------------------------------------

RAW_JSON_FIELDS = ("scores", "payload", "adjudications", "consensus", "responses")


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def raw_judgments(rows, *, pseudonym=None, **_) -> Iterator[Record]:
    """One row per judgment of a raw-judgments snapshot, flat, for research: the prompt turns, the
    judgment (decision, scores, flags, timings, payload), rubric version, adjudications, consensus
    rule and confidence. Annotators and leads always leave as pseudonyms (`pseudonym` is required);
    nested values with varying keys are JSON strings so every row has one schema."""
    if pseudonym is None:
        raise ValueError("raw-judgments needs a pseudonym function: annotator names never leave.")
    for row in rows:
        data = _data(row)
        j = data.get("judgment")
        if not isinstance(j, dict):
            raise LayoutError(f"{_where(row)}: layout raw-judgments takes raw-judgment snapshot rows.")
        adjudications = [
            {**a, "lead": pseudonym(str(a["lead"])) if a.get("lead") is not None else None}
            for a in data.get("adjudications") or []
        ]
        consensus = data.get("consensus") or []
        overall = next((c for c in consensus if not c.get("criterion")), consensus[0] if consensus else {})
        record = {
            "judgment_id": int(j["id"]),
            "item_id": int(j["item_id"]),
            "item_kind": j.get("item_kind") or "",
            "annotator": pseudonym(str(j["annotator"])),
            "external": bool(j.get("external")),
            "source": j.get("source") or "",
            "is_current": bool(j.get("is_current", True)),
            "rubric_version": j.get("rubric_version"),
            "decision": j.get("decision") or "",
            "edited_text": j.get("edited_text") or "",
            "flags": [str(f) for f in j.get("flags") or []],
            "comment": j.get("comment") or "",
            "duration_seconds": None if j.get("duration_seconds") is None else float(j["duration_seconds"]),
            "rushed": bool(j.get("rushed")),
            "created_at": j.get("created_at") or "",
            "prompt": _json(data.get("messages") or []),
            "responses": _json(data.get("responses") or []),
            "scores": _json(j.get("scores") or {}),
            "payload": _json(j.get("payload") or {}),
            "adjudications": _json(adjudications),
            "consensus": _json(consensus),
            "consensus_rule": overall.get("rule"),
            "confidence": None if overall.get("confidence") is None else float(overall["confidence"]),
        }
        yield row.get("split", "train"), record


@dataclass(frozen=True)
class Layout:
    name: str
    convert: Callable[..., Iterator[Record]]
    kinds: tuple[str, ...]  # snapshot kinds it takes
    trainer: str  # the TRL trainer (or service) that reads it
    conversational: bool


LAYOUTS = {
    layout.name: layout
    for layout in (
        Layout("trl-messages", trl_messages, ("sft",), "SFTTrainer", True),
        Layout("trl-prompt-completion", trl_prompt_completion, ("sft",), "SFTTrainer", True),
        Layout("trl-prompt-completion-text", trl_prompt_completion_text, ("sft",), "SFTTrainer", False),
        Layout("trl-preference", trl_preference, ("dpo",), "DPOTrainer", True),
        Layout("trl-preference-text", trl_preference_text, ("dpo",), "DPOTrainer", False),
        Layout("trl-kto", trl_kto, ("dpo", "sft"), "KTOTrainer", True),
        Layout("trl-kto-text", trl_kto_text, ("dpo", "sft"), "KTOTrainer", False),
        Layout("openai-chat", openai_chat, ("sft",), "OpenAI fine-tuning (supervised)", True),
        Layout("openai-preference", openai_preference, ("dpo",), "OpenAI fine-tuning (DPO)", True),
        Layout("raw-judgments", raw_judgments, ("raw",), "research (no trainer)", False),
    )
}


def convert(
    layout: str,
    rows: Iterable[dict],
    *,
    provenance: bool = False,
    pseudonym: Callable[[str], str] | None = None,
    scores: bool = True,
) -> Iterator[Record]:
    """Stream `(split, record)` pairs of `rows` in `layout` (a key of LAYOUTS)."""
    if layout not in LAYOUTS:
        raise LayoutError(f"Unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}.")
    return LAYOUTS[layout].convert(rows, provenance=provenance, pseudonym=pseudonym, scores=scores)
