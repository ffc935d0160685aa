"""Validate a preference answer given in display slots and turn it into canonical response ids.

Pure Python, no Django. Annotators see responses in a per-assignment random order ("A", "B", ... =
display slots 0, 1, ...); what we store names the responses themselves, so "left" always maps to the
response that was shown on the left to *that* annotator.

Input (from the page or the API):
  pairwise (2 responses): choice = "A" | "B" | "left" | "right" | "tie" | "both_bad",
                          strength = 1 | 2 | 3 (or "slightly" | "clearly" | "much"), required for A/B
  N-way:                  ranking = "A>B=C" or [["A"], ["B", "C"]] (best first, "=" / groups are ties)
  both:                   criteria = {key: choice or ranking}, improved_text = str, harmful = ["A", ...]
Output: a dict with `ranking` (groups of response ids, best first), `outcome` (win | tie | both_bad),
`winner` / `winner_slot` (pairwise), `strength` (0..3), `criteria`, `improved_text`, `harmful`,
`display_order`.
"""

from annotation.core.numbers import whole_number
from annotation.kinds.slots import slot_index, slot_letter, slot_letters

STRENGTHS = {"slightly": 1, "clearly": 2, "much": 3}


class PayloadError(ValueError):
    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


def slot_of(token, n: int) -> int:
    """'A' / 'left' / 0 -> 0, ...; ValueError when it names no shown response."""
    if isinstance(token, bool):
        raise ValueError(f"{token!r} is not a response.")
    if isinstance(token, int):
        slot = token
    else:
        text = str(token).strip().lower()
        if text == "left":
            slot = 0
        elif text == "right":
            slot = n - 1 if n == 2 else -1
        elif slot_index(text) >= 0:
            slot = slot_index(text)
        elif whole_number(text) is not None:
            slot = whole_number(text)
        else:
            slot = -1
    if not 0 <= slot < n:
        raise ValueError(f"{token!r} is not one of the shown responses ({', '.join(slot_letters(n))}).")
    return slot


def parse_ranking(raw, n: int) -> list[list[int]]:
    """'A>B=C' or [['A'], ['B', 'C']] -> [[0], [1, 2]]; every shown response exactly once."""
    if isinstance(raw, str):
        groups = [[t for t in g.split("=") if t.strip()] for g in raw.replace(" ", "").split(">") if g]
    elif isinstance(raw, list):
        groups = [g if isinstance(g, list) else [g] for g in raw]
    else:
        raise ValueError("Give a ranking like 'A>B=C' or a list of groups, best first.")
    slots = [[slot_of(t, n) for t in g] for g in groups]
    flat = [s for g in slots for s in g]
    if sorted(flat) != list(range(n)):
        raise ValueError(f"Rank every response exactly once ({', '.join(slot_letters(n))}).")
    return [sorted(g) for g in slots if g]


def whole_strength(value) -> int:
    """A stored strength as a whole number; 0 for none or one that is no number ("much", a list:
    only the payload parser's 0..3 is ever stored, but older or hand-edited rows must not fail a
    recompute)."""
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def parse_strength(raw) -> int:
    if raw in (None, ""):
        raise ValueError("Say how much better: 1 slightly, 2 clearly, 3 much.")
    if isinstance(raw, str) and raw.strip().lower() in STRENGTHS:
        return STRENGTHS[raw.strip().lower()]
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError("Must be 1, 2 or 3 (slightly, clearly, much better).")
    if value not in (1, 2, 3):
        raise ValueError("Must be 1, 2 or 3 (slightly, clearly, much better).")
    return value


def _pairwise(choice, strength_raw, n, order, errors, field="choice"):
    text = str(choice or "").strip().lower().replace("-", "_").replace(" ", "_")
    if text in ("tie", "both_bad"):
        return {
            "outcome": text,
            "ranking": [sorted(order)],
            "winner": None,
            "winner_slot": None,
            "strength": 0,
        }
    try:
        slot = slot_of(choice, n)
    except ValueError as exc:
        errors.setdefault(field, []).append(
            "Choose A, B, tie or both bad." if choice in (None, "") else str(exc)
        )
        return None
    strength = 0
    if strength_raw is not False:
        try:
            strength = parse_strength(strength_raw)
        except ValueError as exc:
            errors.setdefault("strength", []).append(str(exc))
            return None
    winner, loser = order[slot], order[1 - slot]
    return {
        "outcome": "win",
        "ranking": [[winner], [loser]],
        "winner": winner,
        "winner_slot": slot,
        "strength": strength,
    }


def normalise(raw: dict, display_order: list[int], *, criteria_keys=()) -> dict:
    """Validate `raw` against the responses shown (display_order = response ids by slot)."""
    if not isinstance(raw, dict):
        raise PayloadError({"payload": ["Must be an object."]})
    n = len(display_order)
    if n < 2:
        raise PayloadError({"payload": ["A comparison needs at least two responses."]})
    errors: dict[str, list[str]] = {}
    out: dict = {"display_order": list(display_order)}
    if n == 2 and raw.get("ranking") in (None, "", []):
        result = _pairwise(raw.get("choice"), raw.get("strength"), n, display_order, errors)
        if result:
            out.update(result)
    else:
        try:
            slots = parse_ranking(raw.get("ranking"), n)
            out["ranking"] = [[display_order[s] for s in g] for g in slots]
            out["outcome"] = "tie" if len(slots) == 1 else "ranked"
            out["strength"] = 0
            if n == 2 and len(slots) == 2:
                out.update(
                    _pairwise(slot_letter(slots[0][0]), raw.get("strength"), n, display_order, errors) or {}
                )
        except ValueError as exc:
            errors.setdefault("ranking", []).append(str(exc))
    crit_out = {}
    for key, value in (raw.get("criteria") or {}).items():
        if criteria_keys and key not in criteria_keys:
            errors.setdefault(f"criteria.{key}", []).append("Not a criterion of this rubric version.")
            continue
        if value in (None, ""):
            continue
        if n == 2 and not isinstance(value, list) and ">" not in str(value):
            sub_errors: dict = {}
            result = _pairwise(value, False, n, display_order, sub_errors, field=f"criteria.{key}")
            for k, v in sub_errors.items():
                errors.setdefault(k, []).extend(v)
            if result:
                crit_out[key] = {
                    "outcome": result["outcome"],
                    "ranking": result["ranking"],
                    "winner": result["winner"],
                }
        else:
            try:
                slots = parse_ranking(value, n)
                crit_out[key] = {
                    "outcome": "tie" if len(slots) == 1 else "ranked",
                    "ranking": [[display_order[s] for s in g] for g in slots],
                }
            except ValueError as exc:
                errors.setdefault(f"criteria.{key}", []).append(str(exc))
    out["criteria"] = crit_out
    improved = raw.get("improved_text") or ""
    if not isinstance(improved, str):
        errors.setdefault("improved_text", []).append("Must be text.")
        improved = ""
    out["improved_text"] = improved.replace("\r\n", "\n").strip()
    harmful = raw.get("harmful") or []
    if isinstance(harmful, str):
        harmful = [h for h in harmful.split(",") if h.strip()]
    harmful_ids = []
    for token in harmful if isinstance(harmful, list) else [harmful]:
        try:
            rid = display_order[slot_of(token, n)]
        except ValueError as exc:
            errors.setdefault("harmful", []).append(str(exc))
            continue
        if rid not in harmful_ids:
            harmful_ids.append(rid)
    out["harmful"] = harmful_ids
    if errors:
        raise PayloadError(errors)
    return out


def to_display(stored: dict, display_order: list[int]) -> dict:
    """A stored payload back in this annotator's display slots: the form's answer, so that a judgment
    can be shown again to change (the inverse of `normalise` for what the form asks)."""
    letter = {rid: slot_letter(i) for i, rid in enumerate(display_order)}

    def ranking(groups) -> str:
        return ">".join("=".join(sorted(letter[r] for r in g if r in letter)) for g in groups or [])

    def answer(part: dict) -> str:
        if len(display_order) != 2:
            return ranking(part.get("ranking"))
        if part.get("outcome") in ("tie", "both_bad"):
            return part["outcome"]
        return letter.get(part.get("winner"), "") or ranking(part.get("ranking"))

    out: dict = {"choice": answer(stored)} if len(display_order) == 2 else {}
    if len(display_order) == 2 and stored.get("strength"):
        out["strength"] = str(stored["strength"])
    if len(display_order) != 2:
        out["ranking"] = answer(stored)
    out["criteria"] = {key: answer(part) for key, part in (stored.get("criteria") or {}).items()}
    out["improved_text"] = stored.get("improved_text") or ""
    out["harmful"] = [letter[r] for r in stored.get("harmful") or [] if r in letter]
    return out
