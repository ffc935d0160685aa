"""Streaming writers: `(split, record)` pairs in, one file per split out. No Django.

Every writer takes an iterable of `(split, record)` (what `layouts.convert` yields), an output folder
and `on_progress(rows_written)`, called every `progress_every` rows and once at the end; it holds at
most one batch per split in memory and returns `{split: {"path", "rows"}}`.

- JSONL: `<split>.jsonl`, one JSON object a line, UTF-8.
- Parquet: `<split>.parquet` through `pyarrow.parquet.ParquetWriter`, `batch_size` rows per record
  batch; the schema is inferred from the split's first rows (message lists become
  list<struct<role, content>>), and a column that is all null there takes its type from `type_hints`.
- CSV: `<split>.csv`, header from the split's first record; nested values as JSON text; every cell that
  a spreadsheet would run as a formula (starting with = + - @, tab or CR) gets a leading "'".
- Hugging Face `datasets` folder: Parquet shards, then `load_dataset("parquet")` (memory-mapped Arrow)
  and `DatasetDict.save_to_disk`, so memory stays flat.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterable
from itertools import accumulate
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .layouts import COLUMN_TYPES
from .text import CsvRows, batches, csv_cell, json_line_encoder, jsonl_batch, neutralise

Progress = Callable[[int], None] | None
SPLIT_ORDER = ("train", "validation", "test")
SCHEMA_SAMPLE = 500


class _Counter:
    """Reports progress at batch boundaries: once each time the row count passes a multiple of `every`,
    and once at the end."""

    def __init__(self, on_progress: Progress, every: int):
        self.on_progress, self.every, self.rows = on_progress, max(1, every), 0

    def add(self, n: int):
        before = self.rows // self.every
        self.rows += n
        if self.on_progress is not None and self.rows // self.every != before:
            self.on_progress(self.rows)

    def done(self):
        if self.on_progress is not None and self.rows % self.every != 0:
            self.on_progress(self.rows)


def _safe_split(split: str) -> str:
    if not split or not split.replace("_", "").isalnum():
        raise ValueError(f"Bad split name {split!r}.")
    return split


def _ordered(files: dict) -> dict:
    return dict(sorted(files.items(), key=lambda kv: (SPLIT_ORDER + (kv[0],)).index(kv[0])))


# --- JSONL ------------------------------------------------------------------------------------------


def write_jsonl(
    records: Iterable,
    out_dir,
    *,
    on_progress: Progress = None,
    progress_every: int = 10_000,
    batch_size: int = 10_000,
):
    """One line per record; records are encoded and written a batch at a time."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    handles, counts = {}, {}
    counter = _Counter(on_progress, progress_every)
    dumps = json_line_encoder()
    try:
        for split, batch in batches(records, min(batch_size, progress_every)):
            fh = handles.get(split)
            if fh is None:
                path = out_dir / f"{_safe_split(split)}.jsonl"
                fh = handles[split] = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
                counts[split] = 0
            fh.write(jsonl_batch(batch, dumps))
            counts[split] += len(batch)
            counter.add(len(batch))
    finally:
        for fh in handles.values():
            fh.close()
    counter.done()
    return _ordered({s: {"path": str(out_dir / f"{s}.jsonl"), "rows": n} for s, n in counts.items()})


# --- Parquet ----------------------------------------------------------------------------------------


def arrow_type(name: str) -> pa.DataType:
    """'int64', 'float64', 'string', 'bool', 'list<int64>' ... -> the pyarrow type."""
    if name.startswith("list<") and name.endswith(">"):
        return pa.list_(arrow_type(name[5:-1]))
    return {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string(), "bool": pa.bool_()}[name]


def _has_null(t: pa.DataType) -> bool:
    return pa.types.is_null(t) or (pa.types.is_list(t) and _has_null(t.value_type))


def infer_schema(batch: list[dict], type_hints: dict[str, str] | None = None) -> pa.Schema:
    """The schema of the first batch's first SCHEMA_SAMPLE rows (inferring over a whole batch costs more
    than writing it); columns typed null there (all None, or all empty lists) take `type_hints[name]`,
    else string."""
    hints = {**COLUMN_TYPES, **(type_hints or {})}
    schema = pa.Table.from_pylist(batch[:SCHEMA_SAMPLE]).schema
    fields = []
    for f in schema:
        if _has_null(f.type):
            hinted = hints.get(f.name)
            if hinted:
                f = pa.field(f.name, arrow_type(hinted))
            else:
                f = pa.field(f.name, pa.list_(pa.string()) if pa.types.is_list(f.type) else pa.string())
        fields.append(f)
    return pa.schema(fields)


def _nested(t: pa.DataType) -> bool:
    return pa.types.is_struct(t) or pa.types.is_list(t)


def arrow_column(values: list, t: pa.DataType) -> pa.Array:
    """One column of a batch as an Arrow array of type `t`. Lists of structs or lists (message lists)
    are built from flat child columns and offsets, several times faster than converting each row's
    dicts; flat columns go straight to `pa.array`. Raises what `pa.array` raises, or AttributeError
    or TypeError for a value of the wrong shape."""
    if pa.types.is_list(t) and _nested(t.value_type):
        mask = pa.array([v is None for v in values]) if None in values else None
        present = values if mask is None else [v or () for v in values]
        offsets = [0, *accumulate([len(v) for v in present])]
        flat = [item for v in present for item in v]
        child = arrow_column(flat, t.value_type)
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), child, type=t, mask=mask)
    if pa.types.is_struct(t):
        mask = pa.array([v is None for v in values]) if None in values else None
        present = values if mask is None else [v or {} for v in values]
        children = [arrow_column([v.get(f.name) for v in present], f.type) for f in t]
        return pa.StructArray.from_arrays(children, fields=list(t), mask=mask)
    return pa.array(values, type=t)


def record_batch(records: list[dict], schema: pa.Schema) -> pa.RecordBatch:
    """`records` (dicts; a missing key is null, an extra key is ignored) as a record batch of
    `schema`, built column by column."""
    return pa.RecordBatch.from_arrays(
        [arrow_column([r.get(f.name) for r in records], f.type) for f in schema], schema=schema
    )


class _ParquetSplit:
    def __init__(self, path: Path, type_hints):
        self.path, self.type_hints = path, type_hints
        self.writer = None
        self.rows = 0

    def write(self, records: list[dict]):
        if not records:
            return
        if self.writer is None:
            schema = infer_schema(records, self.type_hints)
            self.writer = pq.ParquetWriter(self.path, schema, compression="zstd")
        try:
            batch = record_batch(records, self.writer.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, AttributeError, TypeError) as exc:
            raise ValueError(
                f"{self.path.name}: rows {self.rows + 1}..{self.rows + len(records)} do not fit the "
                f"schema of the first batch ({exc})."
            ) from exc
        self.writer.write_batch(batch)
        self.rows += len(records)

    def close(self):
        if self.writer is not None:
            self.writer.close()


def write_parquet(
    records: Iterable,
    out_dir,
    *,
    batch_size: int = 10_000,
    type_hints: dict[str, str] | None = None,
    on_progress: Progress = None,
    progress_every: int = 10_000,
):
    """One record batch (and row group) per `batch_size` records of a split."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits: dict[str, _ParquetSplit] = {}
    counter = _Counter(on_progress, progress_every)
    try:
        for split, batch in batches(records, batch_size):
            target = splits.get(split)
            if target is None:
                target = splits[split] = _ParquetSplit(out_dir / f"{_safe_split(split)}.parquet", type_hints)
            target.write(batch)
            counter.add(len(batch))
    finally:
        for target in splits.values():
            target.close()
    counter.done()
    return _ordered({s: {"path": str(t.path), "rows": t.rows} for s, t in splits.items()})


# --- CSV --------------------------------------------------------------------------------------------


def write_csv(
    records: Iterable,
    out_dir,
    *,
    on_progress: Progress = None,
    progress_every: int = 10_000,
    batch_size: int = 10_000,
):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    handles, writers, rows = {}, {}, {}
    counter = _Counter(on_progress, progress_every)
    try:
        for split, batch in batches(records, min(batch_size, progress_every)):
            writer = writers.get(split)
            if writer is None:
                path = out_dir / f"{_safe_split(split)}.csv"
                handles[split] = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
                writer = writers[split] = csv.writer(handles[split])
                rows[split] = CsvRows(split)
                writer.writerow(rows[split].header_row(batch[0]))
            writer.writerows(rows[split].rows_of(batch))
            counter.add(len(batch))
    finally:
        for fh in handles.values():
            fh.close()
    counter.done()
    return _ordered({s: {"path": str(out_dir / f"{s}.csv"), "rows": r.rows} for s, r in rows.items()})


# --- Hugging Face datasets ----------------------------------------------------------------------------


def write_hf_dataset(
    records: Iterable,
    out_dir,
    *,
    batch_size: int = 10_000,
    type_hints: dict[str, str] | None = None,
    on_progress: Progress = None,
    progress_every: int = 10_000,
):
    """A `DatasetDict.save_to_disk` folder with one split per split seen; returns the split counts."""
    # deferred: heavy optional dependency (datasets)
    from datasets import DatasetDict, load_dataset

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="export-", dir=out_dir.parent) as tmp:
        shards = write_parquet(
            records,
            Path(tmp) / "shards",
            batch_size=batch_size,
            type_hints=type_hints,
            on_progress=on_progress,
            progress_every=progress_every,
        )
        if not shards:
            raise ValueError("No rows to write.")
        loaded = load_dataset(
            "parquet",
            data_files={s: info["path"] for s, info in shards.items()},
            cache_dir=str(Path(tmp) / "cache"),
        )
        DatasetDict({s: loaded[s] for s in shards}).save_to_disk(str(out_dir))
        del loaded
    return {s: {"path": str(out_dir / s), "rows": info["rows"]} for s, info in shards.items()}


def push_to_hub(
    folder_or_dataset, repo_id: str, token: str, *, private: bool = True, card: str | None = None
):
    """Push a saved folder (or a DatasetDict) with `datasets`' own `push_to_hub`; `card`, when given,
    is uploaded as the repository's README.md afterwards. Returns what push_to_hub returns."""
    # deferred: heavy optional dependency (datasets)
    from datasets import DatasetDict, load_from_disk

    if not repo_id or "/" not in repo_id:
        raise ValueError("repo_id must be 'owner/name'.")
    if not token:
        raise ValueError("A Hub token is required.")
    dataset = folder_or_dataset
    if isinstance(folder_or_dataset, str | Path):
        dataset = load_from_disk(str(folder_or_dataset))
    if not isinstance(dataset, DatasetDict):
        raise ValueError("Expected a DatasetDict or a folder written by write_hf_dataset.")
    result = dataset.push_to_hub(repo_id, token=token, private=private)
    if card is not None:
        # deferred: heavy optional dependency (huggingface_hub, installed with datasets)
        from huggingface_hub import HfApi

        HfApi(token=token).upload_file(
            path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo_id, repo_type="dataset"
        )
    return result


__all__ = ["WRITERS", "arrow_column", "csv_cell", "infer_schema", "neutralise", "push_to_hub", "record_batch",
           "write_csv", "write_hf_dataset", "write_jsonl", "write_parquet"]  # fmt: skip

WRITERS = {"jsonl": write_jsonl, "parquet": write_parquet, "csv": write_csv, "hf": write_hf_dataset}
