"""An audit event's `data` as readable lines (pure: no Django): "field: old → new" for changes, "field:
value" for the rest. The audit page renders them through the `audit_details` filter, which escapes.

Changes are recognised in the shapes services record: `before` / `after` dicts; `changes` or `changed`
as `{field: [old, new]}` or `{field: {"from": old, "to": new}}` (the shape to use for new events);
`old_x` / `new_x` pairs; `old` / `new`. Everything else is a plain "field: value" line, in key order.
"""

from dataclasses import dataclass

MAX_VALUE = 300  # characters of one value shown; longer ones end with "…"
EMPTY = "—"


@dataclass(frozen=True)
class Line:
    field: str
    value: str = ""
    old: str = ""
    new: str = ""
    change: bool = False


def show(value) -> str:
    """One value as text: None -> "—", booleans yes/no, lists comma-separated, dicts "k: v"."""
    if value is None:
        text = EMPTY
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, str):
        text = value if value != "" else '""'
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(show(v) for v in value) + "]" if value else "[]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}" if value else "{}"
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _label(key) -> str:
    return str(key).replace("_", " ")


def _as_change(value):
    """(old, new) when a value of a `changes` dict is a change, else None."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    if isinstance(value, dict) and set(value) in ({"from", "to"}, {"old", "new"}):
        return (value["from"], value["to"]) if "from" in value else (value["old"], value["new"])
    return None


def _change(field, old, new) -> Line:
    return Line(field=_label(field), old=show(old), new=show(new), change=True)


def describe(data) -> list[Line]:
    """The readable lines of an event's data (any JSON value)."""
    if not isinstance(data, dict):
        return [] if data in (None, "", [], {}) else [Line(field="", value=show(data))]
    rest = dict(data)
    lines = []
    before, after = rest.get("before"), rest.get("after")
    if isinstance(before, dict) and isinstance(after, dict):
        del rest["before"], rest["after"]
        for key in list(after) + [k for k in before if k not in after]:
            lines.append(_change(key, before.get(key), after.get(key)))
    for name in ("changes", "changed"):
        changes = rest.get(name)
        if isinstance(changes, dict) and changes and all(_as_change(v) for v in changes.values()):
            del rest[name]
            lines.extend(_change(key, *_as_change(value)) for key, value in changes.items())
    if "old" in rest and "new" in rest:
        lines.append(_change("value", rest.pop("old"), rest.pop("new")))
    for key in list(rest):
        if isinstance(key, str) and key.startswith("old_") and f"new_{key[4:]}" in rest:
            lines.append(_change(key[4:], rest.pop(key), rest.pop(f"new_{key[4:]}")))
    lines.extend(Line(field=_label(key), value=show(value)) for key, value in rest.items())
    return lines
