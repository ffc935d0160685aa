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
import json
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .layouts import COLUMN_TYPES

Progress = Callable[[int], None] | None
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SPLIT_ORDER = ("train", "validation", "test")
SCHEMA_SAMPLE = 500


class _Counter:
    def __init__(self, on_progress: Progress, every: int):
        self.on_progress, self.every, self.rows = on_progress, max(1, every), 0

    def tick(self):
        self.rows += 1
        if self.on_progress is not None and self.rows % self.every == 0:
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


def write_jsonl(records: Iterable, out_dir, *, on_progress: Progress = None, progress_every: int = 10_000):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    handles, counts = {}, {}
    counter = _Counter(on_progress, progress_every)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    try:
        for split, record in records:
            fh = handles.get(split)
            if fh is None:
                path = out_dir / f"{_safe_split(split)}.jsonl"
                fh = handles[split] = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
                counts[split] = 0
            fh.write(dumps(record))
            fh.write("\n")
            counts[split] += 1
            counter.tick()
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


class _ParquetSplit:
    def __init__(self, path: Path, batch_size: int, type_hints):
        self.path, self.batch_size, self.type_hints = path, batch_size, type_hints
        self.buffer: list[dict] = []
        self.writer = None
        self.rows = 0

    def add(self, record: dict):
        self.buffer.append(record)
        if len(self.buffer) >= self.batch_size:
            self.flush()

    def flush(self):
        if not self.buffer:
            return
        if self.writer is None:
            schema = infer_schema(self.buffer, self.type_hints)
            self.writer = pq.ParquetWriter(self.path, schema, compression="zstd")
        try:
            batch = pa.RecordBatch.from_pylist(self.buffer, schema=self.writer.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValueError(
                f"{self.path.name}: rows {self.rows + 1}..{self.rows + len(self.buffer)} do not fit the "
                f"schema of the first batch ({exc})."
            ) from exc
        self.writer.write_batch(batch)
        self.rows += len(self.buffer)
        self.buffer = []

    def close(self):
        self.flush()
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
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits: dict[str, _ParquetSplit] = {}
    counter = _Counter(on_progress, progress_every)
    try:
        for split, record in records:
            target = splits.get(split)
            if target is None:
                target = splits[split] = _ParquetSplit(
                    out_dir / f"{_safe_split(split)}.parquet", batch_size, type_hints
                )
            target.add(record)
            counter.tick()
    finally:
        for target in splits.values():
            target.close()
    counter.done()
    return _ordered({s: {"path": str(t.path), "rows": t.rows} for s, t in splits.items()})


# --- CSV --------------------------------------------------------------------------------------------


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


def write_csv(records: Iterable, out_dir, *, on_progress: Progress = None, progress_every: int = 10_000):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    handles, writers, headers, counts = {}, {}, {}, {}
    counter = _Counter(on_progress, progress_every)
    try:
        for split, record in records:
            writer = writers.get(split)
            if writer is None:
                path = out_dir / f"{_safe_split(split)}.csv"
                handles[split] = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
                writer = writers[split] = csv.writer(handles[split])
                headers[split] = list(record)
                counts[split] = 0
                writer.writerow([neutralise(h) for h in headers[split]])
            if list(record) != headers[split]:
                raise ValueError(f"{split} row {counts[split] + 1}: columns differ from the header.")
            writer.writerow([csv_cell(v) for v in record.values()])
            counts[split] += 1
            counter.tick()
    finally:
        for fh in handles.values():
            fh.close()
    counter.done()
    return _ordered({s: {"path": str(out_dir / f"{s}.csv"), "rows": n} for s, n in counts.items()})


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


WRITERS = {"jsonl": write_jsonl, "parquet": write_parquet, "csv": write_csv, "hf": write_hf_dataset}
