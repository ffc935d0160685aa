"""Rubric criteria and score validation. Pure Python: no Django.

A criterion is a dict::

    {"key": "helpfulness", "label": "Helpfulness", "type": "likert", "instructions": "...",
     "required": True}                                   # likert: integer 1..5
    {"key": "safe", "type": "binary", ...}               # binary: true / false
    {"key": "tone", "type": "labels", "labels": ["formal", "casual"], ...}   # one of the labels

`validate_criteria` normalises and checks a list of them; `validate_scores` checks an
annotator's scores against it. Both raise `RubricError` whose `.errors` maps a field to messages.
`panel_criteria` shapes criteria for the annotator's panel (`annotation/_rubric_panel.html`), which
the review page and the rubric builder's preview both render.
"""

import re

CRITERION_TYPES = ("binary", "likert", "labels")
LIKERT_MIN, LIKERT_MAX = 1, 5
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class RubricError(ValueError):
    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


def validate_criteria(criteria) -> list[dict]:
    """Return the normalised criteria list or raise RubricError naming each bad field."""
    if not isinstance(criteria, list):
        raise RubricError({"criteria": ["Must be a list of criteria."]})
    errors: dict[str, list[str]] = {}
    out, seen = [], set()
    for i, raw in enumerate(criteria):
        where = f"criteria[{i}]"
        if not isinstance(raw, dict):
            errors.setdefault(where, []).append("Must be an object.")
            continue
        key = str(raw.get("key", "")).strip()
        ctype = raw.get("type", "likert")
        if not _KEY_RE.match(key):
            errors.setdefault(f"{where}.key", []).append(
                "Required: lowercase letters, digits and underscores, starting with a letter."
            )
        elif key in seen:
            errors.setdefault(f"{where}.key", []).append(f"Duplicate key '{key}'.")
        seen.add(key)
        if ctype not in CRITERION_TYPES:
            errors.setdefault(f"{where}.type", []).append(f"Must be one of {', '.join(CRITERION_TYPES)}.")
        labels = raw.get("labels") or []
        if ctype == "labels":
            if (
                not isinstance(labels, list)
                or len(labels) < 2
                or not all(isinstance(x, str) and x for x in labels)
            ):
                errors.setdefault(f"{where}.labels", []).append(
                    "A labels criterion needs at least two labels."
                )
            elif len(set(labels)) != len(labels):
                errors.setdefault(f"{where}.labels", []).append("Labels must be distinct.")
        item = {
            "key": key,
            "label": str(raw.get("label") or key.replace("_", " ").capitalize()),
            "type": ctype,
            "instructions": str(raw.get("instructions", "")),
            "required": bool(raw.get("required", True)),
        }
        if ctype == "labels":
            item["labels"] = list(labels) if isinstance(labels, list) else []
        out.append(item)
    if errors:
        raise RubricError(errors)
    return out


def coerce_score(criterion: dict, value):
    """Parse one score (form strings included). Return the typed value, or None for blank."""
    if value is None or value == "":
        return None
    ctype = criterion["type"]
    if ctype == "binary":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "y"}:
            return True
        if text in {"0", "false", "no", "n"}:
            return False
        raise ValueError("Must be yes or no.")
    if ctype == "likert":
        if isinstance(value, bool):
            raise ValueError(f"Must be an integer from {LIKERT_MIN} to {LIKERT_MAX}.")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(f"Must be an integer from {LIKERT_MIN} to {LIKERT_MAX}.")
        if not LIKERT_MIN <= number <= LIKERT_MAX:
            raise ValueError(f"Must be an integer from {LIKERT_MIN} to {LIKERT_MAX}.")
        return number
    if ctype == "labels":
        if value not in criterion.get("labels", []):
            raise ValueError(f"Must be one of: {', '.join(criterion.get('labels', []))}.")
        return value
    raise ValueError(f"Unknown criterion type {ctype!r}.")


def validate_scores(criteria: list[dict], scores, *, require_all: bool = True) -> dict:
    """Check scores ({key: value}) against criteria; return the typed scores or raise RubricError."""
    if scores is None:
        scores = {}
    if not isinstance(scores, dict):
        raise RubricError({"scores": ["Must be an object mapping criterion keys to values."]})
    by_key = {c["key"]: c for c in criteria}
    errors: dict[str, list[str]] = {}
    out = {}
    for key in scores:
        if key not in by_key:
            errors.setdefault(f"scores.{key}", []).append("Not a criterion of this rubric version.")
    for key, criterion in by_key.items():
        try:
            value = coerce_score(criterion, scores.get(key))
        except ValueError as exc:
            errors.setdefault(f"scores.{key}", []).append(str(exc))
            continue
        if value is None:
            if require_all and criterion.get("required", True):
                errors.setdefault(f"scores.{key}", []).append("This criterion is required.")
            continue
        out[key] = value
    if errors:
        raise RubricError(errors)
    return out


_BINARY_TEXT = {"true": "yes", "1": "yes", "y": "yes", "false": "no", "0": "no", "n": "no"}


def panel_criteria(criteria: list[dict], scores=None, errors=None) -> list[dict]:
    """Criteria with their `index`, radio `options` (value, label, checked, shortcut `n`) and `errors`."""
    scores, errors = scores or {}, errors or {}
    out = []
    for index, criterion in enumerate(criteria):
        key = criterion["key"]
        current = scores.get(key)
        current = "" if current is None else str(current).lower()
        if criterion["type"] == "likert":
            options = [(str(n), str(n)) for n in range(LIKERT_MIN, LIKERT_MAX + 1)]
        elif criterion["type"] == "binary":
            options = [("yes", "Yes"), ("no", "No")]
            current = _BINARY_TEXT.get(current, current)
        else:
            options = [(label, label) for label in criterion.get("labels", [])]
        out.append(
            {
                **criterion,
                "index": index,
                "options": [
                    {"value": value, "label": label, "checked": value.lower() == current, "n": i + 1}
                    for i, (value, label) in enumerate(options)
                ],
                "errors": errors.get(f"scores.{key}", []),
            }
        )
    return out
