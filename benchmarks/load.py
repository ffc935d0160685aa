"""Load test: simulated annotators over HTTP against gunicorn + PostgreSQL, and nothing lost.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/load .venv/bin/python benchmarks/load.py \
        [--annotators 50] [--duration 300] [--think 1.0] [--items 12000] [--comparisons 8000] \
        [--skip-rate 0.05] [--retry-rate 0.03] [--resubmit-rate 0.03] [--url http://host:port]

Seeds one project (overlap 2, routing off so no item may take a third annotator; SFT items and
pairwise comparisons) and --annotators annotators with API tokens, starts gunicorn with
config/gunicorn.conf.py on a free port (or drives --url, a server on the same DATABASE_URL), and runs
the annotators (threads spread over --client-processes processes) for --duration seconds, each:
GET next (SFT or comparison) -> "read" for ~--think s -> POST submit, or now and then POST skip with a
reason; now and then the same submit again (a retry after a lost answer: must return the same
judgment) or a different one (a resubmit: supersedes). Every acknowledged submit (201) and skip (200)
is recorded client-side.

Prints requests and throughput, p50 / p99 / max of each call and the errors by status, then checks the
database against what the clients were told, and exits 1 on any violation:
  - the current judgments are exactly the acknowledged submits, by (item, annotator), each the last one
    acknowledged; no (item, annotator) has two current judgments;
  - every stored judgment (superseded ones too) was acknowledged: a retry never made a second one;
  - no skipped item has the skipper's judgment;
  - no item has more annotators than its overlap;
  - every touched item's state and slot counters agree with its assignments
    (annotation.queue.lifecycle.check_item, the rule the lifecycle tests hold).
Everything it creates is deleted at the end (--keep leaves it); a database it created is dropped.
`--no-migrate` skips `migrate` (a database that is already migrated, e.g. the test suite's).
"""

# ruff: noqa: E402 - sys.path is fixed before the other imports
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # as benchmarks/queue.py does
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import argparse
import json
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict

from benchmarks.queue_setup import (
    SCORES,
    Bench,
    HttpSession,
    ensure_database,
    pct,
    require_postgres,
    run_children,
    start_server,
    tear_down,
)

SKIP_REASONS = ("unclear", "needs_expertise", "broken", "other")
CALLS = ("next", "submit", "skip", "retry", "resubmit")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--annotators", type=int, default=50)
    p.add_argument("--duration", type=float, default=300.0, help="seconds the annotators work")
    p.add_argument("--think", type=float, default=1.0, help="mean seconds an annotator reads an item")
    p.add_argument("--items", type=int, default=12_000, help="SFT items")
    p.add_argument("--comparisons", type=int, default=8_000, help="pairwise comparisons")
    p.add_argument("--overlap", type=int, default=2)
    p.add_argument("--skip-rate", type=float, default=0.05)
    p.add_argument("--retry-rate", type=float, default=0.03, help="share of submits sent twice")
    p.add_argument("--resubmit-rate", type=float, default=0.03, help="share of submits changed after")
    p.add_argument("--url", help="drive this server (on the same DATABASE_URL) instead of starting one")
    p.add_argument("--gunicorn-workers", type=int, default=2)
    p.add_argument("--gunicorn-threads", type=int, default=8)
    p.add_argument("--client-processes", type=int, default=5)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="leave the seeded rows in place")
    p.add_argument("--no-migrate", action="store_true", help="the database is migrated already")
    return p.parse_args(argv)


# --- the annotators -------------------------------------------------------------------------


def _answer(kind, rng, *, changed=False):
    if kind == "comparison":
        choice = rng.choice(["A", "B", "tie"]) if not changed else "both_bad"
        return {"payload": {"choice": choice, **({"strength": rng.randint(1, 3)} if choice in "AB" else {})}}
    return {"decision": "reject" if changed else "accept", "scores": SCORES}


def annotate(*, base, project_id, user_id, token, stop_at, args, seed):
    """One annotator until `stop_at`; returns what it was told (acknowledgements) and its timings."""
    rng = random.Random(seed)
    http = HttpSession(base, token)
    out = {"ms": defaultdict(list), "errors": Counter(), "acked": {}, "judgments": [], "skipped": []}
    out["problems"] = []

    def call(name, method, path, body=None):
        t0 = time.perf_counter()
        try:
            status, data = http.call(method, path, None if body is None else json.dumps(body))
        except OSError as exc:
            status, data = type(exc).__name__, b""
        out["ms"][name].append((time.perf_counter() - t0) * 1000)
        return status, data

    def expect(name, status, want, data):
        if status != want:
            out["errors"][f"{name} {status}"] += 1
            if len(out["problems"]) < 5:
                out["problems"].append(f"{name} -> {status}: {data[:200]!r}")
            return False
        return True

    time.sleep(rng.uniform(0, args.think))  # do not all start in the same millisecond
    empty = set()
    try:
        while time.perf_counter() < stop_at and len(empty) < 2:
            kind = "comparison" if rng.random() < 0.4 else "sft"
            if kind in empty:
                kind = "sft" if kind == "comparison" else "comparison"
            status, data = call("next", "GET", f"/api/projects/{project_id}/next/?kind={kind}")
            if status == 204:
                empty.add(kind)
                continue
            if not expect("next", status, 200, data):
                time.sleep(args.think)
                continue
            task = json.loads(data)
            assignment, item = task["assignment"], task["item"]["id"]
            time.sleep(args.think * rng.uniform(0.5, 1.5))
            if rng.random() < args.skip_rate:
                status, data = call("skip", "POST", f"/api/assignments/{assignment}/skip/", {
                    "reason": rng.choice(SKIP_REASONS)})  # fmt: skip
                if expect("skip", status, 200, data):
                    out["skipped"].append((item, user_id))
                continue
            submit = f"/api/assignments/{assignment}/submit/"
            body = _answer(kind, rng)
            status, data = call("submit", "POST", submit, body)
            if not expect("submit", status, 201, data):
                continue
            judgment = json.loads(data)["id"]
            out["acked"][(item, user_id)] = judgment
            out["judgments"].append(judgment)
            if rng.random() < args.retry_rate:  # the answer was "lost": the same submit again
                status, data = call("retry", "POST", submit, body)
                if expect("retry", status, 201, data) and json.loads(data)["id"] != judgment:
                    out["problems"].append(f"a retry of judgment {judgment} made {json.loads(data)['id']}")
                    out["errors"]["retry new judgment"] += 1
            if rng.random() < args.resubmit_rate:  # a second thought: supersedes the first
                status, data = call("resubmit", "POST", submit, _answer(kind, rng, changed=True))
                if expect("resubmit", status, 201, data):
                    out["acked"][(item, user_id)] = json.loads(data)["id"]
                    out["judgments"].append(json.loads(data)["id"])
    finally:
        http.close()
    return out


def _merge(results):
    merged = {"ms": defaultdict(list), "errors": Counter(), "acked": {}, "judgments": [], "skipped": []}
    merged["problems"] = []
    for r in results:
        for name, values in r["ms"].items():
            merged["ms"][name] += values
        merged["errors"].update(r["errors"])
        merged["acked"].update(r["acked"])  # keys are (item, annotator): one annotator's each
        for key in ("judgments", "skipped", "problems"):
            merged[key] += r[key]
    return merged


def _run_threads(work, seeds, out):
    results, lock = [], threading.Lock()

    def one(kwargs):
        r = work(**kwargs)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one, args=(kw,)) for kw in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(_merge(results))


def drive(base, project_id, people, args):
    """people: [(user id, token)]; the annotators spread over --client-processes forked processes."""
    import multiprocessing

    stop_at = time.perf_counter() + args.duration
    work = [
        dict(base=base, project_id=project_id, user_id=uid, token=token, stop_at=stop_at, args=args,
             seed=args.seed * 1000 + i)
        for i, (uid, token) in enumerate(people)
    ]  # fmt: skip
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    n = max(1, min(args.client_processes, len(work)))
    children = [ctx.Process(target=_run_threads, args=(annotate, work[k::n], out)) for k in range(n)]
    began = time.perf_counter()
    results = run_children(children, out)
    merged = _merge(results)
    merged["seconds"] = time.perf_counter() - began
    return merged


# --- the report and the checks --------------------------------------------------------------


def report(r):
    seconds = r["seconds"]
    total = sum(len(v) for v in r["ms"].values())
    print(f"\n  {'call':<9} {'count':>7} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name in CALLS:
        values = r["ms"].get(name, [])
        if values:
            print(
                f"  {name:<9} {len(values):>7} {len(values) / seconds:>7.1f} {pct(values, 50):>8.1f}"
                f" {pct(values, 99):>8.1f} {max(values):>8.1f}"
            )
    print(f"  all       {total:>7} {total / seconds:>7.1f}")
    print(
        f"\n  acknowledged: {len(r['acked']):,} (item, annotator) judgments ({len(r['acked']) / seconds:.1f}/s),"
        f" {len(r['judgments']):,} judgment rows, {len(r['skipped']):,} skips, in {seconds:.0f} s"
    )
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "none"
    print(f"  errors by call and status: {errors}")
    for line in r["problems"][:5]:
        print(f"    e.g. {line}")


def verify(project_ids, acked, judgments, skipped) -> list[str]:
    """What the database holds against what the clients were told; the violations (empty: none).

    acked: {(item id, annotator id): the last acknowledged judgment id}; judgments: every acknowledged
    judgment id; skipped: [(item id, annotator id)] acknowledged skips."""
    from annotation.models import Assignment, Item, Judgment, Project
    from annotation.queue import lifecycle

    problems = []
    rows = Judgment.objects.filter(item__project_id__in=project_ids)
    current = list(rows.filter(is_current=True).values_list("item_id", "annotator_id", "id"))
    pairs = Counter((i, a) for i, a, _ in current)
    problems += [f"item {i}: annotator {a} has {n} current judgments" for (i, a), n in pairs.items() if n > 1]
    stored = {(i, a): j for i, a, j in current}
    lost = sorted(set(acked) - set(stored))
    problems += [f"lost: the acknowledged judgment of annotator {a} on item {i}" for i, a in lost]
    unacked = sorted(set(stored) - set(acked))
    problems += [f"stored but never acknowledged: annotator {a} on item {i}" for i, a in unacked]
    problems += [
        f"item {k[0]}: annotator {k[1]}'s current judgment is {stored[k]}, the last acknowledged {acked[k]}"
        for k in sorted(set(stored) & set(acked))
        if stored[k] != acked[k]
    ]
    all_ids = list(rows.values_list("id", flat=True))
    extra = Counter(all_ids) - Counter(set(judgments))
    problems += [f"judgment {j} was stored but no submit was told so (a duplicate?)" for j in sorted(extra)]
    problems += [
        f"annotator {a} skipped item {i} and has a judgment on it" for i, a in skipped if (i, a) in stored
    ]
    projects = {p.pk: p for p in Project.objects.filter(pk__in=project_ids)}
    per_item = Counter(i for i, _ in stored)
    touched = set(Assignment.objects.filter(project_id__in=project_ids).values_list("item_id", flat=True))
    for item in Item.objects.filter(pk__in=touched | set(per_item)).order_by("pk"):
        project = projects[item.project_id]
        capacity = project.overlap + item.extra_overlap
        if per_item[item.pk] > capacity:
            problems.append(f"item {item.pk}: {per_item[item.pk]} annotators, its overlap is {capacity}")
        problems += lifecycle.check_item(item, project)
    return problems


# --- main -----------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory; measure production settings
    url = require_postgres()
    created_db = ensure_database(url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    if not args.no_migrate:
        call_command("migrate", verbosity=0)
    bench, server, violations = Bench(f"load-{uuid.uuid4().hex[:6]}"), None, None
    print(f"Load test on {connection.settings_dict['NAME']} (PostgreSQL {connection.pg_version // 10000})")
    print(
        f"  machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start (shared machine)"
    )
    try:
        users, tokens = bench.build(
            args.items, args.annotators, names=("load",), comparisons=args.comparisons,
            overlap=args.overlap, agreement_routing=False, max_extra_annotators=0,
        )  # fmt: skip
        (project,) = bench.projects
        connections.close_all()  # the client processes are forked: no shared database socket
        if args.url:
            base, label = args.url.rstrip("/"), args.url
        else:
            server, base, label = start_server(args.gunicorn_workers, args.gunicorn_threads)
        print(
            f"\n{args.annotators} annotators for {args.duration:g} s, ~{args.think:g} s per item, skips"
            f" {args.skip_rate:.0%}, retries {args.retry_rate:.0%}, resubmits {args.resubmit_rate:.0%},"
            f" overlap {args.overlap}, clients in {args.client_processes} process(es); server: {label}"
        )
        result = drive(base, project.pk, [(u.pk, tokens[u.pk]) for u in users], args)
        report(result)
        print(f"  load average at end: {os.getloadavg()[0]:.1f}")
        if server is not None:
            server.terminate()
            server.wait(60)
            server = None
        started = time.perf_counter()
        violations = verify([project.pk], result["acked"], result["judgments"], result["skipped"])
        print(f"\nChecks ({time.perf_counter() - started:.1f} s): stored == acknowledged, no duplicates,")
        print("  no skipped item judged, no item over its overlap, counters == assignments:")
        if violations:
            print(f"  {len(violations)} VIOLATION(S):")
            for line in violations[:30]:
                print(f"    {line}")
        else:
            print(f"  all hold ({len(result['acked']):,} judgments, {len(result['skipped']):,} skips)")
    finally:
        tear_down(bench, server, url, created_db, keep=args.keep)
    return 1 if violations or violations is None else 0


if __name__ == "__main__":
    sys.exit(main())
