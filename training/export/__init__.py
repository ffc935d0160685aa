"""Export snapshots as files trainers read as-is, and diff snapshots. No Django: rows in, files out.

    from training.export import Pseudonymizer, export_rows
    export_rows(rows, "out/7", layout="trl-preference", fmt="parquet", provenance=True,
                pseudonym=Pseudonymizer(secret, project_id), meta={...}, on_progress=print)

The shape follows doccano's data_export pipeline, streamed: `layouts` (what a row looks like, one
generator per layout), `writers` (where rows go, one file per split), `card` (README.md), plus
`pseudonyms` and `diff`.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

from .card import dataset_card
from .diff import SnapshotDiff, diff_snapshots
from .layouts import LAYOUTS, LayoutError, convert
from .pseudonyms import Pseudonymizer, pseudonym
from .text import csv_chunks, jsonl_chunks, neutralise

FORMATS = ("jsonl", "parquet", "csv", "hf")  # the keys of writers.WRITERS
_WRITER_NAMES = {"WRITERS", "push_to_hub", "write_csv", "write_hf_dataset", "write_jsonl", "write_parquet"}


def __getattr__(name):
    """The writers load pyarrow: imported on first use, so the web process starts without it."""
    if name in _WRITER_NAMES:
        # deferred: heavy optional dependency (pyarrow), the web process imports training.export
        from . import writers

        return getattr(writers, name)
    raise AttributeError(name)


__all__ = [
    "FORMATS",
    "LAYOUTS",
    "LayoutError",
    "Pseudonymizer",
    "SnapshotDiff",
    "convert",
    "csv_chunks",
    "dataset_card",
    "diff_snapshots",
    "export_rows",
    "jsonl_chunks",
    "neutralise",
    "pseudonym",
    "push_to_hub",
    "write_csv",
    "write_hf_dataset",
    "write_jsonl",
    "write_parquet",
]


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector (reference counting still frees), as it was afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def export_rows(
    rows: Iterable[dict],
    out_dir,
    *,
    layout: str,
    fmt: str,
    provenance: bool = False,
    pseudonym: Callable[[str], str] | None = None,
    scores: bool = True,
    meta: dict | Callable[[], dict] | None = None,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int = 10_000,
) -> dict:
    """Write `rows` (snapshot rows, streamed) in `layout` and `fmt` plus README.md into `out_dir`
    (created; must not exist or be empty). All or nothing: files appear only when every row converted.
    `meta` (the card's facts) may be a function, called once the rows are written. The cyclic garbage
    collector is paused meanwhile: records are trees that reference counting frees, and a collection
    every few thousand allocations would rescan every batch in flight. Returns {"files": {split: {"path", "rows"}}, "card": path}."""
    # deferred: heavy optional dependency (pyarrow)
    from .writers import WRITERS

    if fmt not in WRITERS:
        raise ValueError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if layout not in LAYOUTS:
        raise LayoutError(f"Unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}.")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty.")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        records = convert(layout, rows, provenance=provenance, pseudonym=pseudonym, scores=scores)
        with gc_paused():
            files = WRITERS[fmt](records, work, on_progress=on_progress, batch_size=batch_size)
        card_meta = {
            **((meta() if callable(meta) else meta) or {}),
            "layout": layout,
            "format": fmt,
            "provenance": provenance,
            "splits": {s: info["rows"] for s, info in files.items()},
        }
        if fmt != "hf":
            card_meta["files"] = {s: Path(info["path"]).name for s, info in files.items()}
        (work / "README.md").write_text(dataset_card(card_meta), encoding="utf-8")
        if out_dir.exists():
            out_dir.rmdir()
        work.rename(out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    files = {
        s: {"path": str(out_dir / Path(info["path"]).relative_to(work)), "rows": info["rows"]}
        for s, info in files.items()
    }
    return {"files": files, "card": str(out_dir / "README.md")}
