"""Export throughput and peak memory: training.export's streaming writers against a naive baseline.

    .venv/bin/python benchmarks/export.py [--rows 1000000] [--batch-size 10000] [--only ours-jsonl,...]

The rows are synthetic preference rows shaped like snapshot rows ({"split", "position", "data",
"provenance"}), made by an in-process generator (the PostgreSQL-backed version comes with the Django
integration). Each variant runs in its own subprocess so its peak RSS (ru_maxrss from wait4) is its own:
  ours-jsonl     export_rows(layout="trl-preference", fmt="jsonl"): convert and write row by row
  ours-parquet   export_rows(..., fmt="parquet"): record batches of --batch-size through ParquetWriter
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
        written = len(materialised)
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in out.iterdir())
    return {"variant": name, "rows": written, "seconds": seconds, "bytes": size}


def measure(name: str, rows: int, batch_size: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
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
        result["peak_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
        return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--only", default=",".join(VARIANTS))
    ap.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_variant(args.child, args.rows, Path(args.out), args.batch_size)))
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
