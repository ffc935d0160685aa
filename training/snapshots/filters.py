"""The filters a snapshot is built with: defaults, checking (field messages), and why a candidate
is left out."""

from datetime import date

from annotation.core.errors import InvalidInput
from annotation.models import FLAG_CHOICES

from ..models import SnapshotKind

SNAPSHOT_DEFAULTS = {
    "rubric_version": None,  # judgments (SFT) / pairs (DPO) under this rubric version number only
    "min_agreement": 0.0,  # SFT: share of current judgments that accept or edit
    "min_confidence": 0.0,  # DPO: pair confidence
    "include_candidates": False,  # DPO: also candidate pairs with confidence >= candidate_min_confidence
    "candidate_min_confidence": 0.8,
    "criterion": "",  # DPO: "" = the overall preference, "*" = any criterion
    "exclude_flags": ["pii", "unsafe"],
    "date_from": None,  # ISO dates; compared with the latest judgment on the item
    "date_to": None,
    "dedupe": True,
    "near_dup_threshold": 0.95,  # MiniLM cosine between prompts; 1.0 turns near-dedupe off
    "val_fraction": 0.1,
    "seed": 0,
    "replay_fraction": 0.0,  # SFT: share of the training split taken from training/data/general.jsonl
    "redact_pii": False,
    "drop_pii": False,
    "max_rows": None,
}


def _as_float(value, field, errors, lo, hi):
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors.setdefault(field, []).append("Enter a number.")
        return None
    if not lo <= number <= hi:
        errors.setdefault(field, []).append(f"Must be between {lo} and {hi}.")
    return number


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _as_date(value, field, errors):
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        errors.setdefault(field, []).append("Enter a date as YYYY-MM-DD.")
        return None


def clean_snapshot_filters(kind: str, filters: dict | None) -> dict:
    """Filters with defaults filled in and types checked; raises InvalidInput with field messages."""
    filters = dict(filters or {})
    errors: dict[str, list[str]] = {}
    if kind not in SnapshotKind.values:
        raise InvalidInput(errors={"kind": [f"Choose one of {', '.join(SnapshotKind.values)}."]})
    unknown = sorted(set(filters) - set(SNAPSHOT_DEFAULTS))
    for key in unknown:
        errors[key] = ["Unknown filter."]
    out = {**SNAPSHOT_DEFAULTS, **{k: v for k, v in filters.items() if k in SNAPSHOT_DEFAULTS}}
    rv = out["rubric_version"]
    if rv in ("", None):
        out["rubric_version"] = None
    else:
        try:
            out["rubric_version"] = int(rv)
        except (TypeError, ValueError):
            errors["rubric_version"] = ["Enter a rubric version number."]
    for key, lo, hi in (
        ("min_agreement", 0, 1),
        ("min_confidence", 0, 1),
        ("candidate_min_confidence", 0, 1),
        ("near_dup_threshold", 0, 1),
        ("val_fraction", 0, 0.9),
        ("replay_fraction", 0, 0.9),
    ):
        out[key] = _as_float(out[key], key, errors, lo, hi)
    for key in ("include_candidates", "dedupe", "redact_pii", "drop_pii"):
        out[key] = _as_bool(out[key])
    try:
        out["seed"] = int(out["seed"])
    except (TypeError, ValueError):
        errors["seed"] = ["Enter a whole number."]
    if out["max_rows"] not in (None, ""):
        try:
            out["max_rows"] = int(out["max_rows"])
            if out["max_rows"] < 1:
                errors["max_rows"] = ["Must be at least 1."]
        except (TypeError, ValueError):
            errors["max_rows"] = ["Enter a whole number."]
    else:
        out["max_rows"] = None
    flags = out["exclude_flags"]
    if isinstance(flags, str):
        flags = [f.strip() for f in flags.split(",") if f.strip()]
    flags = list(flags or [])
    bad = [f for f in flags if f not in FLAG_CHOICES]
    if bad:
        errors["exclude_flags"] = [f"Unknown flag(s): {', '.join(map(str, bad))}."]
    out["exclude_flags"] = sorted(set(flags) - set(bad))
    out["criterion"] = str(out["criterion"] or "").strip()
    out["date_from"] = _as_date(out["date_from"], "date_from", errors)
    out["date_to"] = _as_date(out["date_to"], "date_to", errors)
    if out["date_from"] and out["date_to"] and out["date_from"] > out["date_to"]:
        errors.setdefault("date_to", []).append("Must not be before date_from.")
    if kind == SnapshotKind.DPO and out["replay_fraction"]:
        errors.setdefault("replay_fraction", []).append(
            "Replay mixes in SFT examples; DPO snapshots have none."
        )
    if kind == SnapshotKind.RAW:
        # rows are judgments, not examples: many share a prompt, none is a duplicate; no split
        out.update(dedupe=False, val_fraction=0.0, replay_fraction=0.0)
    if errors:
        raise InvalidInput(errors=errors)
    return out


def filter_reason(kind, meta, data, f) -> str | None:
    """Why a candidate is left out (a short key for the report), or None to keep it."""
    if meta["not_approved"]:
        return "not_approved"
    if kind == SnapshotKind.SFT and not data["response"].strip():
        return "empty_response"
    if kind == SnapshotKind.DPO:
        if not data["chosen"].strip() or not data["rejected"].strip():
            return "empty_response"
        if data["chosen"] == data["rejected"]:
            return "chosen_equals_rejected"
    if not any(m["role"] == "user" and m["content"].strip() for m in data["messages"]):
        return "no_prompt"
    if f["rubric_version"] is not None and meta["rubric_versions"] != [f["rubric_version"]]:
        return "rubric_version"
    for flag in f["exclude_flags"]:
        if flag in meta["flags"]:
            return f"flag:{flag}"
    if kind == SnapshotKind.SFT and meta["agreement"] < f["min_agreement"]:
        return "min_agreement"
    if kind == SnapshotKind.DPO:
        if meta["confidence"] < f["min_confidence"]:
            return "min_confidence"
        if f["criterion"] != "*" and meta["criterion"] != f["criterion"]:
            return "criterion"
    judged = meta["last_judged_at"]
    if judged is not None:
        day = judged.date().isoformat()
        if f["date_from"] and day < f["date_from"]:
            return "date_range"
        if f["date_to"] and day > f["date_to"]:
            return "date_range"
    elif f["date_from"] or f["date_to"]:
        return "date_range"
    return None
