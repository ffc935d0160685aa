"""JSON text that people hand in (API bodies, page forms, uploaded files), parsed like `json.loads`
but refusing what would otherwise fail later as a 500. Pure: no Django.

- Nesting: Python's json raises RecursionError (not ValueError) on arrays or objects nested a few
  thousand levels deep, and code walking a value recursively would fail the same way, so a value
  nested deeper than MAX_DEPTH levels is refused.
- Lone surrogates: "\\ud800" is valid JSON but not Unicode text; no database stores it, and echoing
  it back breaks the response's UTF-8. Refused unless the caller reports them itself.

A refusal is a `Refused`, a `json.JSONDecodeError` (so a ValueError), which every caller already
catches as "not valid JSON"; its `msg` says what is wrong.
"""

import json

MAX_DEPTH = 100  # objects and arrays inside one another


class Refused(json.JSONDecodeError):
    """Valid JSON that we do not take: too deep, or a lone surrogate."""

    def __init__(self, msg: str, doc: str = "", pos: int = 0):
        super().__init__(msg, doc, pos)

    def __reduce__(self):
        return type(self), (self.msg, self.doc, self.pos)


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def problem(value, *, max_depth: int = MAX_DEPTH, surrogates: bool = False) -> str | None:
    """Why a parsed value is refused, or None: nested deeper than `max_depth`, or (unless
    `surrogates`) a string, key or value, holding a lone surrogate. Iterative: any depth is safe."""
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, str):
            if not surrogates and has_lone_surrogate(node):
                return (
                    "a string holds a lone surrogate (an unpaired \\ud800-\\udfff escape); use valid Unicode."
                )
        elif isinstance(node, dict | list):
            if level > max_depth:
                return f"nested deeper than {max_depth} levels."
            if isinstance(node, dict):
                stack.extend((key, level) for key in node)
                stack.extend((child, level + 1) for child in node.values())
            else:
                stack.extend((child, level + 1) for child in node)
    return None


def check(value, *, max_depth: int = MAX_DEPTH, surrogates: bool = False):
    """`value` itself, or raise Refused (see `problem`)."""
    why = problem(value, max_depth=max_depth, surrogates=surrogates)
    if why is not None:
        raise Refused(why)
    return value


def _plainly_fine(text, max_depth: int, surrogates: bool) -> bool:
    """True when the text alone shows that its value passes `problem`, without walking the value: it
    opens at most `max_depth` objects and arrays in all (so none is nested deeper) and, unless
    `surrogates`, it has no \\u escape and no lone surrogate (so no string holds one). Two or three
    passes in C over the text against a walk over every value in Python."""
    if not isinstance(text, str) or text.count("[") + text.count("{") > max_depth:
        return False
    return surrogates or ("\\u" not in text and not has_lone_surrogate(text))


def loads(text, *, max_depth: int = MAX_DEPTH, surrogates: bool = False, decoder: json.JSONDecoder | None = None,
          **kwargs):  # fmt: skip
    """`json.loads(text, **kwargs)`, refusing (Refused) a value nested deeper than `max_depth` levels
    and, unless `surrogates`, a lone surrogate in any string. `decoder`: a JSONDecoder to reuse instead
    of `kwargs` (json.loads builds a new one per call when given any), for a hot loop."""
    try:
        if decoder is not None and isinstance(text, str):
            if text.startswith("\ufeff"):  # as json.loads says it
                raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
            value = decoder.decode(text)
        else:
            value = json.loads(text, **kwargs)
    except RecursionError:
        raise Refused(f"nested deeper than {max_depth} levels.") from None
    if _plainly_fine(text, max_depth, surrogates):
        return value
    return check(value, max_depth=max_depth, surrogates=surrogates)


def raw_decode(decoder: json.JSONDecoder, text: str, index: int, *, max_depth: int = MAX_DEPTH,
               surrogates: bool = False):  # fmt: skip
    """`decoder.raw_decode(text, index)` with the same refusals as `loads`."""
    try:
        value, end = decoder.raw_decode(text, index)
    except RecursionError:
        raise Refused(f"nested deeper than {max_depth} levels.", text, index) from None
    why = problem(value, max_depth=max_depth, surrogates=surrogates)
    if why is not None:
        raise Refused(why, text, index)
    return value, end
