"""The API's JSON parser (settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]).

Its own module, importing only DRF's parsers and exceptions: DRF reads the parser setting when
`rest_framework.views` is first imported, so a module that imports views (as `annotation.core.api`
does) cannot also hold the class the setting names without a circular import.
"""

from rest_framework import exceptions, parsers

MAX_JSON_DEPTH = 100  # objects and arrays inside one another in a request body


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (settings.REST_FRAMEWORK), refusing with a 400 a body nested deeper than
    MAX_JSON_DEPTH: Python's json (and anything walking the value later) would raise RecursionError
    on one nested a few thousand levels deep, a 500 for bad input."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
        else:
            problem = _body_problem(data, MAX_JSON_DEPTH)
            if problem is None:
                return data
            raise exceptions.ParseError(f"JSON parse error - {problem}")
        raise exceptions.ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _body_problem(value, limit: int) -> str | None:
    """Why a parsed body is refused, or None: nested deeper than `limit`, or a string (key or value)
    holding a lone surrogate ("\\ud800" is valid JSON but not Unicode text: no database stores it and
    echoing it back in an error message would break the response's UTF-8)."""
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, str):
            if has_lone_surrogate(node):
                return "a string holds a lone surrogate (an unpaired \\ud800-\\udfff escape); send valid Unicode."
        elif isinstance(node, dict | list):
            if level > limit:
                return f"nested deeper than {limit} levels."
            if isinstance(node, dict):
                stack.extend((key, level) for key in node)
                stack.extend((child, level + 1) for child in node.values())
            else:
                stack.extend((child, level + 1) for child in node)
    return None
