"""Read an item file row by row, streaming: JSONL lines and CSV rows with their physical line numbers.
Pure Python: no Django.

Each reader takes an iterable of text lines (a str wrapped in `io.StringIO`, or a binary upload through
`text_lines`) and yields `(line, row, error)`: the 1-based physical line where the row starts, the row
(a dict) or None, and an error message or None. Only the current row's lines are held, so memory stays
flat however long the file. Lines split on "\\n" only: U+2028 and friends are legal inside JSON strings,
and a CSV's "\\r\\n" is left to the csv module.
"""

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator

from annotation.core import json_text


def text_lines(stream) -> io.TextIOWrapper:
    """A binary file's lines as text (UTF-8, a leading BOM dropped), split on "\\n" only. Iterating
    raises UnicodeDecodeError at the first bytes that are not UTF-8."""
    return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="\n")


def _reject_constant(name):
    # NaN and Infinity are not JSON; PostgreSQL's jsonb refuses them.
    raise json.JSONDecodeError(f"{name} is not allowed", name, 0)


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to infinity, which no database column stores
        raise json.JSONDecodeError(f"{text} is out of range", text, 0)
    return value


# One decoder for every row: json.loads with arguments builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def loads(text):
    """json.loads that refuses what no database column stores (NaN, Infinity, 1e999) and values nested
    deeper than json_text.MAX_DEPTH (lone surrogates are reported by `unencodable`, with the field)."""
    return json_text.loads(text, surrogates=True, decoder=_DECODER)


# A lone surrogate reaches a value only from a \\uD800-\\uDFFF escape or from text that already holds
# one (a str handed in through the API); a line with neither needs no walk through its values.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def unencodable(value) -> str | None:
    """The first string in `value` that is not valid Unicode text (a lone surrogate, which JSON's
    \\ud800 escapes allow and UTF-8 cannot store), shown escaped; None when all are fine."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return value[max(0, exc.start - 10) : exc.end + 10].encode("unicode_escape").decode()
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            found = unencodable(k) or unencodable(v)
            if found:
                return found
    if isinstance(value, list | tuple):
        for v in value:
            found = unencodable(v)
            if found:
                return found
    return None


def surrogate_error(row) -> str | None:
    bad = unencodable(row)
    return None if bad is None else f"Contains an unpaired surrogate, not text: ...{bad}..."


def _may_hold_surrogates(raw: str) -> bool:
    return bool(_SURROGATE_ESCAPE.search(raw)) or json_text.has_lone_surrogate(raw)


def jsonl_rows(lines: Iterable[str] | str) -> Iterator[tuple[int, dict | None, str | None]]:
    if isinstance(lines, str):
        lines = io.StringIO(lines)
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if "\x00" in raw or "\\u0000" in raw:
            yield number, None, "Contains a NUL character."
            continue
        try:
            row = loads(raw)
        except json.JSONDecodeError as exc:
            yield number, None, f"Invalid JSON: {exc.msg} at column {exc.colno}."
            continue
        if not isinstance(row, dict):
            yield number, None, "Each line must be a JSON object."
            continue
        if _may_hold_surrogates(raw):
            error = surrogate_error(row)
            if error:
                yield number, None, error
                continue
        yield number, row, None


class _Recent:
    """The lines handed to the csv module, keeping those of the row being read (a quoted field can span
    several); stops at the first line holding a NUL, which the csv module cannot read."""

    def __init__(self, lines):
        self.lines = iter(lines)
        self.number = 0
        self.held: dict[int, str] = {}
        self.nul_at: int | None = None

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.nul_at is not None:
            raise StopIteration
        line = next(self.lines)
        self.number += 1
        if "\x00" in line:
            self.nul_at = self.number
            raise StopIteration
        self.held[self.number] = line
        return line

    def forget_through(self, number: int) -> None:
        for n in [n for n in self.held if n <= number]:
            del self.held[n]


def csv_rows(lines: Iterable[str] | str) -> Iterator[tuple[int, dict | None, str | None]]:
    if isinstance(lines, str):
        lines = io.StringIO(lines)
    recent = _Recent(lines)
    reader = csv.DictReader(recent)
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        yield reader.line_num or 1, None, f"Malformed CSV: {exc}."
        return
    if recent.nul_at is not None:
        yield recent.nul_at, None, "Contains a NUL character."
        return
    if not fieldnames:
        yield 1, None, "The CSV has no header row."
        return
    end = reader.line_num  # the header's last physical line
    recent.forget_through(end)
    try:
        for row in reader:
            if recent.nul_at is not None:  # the row was cut short by the NUL
                break
            # A row spans physical lines end+1 .. reader.line_num (quoted newlines); report the first
            # non-blank one, where the row starts.
            start, end = end + 1, reader.line_num
            while start < end and not recent.held.get(start, "").strip():
                start += 1
            recent.forget_through(end)
            if None in row:
                yield (
                    start,
                    None,
                    f"Has {len(fieldnames) + len(row[None])} columns; the header has {len(fieldnames)}.",
                )
                continue
            if not any((v or "").strip() for v in row.values()):
                continue
            yield start, row, None
    except csv.Error as exc:
        yield reader.line_num, None, f"Malformed CSV: {exc}."
        return
    if recent.nul_at is not None:
        yield recent.nul_at, None, "Contains a NUL character."
