"""The lead pages at scale: seed a project with `--judgments` judgments, then time every lead page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python benchmarks/scale.py \
        --judgments 1000000 [--reuse] [--repeat 5] [--per-row 300] [--recompute all|agreement|consensus|none] \
        [--new 1000] [--recompute-only] [--leaderboard-only]

PostgreSQL only. Seeds with benchmarks/scale_seed.py (INSERT ... SELECT; `--reuse` takes the newest
project of the same name instead), and beside it the per-row approach (`--per-row` judgments through
the queue's next + submit services, the rate extrapolated). Then, for each page, the server time
(median of `--repeat` requests through Django's test client, in-process: view, ORM, template) and
the SQL statements of one request; where the page has a straightforward alternative it is timed in
the same run (`?page=` offsets vs `?after=` keyset links, the median in Python vs `percentile_cont`).
The leaderboard: the previous full aggregate + fit, the first fold of the maintained counts, the page
cold with 0 / 1,000 / 10,000 judgments since the last fold, and warm (`leaderboard_rows`). The
dashboard's time per item: its first fold (before the pages), the page cold with 999 / 1,000
judgments since the last fold, and the maintained read against the one-pass `percentile_cont`.
Recomputes (agreement report, consensus under the majority, weighted and dawid_skene rules) run
through `recompute_functions()`, the one place that names them; `consensus` also times the incremental
majority run with nothing changed and after `--new` judgments resubmitted (kept in the project);
`--recompute-only` stops there. Prints one table. The seeded project is left in place (`--reuse`).
"""

# ruff: noqa: E402 - sys.path is fixed before the other imports
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# Run as a script, this folder comes first on sys.path and benchmarks/queue.py would shadow the
# standard library's queue module. Drop it; import the benchmarks as a package from the root.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory; measure production settings

import django

django.setup()

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from benchmarks import scale_seed
from benchmarks.queue_setup import ensure_database, require_postgres


def recompute_functions():
    """The project's recompute entry points, by name -> f(project, lead): the one adapter to change
    when their signatures move (another part of the code owns them)."""
    from annotation.quality import tasks as quality_tasks
    from preferences import services as pref_services

    out = {}
    agreement = getattr(quality_tasks, "compute_agreement", None)
    if agreement is not None:
        run = getattr(agreement, "run", agreement)  # a Celery task: call its body in-process
        out["agreement report (compute_agreement)"] = lambda project, lead: run(project.pk, lead.pk)
    consensus = getattr(pref_services, "recompute_consensus", None)
    if consensus is not None:
        out["consensus + pairs (recompute_consensus)"] = lambda project, lead: consensus(
            project=project, actor=lead, rule="majority"
        )
        out["consensus majority, full again (no change)"] = out["consensus + pairs (recompute_consensus)"]
        for rule in ("weighted", "dawid_skene"):
            out[f"consensus {rule}, full"] = lambda project, lead, rule=rule: consensus(
                project=project, actor=lead, rule=rule
            )
    return out


def consensus_incremental_rows(project, lead, new):
    """The majority consensus recompute with nothing changed since the last run, then after `new`
    judgments resubmitted (untimed: raw SQL supersedes `new` current comparison judgments by a copy
    with the other winner, items stamped as the lifecycle does). The project keeps the new judgments."""
    from annotation.models import Judgment
    from preferences import services as pref_services

    out = []
    since = timezone.now()
    run = lambda: pref_services.recompute_consensus(project=project, actor=lead, since=since)  # noqa: E731
    seconds, statements, _ = timed(run)
    out.append(("recompute", "consensus incremental, nothing changed", seconds, statements, "majority"))
    cols = [f.column for f in Judgment._meta.concrete_fields if f.column != "id"]
    copy = {c: f"o.{c}" for c in cols}
    copy.update(supersedes_id="o.id", is_current="true", created_at="now()", payload="""CASE
        WHEN o.payload->>'outcome' = 'win' THEN o.payload || jsonb_build_object('ranking',
            jsonb_build_array(o.payload->'ranking'->1, o.payload->'ranking'->0),
            'winner', o.payload->'ranking'->1->0, 'winner_slot', 1 - (o.payload->>'winner_slot')::int)
        ELSE o.payload END""")  # fmt: skip
    since = timezone.now()
    with connection.cursor() as cur:
        cur.execute(
            f"""WITH picked AS (SELECT j.id FROM annotation_judgment j JOIN annotation_item i ON i.id = j.item_id
                WHERE i.project_id = %s AND i.kind = 'comparison' AND NOT i.is_gold AND j.is_current
                ORDER BY j.id DESC LIMIT %s),
            o AS (UPDATE annotation_judgment SET is_current = false WHERE id IN (SELECT id FROM picked)
                RETURNING *),
            ins AS (INSERT INTO annotation_judgment ({", ".join(cols)})
                SELECT {", ".join(copy[c] for c in cols)} FROM o RETURNING item_id)
            UPDATE annotation_item SET updated_at = now() WHERE id IN (SELECT item_id FROM ins)""",
            [project.pk, new],
        )
    seconds, statements, stats = timed(run)
    note = f"majority, {stats['comparisons']:,} comparisons redone"
    out.append(("recompute", f"consensus incremental, {new:,} new judgments", seconds, statements, note))
    return out


def timed(fn, repeat=1):
    """(median seconds, statements of the first call, result of the last)."""
    times, statements, result = [], None, None
    for _ in range(repeat):
        connection.queries_log.clear()  # a full log (9,000 entries) would hide the count
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - started)
        if statements is None:
            statements = len(ctx.captured_queries)
    return statistics.median(times), statements, result


def get_page(client, url, *, cold=False):
    """A GET of `url` (200 or the run stops); `cold`: Django's cache emptied first, so cached figures
    (dashboard, pair filters, the rendered agreement report, the leaderboard fit) are recomputed."""

    def call():
        if cold:
            cache.clear()
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
        return response

    return call


def per_row_rate(project, n):
    """Judgments per second through the real per-row path: next_assignment + submit_judgment."""
    from django.contrib.auth import get_user_model

    from annotation.models import Membership, Role
    from annotation.projects import services as project_services
    from annotation.queue import services as queue_services

    if n <= 0:
        return None
    User = get_user_model()
    tag = f"perrow-{int(time.time() * 1000)}"
    side = project_services.create_project(name=f"{tag} per-row", created_by=project.created_by, overlap=3)
    project_services.create_rubric_version(
        project=side, actor=project.created_by, criteria=scale_seed.SFT_CRITERIA
    )
    users = User.objects.bulk_create([User(username=f"{tag}-{i}") for i in range(10)])
    Membership.objects.bulk_create([Membership(user=u, project=side, role=Role.ANNOTATOR) for u in users])
    with connection.cursor() as cur:
        cur.execute(
            """INSERT INTO annotation_item (project_id, kind, messages, external_id, content_hash, metadata,
                priority, state, active_count, submitted_count, extra_overlap, is_gold, source, created_at,
                updated_at)
            SELECT %s, 'sft', '[{"role": "user", "content": "q"}]'::jsonb, '', md5(%s || g), '{}'::jsonb, 0,
                'open', 0, 0, 0, false, 'scale', now(), now() FROM generate_series(1, %s) g""",
            [side.pk, tag, n],
        )
        cur.execute(
            """INSERT INTO annotation_response (item_id, position, text, model_name, model_version,
                generation_params, shown, created_at)
            SELECT id, 0, 'a', 'm', '', '{}'::jsonb, true, now() FROM annotation_item WHERE project_id = %s""",
            [side.pk],
        )
    done, started = 0, time.perf_counter()
    while done < n:
        for user in users:
            assignment = queue_services.next_assignment(project=side, user=user)
            if assignment is None:
                continue
            queue_services.submit_judgment(
                assignment=assignment, user=user, decision="accept", scores={"helpfulness": 4, "safe": True}
            )
            done += 1
            if done >= n:
                break
    seconds = time.perf_counter() - started
    return n / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judgments", type=int, default=100_000)
    parser.add_argument("--name", default="")
    parser.add_argument("--reuse", action="store_true", help="use the newest project of that name")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--per-row", type=int, default=300, help="judgments for the per-row rate (0 = skip)")
    parser.add_argument(
        "--recompute",
        default="all",
        help="comma-separated words of the recomputes to time (see recompute_functions), or none",
    )
    parser.add_argument("--new", type=int, default=1000, help="judgments for the incremental consensus run")
    parser.add_argument("--recompute-only", action="store_true", help="time the recomputes only")
    parser.add_argument("--leaderboard-only", action="store_true", help="time the leaderboard rows only")
    args = parser.parse_args()
    url = require_postgres()
    ensure_database(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    name = args.name or f"scale {args.judgments}"
    seeded = scale_seed.find(name) if args.reuse else None
    if seeded is None:
        print(f"Seeding '{name}' with about {args.judgments:,} judgments ...")
        seeded = scale_seed.seed(name, judgments=args.judgments)
    print(seeded)
    project, lead = seeded.project, seeded.lead
    rows = []  # (what, how, seconds, statements, note)
    if seeded.seconds:
        rate = seeded.judgments / seeded.seconds
        rows.append(("seed", "INSERT ... SELECT", seeded.seconds, None, f"{rate:,.0f} judgments/s"))
    per_row = per_row_rate(project, args.per_row)
    if per_row:
        rows.append(
            (
                "seed",
                "per row (next + submit)",
                seeded.judgments / per_row,
                None,
                f"{per_row:,.0f} judgments/s, extrapolated",
            )
        )
    wanted = [w for w in args.recompute.split(",") if w and w != "none"]
    for label, fn in recompute_functions().items():
        if "all" in wanted or any(w in label for w in wanted):
            seconds, statements, _ = timed(lambda fn=fn: fn(project, lead))
            rows.append(("recompute", label, seconds, statements, ""))
    if "all" in wanted or "consensus" in wanted:
        rows += consensus_incremental_rows(project, lead, args.new)
    if args.recompute_only:
        return print_table(seeded, rows)
    rows += timing_fold_rows(project)  # before the pages: the dashboard reads the maintained sums
    cached = {"dashboard", "pairs", "agreement"}  # pages whose costly part page_cache keeps
    client = Client()
    client.force_login(lead)
    pk = project.pk
    pages = [
        ("dashboard", "", reverse("annotation:dashboard", args=[pk])),
        ("pairs", "first page", reverse("preferences:pairs", args=[pk])),
        ("items", "first page", reverse("annotation:items", args=[pk])),
        *search_pages(pk),
        ("agreement", "stored report", reverse("annotation:agreement", args=[pk])),
        ("audit", "first page", reverse("annotation:audit", args=[pk])),
        ("members", "", reverse("annotation:members", args=[pk])),
        ("rubric", "", reverse("annotation:rubric", args=[pk])),
        ("disagreements", "", reverse("annotation:disagreements", args=[pk])),
    ]
    if args.leaderboard_only:
        pages = []
    for what, how, page_url in pages:
        if what in cached:
            seconds, statements, _ = timed(get_page(client, page_url, cold=True), args.repeat)
            rows.append((what, f"{how} cold (cache emptied)".strip(), seconds, statements, ""))
            how = f"{how} warm".strip()
        seconds, statements, _ = timed(get_page(client, page_url), args.repeat)
        rows.append((what, how, seconds, statements, ""))
    if not args.leaderboard_only:
        rows += dashboard_behind_rows(client, project, args.repeat)
        rows += deep_pages(client, project, args.repeat)
    rows += leaderboard_rows(client, project, args.repeat)
    if not args.leaderboard_only:
        rows += median_rows(project, args.repeat)
    print_table(seeded, rows)


def search_pages(pk):
    """The Items page searched (annotation.quality.item_list; the seed's prompts read "Scale question
    <g>: explain topic <g % 997> briefly.", its responses "Answer <pos> to question <g>, from <model>.")."""
    url = reverse("annotation:items", args=[pk])
    return [
        ("items", "search: one prompt", f"{url}?q=question+4242%3A"),
        ("items", "search: every prompt", f"{url}?q=explain+topic"),
        ("items", "search: a model in the responses", f"{url}?q=from+gamma-70b"),
        ("items", "search: nothing", f"{url}?q=no+such+words"),
        ("items", "search + filters, 200 a page", f"{url}?q=topic+5&kind=sft&gold=no&disputed=no&size=200"),
    ]


def leaderboard_rows(client, project, repeat):
    """The leaderboard page cold and warm: the previous approach (the SQL aggregate over every current
    judgment, then the fit), the first fold of the maintained tallies, and cold pages with 0, 1,000
    and 10,000 judgments since the last fold (the stored sums set back to that point, untimed)."""
    from annotation.models import Judgment
    from preferences import selectors as pref_selectors
    from preferences import tallies, tally_state
    from preferences.models import TallyState

    out = []
    board = reverse("preferences:leaderboard", args=[project.pk])
    seconds, statements, _ = timed(
        lambda: pref_selectors.board_from_tallies(tallies.tallies(project), baseline="", n_boot=500, seed=0),
        repeat,
    )
    out.append(("leaderboard", "cold, previous: SQL aggregate + fit", seconds, statements, "every judgment"))
    tally_state.reset(project)
    seconds, statements, _ = timed(lambda: tally_state.fold(project))
    out.append(("leaderboard", "first fold from zero (once)", seconds, statements, "TallyState written"))
    ids = Judgment.objects.filter(item__project=project).order_by("-id").values_list("id", flat=True)
    for behind in (0, 1_000, 10_000):
        if behind:
            through = ids[behind]
            data = tally_state.encode(tallies.events(project, 0, through))
        times, statements = [], None
        for _ in range(repeat):
            if behind:  # the sums as a fold `behind` judgments ago left them
                TallyState.objects.filter(project=project).update(through=through, data=data)
            cache.clear()
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                if client.get(board).status_code != 200:
                    raise SystemExit(f"{board}: not 200")
                times.append(time.perf_counter() - started)
            statements = statements if statements is not None else len(ctx.captured_queries)
        note = "folds them in" if behind >= tally_state.FOLD_AFTER else "stored sums + live delta"
        out.append(
            (
                "leaderboard",
                f"cold, {behind:,} judgments since fold",
                statistics.median(times),
                statements,
                note,
            )
        )
    seconds, statements, _ = timed(get_page(client, board), repeat)
    out.append(("leaderboard", "warm (fit cached)", seconds, statements, ""))
    return out


def deep_pages(client, project, repeat):
    """A page half way down the items, audit and pairs lists: by offset (`?page=`) and by keyset."""
    from annotation.models import AuditEvent, Item
    from preferences import selectors as pref_selectors

    out = []
    n_items = Item.objects.filter(project=project).count()
    n_events = AuditEvent.objects.filter(project=project).count()
    lists = [
        ("items", "annotation:items", n_items, 50),
        ("audit", "annotation:audit", n_events, 100),
        ("pairs", "preferences:pairs", pref_selectors.candidate_pairs(project).count(), 50),
    ]
    for what, name, total, per_page in lists:
        base = reverse(name, args=[project.pk])
        page_no = max(1, total // per_page // 2)
        seconds, statements, _ = timed(get_page(client, f"{base}?page={page_no}"), repeat)
        out.append((what, f"page {page_no:,} by ?page=", seconds, statements, "offset"))
        cursor = deep_cursor(what, project, page_no * per_page)
        if cursor:
            seconds, statements, _ = timed(get_page(client, f"{base}?after={cursor}"), repeat)
            out.append((what, "same depth by ?after=", seconds, statements, "keyset"))
    return out


def deep_cursor(what, project, depth):
    """The keyset cursor of the row at `depth` in the page's order (None when the page has none)."""
    from annotation.core import keyset
    from annotation.models import AuditEvent, Item
    from preferences import selectors as pref_selectors

    if what == "items":
        row = Item.objects.filter(project=project).order_by("-id")[depth : depth + 1].first()
        return keyset.encode([row.pk]) if row else None
    if what == "audit":
        row = AuditEvent.objects.filter(project=project).order_by("-id")[depth : depth + 1].first()
        return keyset.encode([row.pk]) if row else None
    row = pref_selectors.candidate_pairs(project)[depth : depth + 1].first()
    return pref_selectors.pair_cursor(row) if row else None


def timing_fold_rows(project):
    """The dashboard's time-per-item sums (annotation.projects.timing_state) folded from zero: once per
    project (the first cold view after the change, or after `timing_state.reset`)."""
    from annotation.projects import timing_state

    timing_state.reset(project)
    seconds, statements, _ = timed(lambda: timing_state.fold(project))
    return [("time per item", "first fold from zero (once)", seconds, statements, "TimingState written")]


def dashboard_behind_rows(client, project, repeat):
    """The dashboard cold with 999 and 1,000 judgments above the stored watermark (the sums set back
    to that point before each request, untimed): the live delta, and the read that folds it in."""
    from annotation.models import Judgment
    from annotation.projects import timing_state

    out = []
    url = reverse("annotation:dashboard", args=[project.pk])
    ids = Judgment.objects.order_by("-id").values_list("id", flat=True)
    for behind in (timing_state.FOLD_AFTER - 1, timing_state.FOLD_AFTER):
        through = ids[behind]
        times, statements = [], None
        for _ in range(repeat):
            timing_state.reset(project)
            timing_state.fold(project, upto=through)
            cache.clear()
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                if client.get(url).status_code != 200:
                    raise SystemExit(f"{url}: not 200")
                times.append(time.perf_counter() - started)
            statements = statements if statements is not None else len(ctx.captured_queries)
        note = "folds them in" if behind >= timing_state.FOLD_AFTER else "stored sums + live delta"
        how = f"cold, {behind:,} judgments since fold"
        out.append(("dashboard", how, statistics.median(times), statements, note))
    return out


def median_rows(project, repeat):
    """The dashboard's timing figures: two scans with the median in Python, one pass in SQL
    (percentile_cont), and the maintained sums (the stored ones plus the live delta)."""
    from django.db.models import Avg, Count, Q

    from annotation.models import Judgment
    from annotation.projects import selectors as project_selectors

    def in_python():  # the selectors before: a per-annotator aggregate, then every duration sorted here
        list(
            Judgment.objects.filter(item__project=project, is_current=True)
            .values("annotator_id")
            .annotate(avg=Avg("duration_seconds"), rushed=Count("id", filter=Q(rushed=True)))
        )
        values = sorted(
            Judgment.objects.filter(
                item__project=project, is_current=True, duration_seconds__isnull=False
            ).values_list("duration_seconds", flat=True)
        )
        return values[len(values) // 2] if values else None

    out = []
    seconds, statements, _ = timed(in_python, repeat)
    out.append(("time per item", "2 scans, median in Python", seconds, statements, "the selectors before"))
    seconds, statements, _ = timed(lambda: project_selectors.judgment_timing_direct(project), repeat)
    out.append(("time per item", "in SQL, one pass", seconds, statements, "percentile_cont + per annotator"))
    seconds, statements, _ = timed(lambda: project_selectors.judgment_timing(project), repeat)
    out.append(("time per item", "maintained sums + live delta", seconds, statements, "timing_state, exact"))
    return out


def print_table(seeded, rows):
    db = settings.DATABASES["default"]
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]
    print()
    print(
        f"{seeded.judgments:,} judgments, {seeded.items:,} items; PostgreSQL {version} "
        f"({db['NAME']}), {os.cpu_count()} CPUs; server time = median of the requests, in-process"
    )
    print(f"  {'what':<14} {'how':<40} {'seconds':>9} {'statements':>10}  note")
    for what, how, seconds, statements, note in rows:
        stmts = "" if statements is None else str(statements)
        if statements is not None and statements >= 9000:  # Django's query log keeps the last 9,000
            stmts = "9000+"
        print(f"  {what:<14} {how:<40} {seconds:>9.3f} {stmts:>10}  {note}")


if __name__ == "__main__":
    main()
