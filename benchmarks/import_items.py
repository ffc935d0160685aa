"""Import benchmark: the streaming COPY import (`annotation.importing.bulk.import_file`) against the
previous path (`parse_items` over the whole file, then `services.import_items`: two `bulk_create`
passes), on PostgreSQL, same files, same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_import .venv/bin/python benchmarks/import_items.py \
        [--sizes 100000,1000000] [--old-max 100000] [--keep-files] [--label-studio PATH [--ls-max 100000]]

Each measurement runs in a fresh child process (so its peak RSS is its own) that imports one JSONL
file of SFT items into a new, empty project and prints its time and peak memory. The files are
generated once per size (prompt, system prompt on a third of the rows, response, model, metadata; 1%
of the lines repeat an earlier one, so dedupe is exercised). The old path runs only up to --old-max
items (it holds every record in memory). The database is created if missing and dropped at the end
if this run created it.
"""

# ruff: noqa: E402 - sys.path is fixed before the other imports
import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and benchmarks/queue.py would shadow the
# standard library's queue module (psycopg imports it). Drop it; put the repository first.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse
import json
import os
import random
import resource
import subprocess
import tempfile
import time

WORDS = (
    "model answer prompt data training review label score helpful safe concise careful explain "
    "example python function list result value error change reason because first then finally"
).split()


def make_file(path: Path, n: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    written = []
    with open(path, "w") as out:
        for i in range(n):
            if i and i % 100 == 0:
                line = written[rng.randrange(len(written))]
            else:
                row = {
                    "prompt": f"Question {i}: " + " ".join(rng.choices(WORDS, k=rng.randint(8, 30))) + "?",
                    "response": " ".join(rng.choices(WORDS, k=rng.randint(30, 90))) + ".",
                    "model": rng.choice(["base-7b", "sft-v3", "dpo-v1"]),
                    "id": f"ext-{i}",
                    "metadata": {"source": "bench", "n": i},
                }
                if i % 3 == 0:
                    row["system"] = "Be concise."
                line = json.dumps(row)
                if len(written) < 1000:
                    written.append(line)
            out.write(line + "\n")
    return path.stat().st_size


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(backend_pid: int) -> float:
    """CPU time of this process plus its PostgreSQL backend (same machine): a figure that other load on
    the machine does not inflate, unlike the wall-clock time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    fields = Path(f"/proc/{backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return usage.ru_utime + usage.ru_stime + (int(fields[11]) + int(fields[12])) / ticks


def child(path_name: str, file: str) -> None:
    """One import in this process; prints a JSON line with the figures."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DJANGO_DEBUG"] = "0"  # no query log growing with the import
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from annotation.importing import bulk, services
    from annotation.importing.parse import parse_items
    from annotation.projects import services as project_services
    from annotation.quality import search_index, tasks

    tasks.queue_index = lambda project_id: None  # the search rows are written (and timed) below, apart

    user = get_user_model().objects.create_user(f"bench-{time.time_ns()}")
    project = project_services.create_project(name=f"import bench {path_name}", created_by=user, overlap=1)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    before = peak_mib()
    marks = {}
    cpu = cpu_seconds(backend)
    start = time.perf_counter()
    if path_name == "old":
        parsed = parse_items(Path(file).read_bytes(), fmt="jsonl")
        assert parsed.ok, parsed.errors[:3]
        result = services.import_items(project=project, actor=user, records=parsed.records, source="bench")
    else:

        def progress(stage, lines, fraction):  # the read (stream, validate, COPY) ends at "inserting"
            if stage == "inserting":
                marks.setdefault("read", time.perf_counter() - start)
                marks.setdefault("read_cpu", cpu_seconds(backend) - cpu)

        with open(file, "rb") as stream:
            result = bulk.import_file(
                project=project, actor=user, stream=stream, source="bench", size=os.path.getsize(file),
                progress=progress,
            )  # fmt: skip
    seconds = time.perf_counter() - start
    cpu = cpu_seconds(backend) - cpu
    figures = {"seconds": seconds, "cpu": cpu, "created": result.created, "duplicates": result.duplicates}
    index_cpu, index_start = cpu_seconds(backend), time.perf_counter()
    indexed = search_index.fill(project.pk)  # what the task queued after commit does (on a worker)
    figures.update(index=time.perf_counter() - index_start, index_cpu=cpu_seconds(backend) - index_cpu)
    figures["indexed"] = indexed
    figures.update(marks)
    figures.update(base_mib=before, peak_mib=peak_mib(), project=project.pk, user=user.pk)
    print(json.dumps(figures))


def cleanup(project_ids, user_ids):
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotation.models import Project

    with connection.cursor() as cursor:  # responses and items first: the ORM's cascade would load them
        cursor.execute(
            "DELETE FROM annotation_itemsearchtext WHERE item_id IN "
            "(SELECT id FROM annotation_item WHERE project_id = ANY(%s))",
            [project_ids],
        )
        cursor.execute(
            "DELETE FROM annotation_response WHERE item_id IN "
            "(SELECT id FROM annotation_item WHERE project_id = ANY(%s))",
            [project_ids],
        )
        cursor.execute("DELETE FROM annotation_item WHERE project_id = ANY(%s)", [project_ids])
    Project.objects.filter(pk__in=project_ids).delete()
    get_user_model().objects.filter(pk__in=user_ids).delete()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--old-max", type=int, default=100_000)
    ap.add_argument("--keep-files", action="store_true")
    ap.add_argument(
        "--label-studio",
        metavar="EXECUTABLE",
        help="also time Label Studio's import of each file (benchmarks/label_studio.py)",
    )
    ap.add_argument("--ls-max", type=int, default=100_000, help="largest size Label Studio imports")
    ap.add_argument("--child", nargs=2, metavar=("PATH", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DJANGO_DEBUG"] = "0"
    from benchmarks.queue_setup import drop_database, ensure_database

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "benchmarks/import_items.py needs PostgreSQL: set DATABASE_URL=postgres://USER@HOST:PORT/DBNAME."
        )
    created_db = ensure_database(url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="tl-import-bench-"))
    projects, users, rows, ls_rows = [], [], [], []
    print(f"Import benchmark: PostgreSQL, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("  old: parse_items over the whole file, then services.import_items (two bulk_create passes)")
    print("  copy: bulk.import_file: streamed, COPY into a staging table, one INSERT ... SELECT")
    try:
        for n in sizes:
            file = workdir / f"items-{n}.jsonl"
            size = make_file(file, n)
            for path_name in ("old", "copy"):
                if path_name == "old" and n > args.old_max:
                    continue
                out = subprocess.run(
                    [sys.executable, __file__, "--child", path_name, str(file)],
                    cwd=ROOT, capture_output=True, text=True,
                )  # fmt: skip
                if out.returncode:
                    print(out.stdout, out.stderr, file=sys.stderr)
                    raise SystemExit(f"the {path_name} import of {n} items failed")
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                projects.append(figures["project"])
                users.append(figures["user"])
                rows.append((n, size, path_name, figures))
            if args.label_studio and n <= args.ls_max:
                from benchmarks import label_studio

                ls_rows.append((n, label_studio.import_file(args.label_studio, file, url)))
            if not args.keep_files:
                file.unlink()
        print(f"  load average at the end: {os.getloadavg()[0]:.1f}")
        print(f"\n{'items':>9} {'file MiB':>9} {'path':>5} {'wall s':>7} {'CPU s':>7} {'read s':>7} "
              f"{'read CPU':>8} {'index s':>7} {'idx CPU':>7} {'items/s':>8} {'created':>9} {'dupes':>6} {'peak MiB':>9} {'+MiB':>6}")  # fmt: skip
        for n, size, path_name, f in rows:
            read = f"{f['read']:>7.1f} {f['read_cpu']:>8.1f}" if "read" in f else f"{'':>7} {'':>8}"
            index = f"{f['index']:>7.1f} {f['index_cpu']:>7.1f}"
            print(
                f"{n:>9} {size / 2**20:>9.1f} {path_name:>5} {f['seconds']:>7.1f} {f['cpu']:>7.1f} {read} {index} "
                f"{n / f['seconds']:>8.0f} {f['created']:>9} {f['duplicates']:>6} {f['peak_mib']:>9.0f} "
                f"{f['peak_mib'] - f['base_mib']:>6.0f}"
            )
        print("  CPU s: this process plus its PostgreSQL backend; wall s also counts waiting for a CPU.")
        print("  read s / read CPU: streamed, validated and COPY-ed into the staging table (copy path);")
        print("  the rest of wall s / CPU s: the one INSERT ... SELECT, its index maintenance, the commit.")
        print("  index s / idx CPU: after the import, apart: search_index.fill, the Items page's search rows")
        print("  (the task an import queues on commit), not in wall s / CPU s.")
        by = {(n, p): (f["seconds"], f["cpu"]) for n, _, p, f in rows}
        for n in sizes:
            if (n, "old") in by and (n, "copy") in by:
                (old_wall, old_cpu), (new_wall, new_cpu) = by[(n, "old")], by[(n, "copy")]
                print(f"  {n} items: copy is {old_wall / new_wall:.1f}x the old path (wall), "
                      f"{old_cpu / new_cpu:.1f}x (CPU)")  # fmt: skip
        for n, ls in ls_rows:
            print(f"  {n} items, Label Studio (its server, its own database on this PostgreSQL): "
                  f"{ls['seconds']:.1f} s until every task is stored (answered after {ls['answered']:.1f} s), "
                  f"server CPU {ls['cpu']:.1f} s, {ls['tasks']} tasks; copy is "
                  f"{ls['seconds'] / by[(n, 'copy')][0]:.1f}x faster (wall)")  # fmt: skip
    finally:
        if projects and not created_db:  # a database we created is dropped whole
            subprocess.run(
                [sys.executable, "-c", f"import benchmarks.import_items as b; b.cleanup({projects}, {users})"],
                cwd=ROOT, check=False,
            )  # fmt: skip
        if created_db:
            drop_database(url)
        if not args.keep_files:
            for f in workdir.glob("*"):
                f.unlink()
            workdir.rmdir()


if __name__ == "__main__":
    main()
