"""The output JSON Schema of the format-validity metric: the one place its rules live.

`parse(text)` reads a schema typed into a form (size cap, nesting cap, must be JSON); `problem(value)`
says what is wrong with a schema from anywhere (the form, the API, a script): too big, nested too
deep, not a JSON Schema per jsonschema's metaschema check (draft 2020-12, the draft `validator`
checks outputs with), or a reference that is not inside the schema itself or points to nothing in it
(jsonschema fetches nothing: such a reference would fail every check on the worker). Both
answer a sentence for the person who typed it, never an exception."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

MAX_CHARS = 20_000  # the schema as compact JSON; a format check needs a small schema, not a document
MAX_DEPTH = 32  # objects and arrays inside one another
REF_KEYS = ("$ref", "$dynamicRef")


def depth(value) -> int:
    """How deeply objects and arrays nest in `value` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:  # deep enough to refuse: stop walking
                return level
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children)
    return deepest


def parse(text: str):
    """(schema, "") for JSON text, None for blank text; (None, problem) when it cannot be used."""
    text = (text or "").strip()
    if not text:
        return None, ""
    if len(text) > MAX_CHARS * 4:  # indentation may pad the text: refuse only what cannot fit compact
        return None, f"Too big: at most {MAX_CHARS:,} characters of JSON."
    try:
        value = json.loads(text)
    except RecursionError:
        return None, f"Nested too deeply: at most {MAX_DEPTH} levels of objects and arrays."
    except ValueError as exc:
        return None, f"Not valid JSON: {exc}."
    refused = problem(value)
    return (None, refused) if refused else (value, "")


def problem(value) -> str:
    """What is wrong with `value` as the output JSON Schema, or "" (None, meaning no schema, is fine)."""
    if value is None:
        return ""
    if not isinstance(value, dict | bool):
        return "A JSON Schema is an object (or true / false)."
    if depth(value) > MAX_DEPTH:
        return f"Nested too deeply: at most {MAX_DEPTH} levels of objects and arrays."
    try:
        compact = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:  # NaN and Infinity are not JSON (PostgreSQL refuses them)
        return "Numbers must be finite: NaN and Infinity are not JSON."
    if len(compact) > MAX_CHARS:
        return f"Too big: at most {MAX_CHARS:,} characters of JSON."
    if any("\x00" in text for text in _strings(value)):  # PostgreSQL's jsonb refuses them
        return "Must not contain NUL characters (\\u0000)."
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return f"Not a valid JSON Schema{f' at {where}' if where else ''}: {exc.message}."
    refs = list(_refs(value))
    remote = next((ref for key, ref in refs if not ref.startswith("#")), None)
    if remote is not None:
        return f"Only references inside the schema (starting with #) are allowed, not {remote[:100]!r}."
    resolver = Registry().with_resource("", DRAFT202012.create_resource(value)).resolver()
    for key, ref in refs:
        try:
            if key == "$ref":
                resolver.lookup(ref)
        except Unresolvable:
            return f"The reference {ref[:100]!r} points to nothing in the schema."
    return ""


def validator(schema):
    """The validator the format-validity metric checks each output with."""
    return Draft202012Validator(schema)


def _refs(value):
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                if key in REF_KEYS and isinstance(child, str):
                    yield key, child
                else:
                    stack.append(child)
        elif isinstance(node, list):
            stack.extend(node)


def _strings(value):
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            yield from node.keys()
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
