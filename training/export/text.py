"""JSONL and CSV text, a batch of records at a time, without pyarrow (the web process streams small
exports with these). No Django.

- `batches(records, size)`: `(split, record)` pairs -> `(split, [record, ...])`.
- `json_line_encoder()`: compact UTF-8 JSON, the standard library's C encoder built once.
- `jsonl_chunks(records)` / `csv_chunks(records)`: the text of one file (records of one split), a
  chunk per batch, for a streamed response or a file.
- CSV cells a spreadsheet would run as a formula (starting with = + - @, tab or CR) get a leading "'";
  nested values are JSON text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from json.encoder import c_encode_basestring, c_make_encoder

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 1000


def batches(records: Iterable, size: int) -> Iterator[tuple[str, list]]:
    """`(split, record)` pairs -> `(split, [record, ...])`: a split's records in order, `size` at a time
    (one buffer per split, so interleaved splits still make full batches); the rest at the end."""
    size = max(1, size)
    buffers: dict[str, list] = {}
    for split, record in records:
        buffer = buffers.get(split)
        if buffer is None:
            buffer = buffers[split] = []
        buffer.append(record)
        if len(buffer) >= size:
            yield split, buffer
            buffers[split] = []
    for split, buffer in buffers.items():
        if buffer:
            yield split, buffer


def _not_json(value):
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_line_encoder() -> Callable[[object], str]:
    """What `json.dumps(value, ensure_ascii=False, separators=(",", ":"))` returns, through the C
    encoder built once: no per-call set-up and no circular-reference check (records are trees)."""
    if c_make_encoder is None or c_encode_basestring is None:  # a Python without the _json accelerator
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    encode = c_make_encoder(None, _not_json, c_encode_basestring, None, ":", ",", False, False, True)
    join = "".join
    return lambda value: join(encode(value, 0))


def jsonl_batch(batch: list[dict], dumps: Callable[[object], str]) -> str:
    """A batch of records as JSON lines, each ending in a newline."""
    return "\n".join([dumps(record) for record in batch]) + "\n"


def jsonl_chunks(records: Iterable, *, batch_size: int = CHUNK_ROWS) -> Iterator[str]:
    """The JSON lines of `(split, record)` pairs (one file: the split is not written), a chunk a batch."""
    dumps = json_line_encoder()
    for _, batch in batches(records, batch_size):
        yield jsonl_batch(batch, dumps)


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    return neutralise(str(value))


class CsvRows:
    """The header (from the first record) and the rows of one CSV file, a batch at a time; a record
    whose columns differ from the header raises ValueError naming it."""

    def __init__(self, label: str = "csv"):
        self.label, self.header, self.rows = label, None, 0

    def header_row(self, first: dict) -> list[str]:
        self.header = list(first)
        return [neutralise(h) for h in self.header]

    def rows_of(self, batch: list[dict]) -> list[list[str]]:
        header, out = self.header, []
        for n, record in enumerate(batch, start=self.rows + 1):
            if list(record) != header:
                raise ValueError(f"{self.label} row {n}: columns differ from the header.")
            out.append([csv_cell(v) for v in record.values()])
        self.rows += len(batch)
        return out


def csv_chunks(records: Iterable, *, batch_size: int = CHUNK_ROWS) -> Iterator[str]:
    """The CSV text of `(split, record)` pairs (one file: the split is not written), a chunk a batch."""
    rows = CsvRows()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for _, batch in batches(records, batch_size):
        if rows.header is None:
            writer.writerow(rows.header_row(batch[0]))
        writer.writerows(rows.rows_of(batch))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
