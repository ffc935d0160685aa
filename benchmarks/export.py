"""Export throughput and peak memory: training.export's streaming writers against a naive baseline.

    .venv/bin/python benchmarks/export.py [--rows 1000000] [--batch-size 10000] [--only ours-jsonl,...]
    DATABASE_URL=postgres://... .venv/bin/python benchmarks/export.py --pairs 1000000

With --pairs N (PostgreSQL, DATABASE_URL): N preference pairs are written as the rows of one ready DPO
snapshot (bulk COPY-sized inserts, then dropped), and exported the way the app does it:
  pg-ours-jsonl / pg-ours-parquet   training.exports.write: rows streamed from a server-side cursor
                                    (QuerySet.iterator, JSON columns as text decoded in batches)
                                    through export_rows, dataset card facts gathered on the way
  pg-naive-jsonl / pg-naive-parquet a DRF ModelSerializer over the queryset into a list (`.data`),
                                    then converted and written as above

The rows are synthetic preference rows shaped like snapshot rows ({"split", "position", "data",
"provenance"}), made by an in-process generator (the PostgreSQL-backed version comes with the Django
integration). Each variant runs in its own subprocess so its peak RSS (ru_maxrss from wait4) is its own:
  ours-jsonl     export_rows(layout="trl-preference", fmt="jsonl"): convert, then encode and write a
                 batch of lines at a time (the C JSON encoder built once)
  ours-parquet   export_rows(..., fmt="parquet"): record batches of --batch-size built column by column
                 (message lists from flat child arrays) through ParquetWriter
  naive-jsonl    the same converted rows materialised in a list, then json.dump line by line
  naive-parquet  the same list, then pyarrow Table.from_pylist and one write_table
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/queue.py would shadow the standard library's queue (pyarrow imports it): drop this folder
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

VARIANTS = ("ours-jsonl", "ours-parquet", "naive-jsonl", "naive-parquet")
PG_VARIANTS = ("pg-ours-jsonl", "pg-ours-parquet", "pg-naive-jsonl", "pg-naive-parquet")


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def seed_snapshot(pairs: int) -> int:
    """A ready DPO snapshot holding `pairs` rows in PostgreSQL; returns its id."""
    _django()
    from annotation.models import Project
    from training.models import DatasetSnapshot, SnapshotRow

    project = Project.objects.create(name="export benchmark")
    snapshot = DatasetSnapshot.objects.create(
        project=project, kind="dpo", name="bench", content_hash="bench", state="ready"
    )
    batch, train, val = [], 0, 0
    for row in synthetic_rows(pairs):
        train, val = train + (row["split"] == "train"), val + (row["split"] != "train")
        batch.append(SnapshotRow(snapshot=snapshot, split=row["split"], position=row["position"],
                                 data=row["data"], provenance=row["provenance"]))  # fmt: skip
        if len(batch) == 5000:
            SnapshotRow.objects.bulk_create(batch)
            batch = []
    SnapshotRow.objects.bulk_create(batch)
    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(train_count=train, val_count=val)
    return snapshot.pk


def drop_snapshot(snapshot_id: int) -> None:
    from training.models import DatasetSnapshot

    DatasetSnapshot.objects.get(pk=snapshot_id).project.delete()


def run_pg_variant(name: str, snapshot_id: int, out: Path) -> dict:
    _django()
    from rest_framework import serializers

    from training import exports
    from training.models import DatasetSnapshot, SnapshotRow

    snapshot = DatasetSnapshot.objects.select_related("project").get(pk=snapshot_id)
    fmt = name.rsplit("-", 1)[1]
    start = time.perf_counter()
    if name.startswith("pg-ours-"):
        result = exports.write(snapshot, out, layout="trl-preference", fmt=fmt, provenance=True)
        written = sum(f["rows"] for f in result["files"].values())
    else:

        class RowSerializer(serializers.ModelSerializer):
            class Meta:
                model = SnapshotRow
                fields = ["split", "position", "data", "provenance"]

        rows = RowSerializer(SnapshotRow.objects.filter(snapshot=snapshot).order_by("split", "position"),
                             many=True).data  # fmt: skip
        from training.export import convert

        materialised = list(
            convert(
                "trl-preference", rows, provenance=True, pseudonym=exports.pseudonymizer(snapshot.project)
            )
        )
        written = _write_naive(name.removeprefix("pg-"), materialised, out)
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in out.iterdir())
    return {"variant": name, "rows": written, "seconds": seconds, "bytes": size}


def _write_naive(name: str, materialised: list, out: Path) -> int:
    out.mkdir(parents=True)
    splits = {}
    for split, record in materialised:
        splits.setdefault(split, []).append(record)
    if name == "naive-jsonl":
        for split, records in splits.items():
            with open(out / f"{split}.jsonl", "w", encoding="utf-8") as fh:
                for record in records:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        for split, records in splits.items():
            pq.write_table(pa.Table.from_pylist(records), out / f"{split}.parquet", compression="zstd")
    return len(materialised)


def synthetic_rows(n: int):
    """Snapshot-shaped preference rows; ~5% validation; a few annotators; no two rows alike."""
    for i in range(n):
        yield {
            "split": "validation" if i % 20 == 0 else "train",
            "position": i,
            "data": {
                "messages": [
                    {"role": "system", "content": "You are a helpful assistant."},
                    {
                        "role": "user",
                        "content": f"Question {i}: how do I make item {i % 977} work with the rest?",
                    },
                ],
                "chosen": f"Here is a careful answer to question {i}, with steps and an example. " * 2,
                "rejected": f"I am not sure about {i}.",
            },
            "provenance": {
                "source": "preferences",
                "item_id": i,
                "pair_id": i,
                "criterion": "",
                "confidence": 0.5 + (i % 50) / 100,
                "margin": float(i % 7) - 3,
                "response_ids": [2 * i, 2 * i + 1],
                "judgment_ids": [3 * i, 3 * i + 1, 3 * i + 2],
                "annotators": [f"user{i % 13}", f"user{(i + 5) % 13}"],
                "adjudication_ids": [],
                "chosen_edited": False,
            },
        }


def run_variant(name: str, rows: int, out: Path, batch_size: int) -> dict:
    from training.export import Pseudonymizer, convert, export_rows

    pseudo = Pseudonymizer("bench-secret", 1)
    start = time.perf_counter()
    if name.startswith("ours-"):
        result = export_rows(
            synthetic_rows(rows),
            out,
            layout="trl-preference",
            fmt=name.removeprefix("ours-"),
            provenance=True,
            pseudonym=pseudo,
            batch_size=batch_size,
        )
        written = sum(f["rows"] for f in result["files"].values())
    else:
        materialised = list(
            convert("trl-preference", synthetic_rows(rows), provenance=True, pseudonym=pseudo)
        )
        written = _write_naive(name, materialised, out)
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in out.iterdir())
    return {"variant": name, "rows": written, "seconds": seconds, "bytes": size}


def _hwm_mb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            line = next(line for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) / 1024


def measure(name: str, rows: int, batch_size: int, snapshot_id: int | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        extra = ["--snapshot-id", str(snapshot_id)] if snapshot_id else []
        proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                name,
                "--rows",
                str(rows),
                "--batch-size",
                str(batch_size),
                "--out",
                str(Path(tmp) / "out"),
                *extra,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        stdout = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed with exit code {proc.returncode}")
        result = json.loads(stdout.strip().splitlines()[-1])
        # The child's own high-water mark (VmHWM, reset at exec). ru_maxrss from wait4 also counts the
        # forked copy of this process before exec, so after seeding a million rows here it reported
        # this process's size, not the child's.
        result["peak_mb"] = result.get("hwm_mb") or usage.ru_maxrss / 1024  # KiB on Linux
        return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--only", default=",".join(VARIANTS), help="variants (pg-* ones with --pairs)")
    ap.add_argument(
        "--pairs", type=int, default=0, help="PostgreSQL: export N pairs stored as snapshot rows."
    )
    ap.add_argument("--child", choices=VARIANTS + PG_VARIANTS, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--snapshot-id", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child in PG_VARIANTS:
        print(
            json.dumps({**run_pg_variant(args.child, args.snapshot_id, Path(args.out)), "hwm_mb": _hwm_mb()})
        )
        return
    if args.child:
        print(
            json.dumps(
                {**run_variant(args.child, args.rows, Path(args.out), args.batch_size), "hwm_mb": _hwm_mb()}
            )
        )
        return
    if args.pairs:
        if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
            raise SystemExit("--pairs needs DATABASE_URL=postgres://...")
        started = time.perf_counter()
        snapshot_id = seed_snapshot(args.pairs)
        print(
            f"{args.pairs:,} pairs written to PostgreSQL as snapshot rows in {time.perf_counter() - started:.0f} s"
        )
        print(f"{'variant':<17} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'peak RSS':>10} {'output':>9}")
        try:
            only = [v for v in args.only.split(",") if v in PG_VARIANTS] or PG_VARIANTS
            for name in only:
                r = measure(name, args.pairs, args.batch_size, snapshot_id)
                print(
                    f"{r['variant']:<17} {r['rows']:>10,} {r['seconds']:>8.1f} {r['rows'] / r['seconds']:>10,.0f} "
                    f"{r['peak_mb']:>8.0f}MB {r['bytes'] / 2**20:>7.0f}MB",
                    flush=True,
                )
        finally:
            drop_snapshot(snapshot_id)
        return
    print(
        f"{args.rows:,} preference rows (trl-preference layout, provenance columns, pseudonyms), "
        f"Parquet batches of {args.batch_size:,}; one subprocess per variant\n"
    )
    print(f"{'variant':<14} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'peak RSS':>10} {'output':>9}")
    for name in args.only.split(","):
        r = measure(name, args.rows, args.batch_size)
        print(
            f"{r['variant']:<14} {r['rows']:>10,} {r['seconds']:>8.1f} {r['rows'] / r['seconds']:>10,.0f} "
            f"{r['peak_mb']:>8.0f}MB {r['bytes'] / 2**20:>7.0f}MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
