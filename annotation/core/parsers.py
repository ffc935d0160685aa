"""The API's JSON parser (settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]).

Its own module, importing only DRF's parsers and exceptions and the pure `json_text` (whose checks
it applies): DRF reads the parser setting when `rest_framework.views` is first imported, so a module
that imports views (as `annotation.core.api` does) cannot also hold the class the setting names
without a circular import.
"""

from rest_framework import exceptions, parsers

from annotation.core.json_text import MAX_DEPTH as MAX_JSON_DEPTH  # objects and arrays in a request body
from annotation.core.json_text import has_lone_surrogate, problem

__all__ = ["JSONParser", "MAX_JSON_DEPTH", "has_lone_surrogate"]


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
            problem_found = problem(data, max_depth=MAX_JSON_DEPTH)
            if problem_found is None:
                return data
            raise exceptions.ParseError(f"JSON parse error - {problem_found}")
        raise exceptions.ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
