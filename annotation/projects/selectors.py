"""Read paths of the lead's project pages: dashboard, members, rubrics, audit."""

from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Avg, Case, Count, Exists, F, IntegerField, OuterRef, Q, Value, When
from django.db.models.functions import TruncHour
from django.utils import timezone

from annotation.core import page_cache
from annotation.core.permissions import can, role_for, visible_projects
from annotation.models import (
    Assignment,
    AssignmentState,
    AuditEvent,
    Judgment,
    Membership,
    Role,
    RubricVersion,
    SkipReason,
)
from annotation.queue.selectors import project_progress

from . import timing_state

# The assignment states annotator_stats counts from the assignments (index assignment_open_idx: these
# rows only); submitted ones come from the maintained judgment sums.
_OPEN_STATES = (AssignmentState.LEASED, AssignmentState.SKIPPED, AssignmentState.EXPIRED)


def annotator_stats(project, *, timing: dict | None = None) -> list[dict]:
    """Per annotator with any assignment or current judgment in the project: judgments (submitted
    assignments), skips, leases held, mean seconds per item, rushed judgments; most judgments first.
    Submitted counts come with the timing sums (`timing_state`), the rest from an index range over
    the assignments that are not submitted: no pass over the judged work."""
    per_annotator = (timing or judgment_timing(project))["annotators"]
    counts = {}
    for user_id, state, n in (
        Assignment.objects.filter(project=project, state__in=_OPEN_STATES)
        .values_list("annotator_id", "state")
        .annotate(n=Count("*"))
        .order_by()
    ):
        counts.setdefault(user_id, {})[state] = n
    ids = set(per_annotator) | set(counts)
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username")) if ids else {}
    out = []
    for user_id in ids:
        t, c = per_annotator.get(user_id, {}), counts.get(user_id, {})
        avg = t.get("avg")
        out.append(
            {
                "username": names.get(user_id, ""),
                "user_id": user_id,
                "submitted": t.get("submitted", 0),
                "skipped": c.get(AssignmentState.SKIPPED, 0),
                "leased": c.get(AssignmentState.LEASED, 0),
                "avg_seconds": round(avg, 1) if avg is not None else None,
                "rushed": t.get("rushed", 0),
            }
        )
    return sorted(out, key=lambda row: (-row["submitted"], row["username"]))


def annotator_stats_direct(project) -> list[dict]:
    """`annotator_stats` from every assignment of the project and `judgment_timing_direct`: the
    reference the tests hold it to."""
    rows = (
        Assignment.objects.filter(project=project)
        .values(username=F("annotator__username"), user_id=F("annotator_id"))
        .annotate(
            submitted=Count("id", filter=Q(state=AssignmentState.SUBMITTED)),
            skipped=Count("id", filter=Q(state=AssignmentState.SKIPPED)),
            leased=Count("id", filter=Q(state=AssignmentState.LEASED)),
        )
        .order_by("-submitted", "username")
    )
    per_annotator = judgment_timing_direct(project)["annotators"]
    out = []
    for row in rows:
        t = per_annotator.get(row["user_id"], {})
        avg = t.get("avg")
        out.append(
            {**row, "avg_seconds": round(avg, 1) if avg is not None else None, "rushed": t.get("rushed", 0)}
        )
    return out


def throughput_per_hour(project, *, hours: int = 24, now=None) -> list[dict]:
    """Submitted judgments per hour over the last `hours` hours, zero-filled, oldest first."""
    now = now or timezone.now()
    start = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    counts = dict(
        Assignment.objects.filter(project=project, state=AssignmentState.SUBMITTED, submitted_at__gte=start)
        .annotate(hour=TruncHour("submitted_at"))
        .values_list("hour")
        .annotate(n=Count("id"))
    )
    counts = {h.replace(tzinfo=None) if h else h: n for h, n in counts.items()}
    out = []
    for i in range(hours):
        hour = start + timedelta(hours=i)
        out.append({"hour": hour.isoformat(), "count": counts.get(hour.replace(tzinfo=None), 0)})
    return out


# One pass over the project's current judgments: per annotator (mean seconds, rushed) and, in the
# grouping set (), the whole project's count, mean and median seconds (percentile_cont, in SQL).
_TIMING_SQL = """
SELECT j.annotator_id, GROUPING(j.annotator_id) AS whole, count(j.duration_seconds), avg(j.duration_seconds),
    count(*) FILTER (WHERE j.rushed), count(*) FILTER (WHERE NOT j.external),
    CASE WHEN GROUPING(j.annotator_id) = 1
        THEN percentile_cont(0.5) WITHIN GROUP (ORDER BY j.duration_seconds) END
FROM annotation_judgment j JOIN annotation_item i ON i.id = j.item_id
WHERE i.project_id = %s AND j.is_current
GROUP BY GROUPING SETS ((j.annotator_id), ())
"""


def judgment_timing(project) -> dict:
    """{"annotators": {user id: {"avg", "rushed", "submitted"}}, "overall": {"count", "mean", "median"}}
    over the project's current judgments with a recorded duration (rushed counts every current
    judgment, submitted every one that was not imported), from
    the maintained sums (`timing_state`: the stored sums plus the judgments since, exact)."""
    return timing_state.timing(project)


def judgment_timing_direct(project) -> dict:
    """`judgment_timing` computed over every current judgment: the reference `timing_state` is held
    to. PostgreSQL: one statement, the median by percentile_cont; elsewhere two, the median in Python."""
    annotators, overall = {}, {"count": 0, "mean": None, "median": None}
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(_TIMING_SQL, [project.pk])
            for user_id, whole, n, avg, rushed, submitted, median in cur.fetchall():
                if whole:
                    if n:
                        overall = {"count": n, "mean": round(avg, 1), "median": round(median, 1)}
                else:
                    annotators[user_id] = {"avg": avg, "rushed": rushed, "submitted": submitted}
        return {"annotators": annotators, "overall": overall}
    current = Judgment.objects.filter(item__project=project, is_current=True)
    for row in current.values("annotator_id").annotate(
        avg=Avg("duration_seconds"),
        rushed=Count("id", filter=Q(rushed=True)),
        submitted=Count("id", filter=Q(external=False)),
    ):
        annotators[row.pop("annotator_id")] = row
    values = sorted(current.filter(duration_seconds__isnull=False).values_list("duration_seconds", flat=True))
    if values:
        n = len(values)
        median = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
        overall = {"count": n, "mean": round(sum(values) / n, 1), "median": round(median, 1)}
    return {"annotators": annotators, "overall": overall}


def time_per_item(project, *, timing: dict | None = None) -> dict:
    """Mean and median seconds per judgment (current judgments with a recorded duration)."""
    return (timing or judgment_timing(project))["overall"]


def _project_figures(project) -> dict:
    timing = judgment_timing(project)
    return {
        "progress": project_progress(project),
        "annotators": annotator_stats(project, timing=timing),
        "time_per_item": time_per_item(project, timing=timing),
    }


def dashboard(project, *, now=None) -> dict:
    """Progress, annotators and time per item (through annotation.core.page_cache: at most a minute
    old on a project large enough for them to be costly; `figures_at` says when), and the last
    day's throughput (always live: one indexed range)."""
    figures, at = page_cache.figures(
        page_cache.project_key(project, "dashboard"),
        page_cache.data_stamp(project),
        lambda: _project_figures(project),
    )
    return {
        **figures,
        "figures_at": datetime.fromtimestamp(at, tz=UTC),
        "throughput": throughput_per_hour(project, now=now),
        "skip_reasons": skip_reasons(project),
    }


def skip_reasons(project) -> list[dict]:
    """Skipped assignments by the reason the annotator gave (SkipReason's order; "" = not given)."""
    counts = dict(
        Assignment.objects.filter(project=project, state=AssignmentState.SKIPPED)
        .values_list("skip_reason")
        .annotate(n=Count("id"))
    )
    named = [(value, label) for value, label in SkipReason.choices] + [("", "Not given")]
    return [
        {"reason": value, "label": label, "count": counts[value]}
        for value, label in named
        if counts.get(value)
    ]


def judgments_visible_to(user, project):
    """Leads see every judgment in their project; annotators only their own."""
    qs = Judgment.objects.filter(item__project=project).select_related("annotator", "rubric_version")
    if can(user, "view_all_judgments", project):
        return qs
    return qs.filter(annotator=user)


def audit_events(project, *, limit: int | None = 200, verb: str = ""):
    """The project's audit events, newest first; `verb` keeps those whose verb starts with it
    ("judgment" -> judgment.submitted, judgment.superseded)."""
    qs = AuditEvent.objects.filter(project=project).select_related("actor").order_by("-id")
    if verb:
        qs = qs.filter(verb__startswith=verb)
    return qs if limit is None else qs[:limit]


def audit_verbs(project) -> list[str]:
    """The verb families recorded in the project ("item", "judgment", "rubric"...), for the filter."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(_VERBS_SQL, [project.pk, project.pk])
            verbs = [row[0] for row in cur.fetchall()]
    else:
        verbs = (
            AuditEvent.objects.filter(project=project).order_by().values_list("verb", flat=True).distinct()
        )
    return sorted({v.split(".")[0] for v in verbs})


# The distinct verbs of a project by a loose index scan over audit_verb_idx (project, verb): one
# index probe per distinct verb instead of reading every event (PostgreSQL has no skip scan).
_VERBS_SQL = """
WITH RECURSIVE verbs(verb) AS (
    (SELECT verb FROM annotation_auditevent WHERE project_id = %s ORDER BY verb LIMIT 1)
    UNION ALL
    SELECT (SELECT e.verb FROM annotation_auditevent e WHERE e.project_id = %s AND e.verb > verbs.verb
            ORDER BY e.verb LIMIT 1)
    FROM verbs WHERE verbs.verb IS NOT NULL
)
SELECT verb FROM verbs WHERE verb IS NOT NULL
"""


def projects_for(user) -> list[dict]:
    """The user's projects (permissions.visible_projects), each with their role and progress."""
    out = []
    for project in visible_projects(user).distinct().order_by("name", "id"):
        progress = project_progress(project, user)
        out.append({"project": project, "role": role_for(user, project), "progress": progress})
    return out


def members(project):
    """Memberships of the project with their users, highest role first."""
    rank = Case(
        When(role=Role.ADMIN, then=Value(0)),
        When(role=Role.LEAD, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        Membership.objects.filter(project=project)
        .select_related("user")
        .annotate(rank=rank)
        .order_by("rank", "user__username")
    )


def rubric_versions(project):
    """Every rubric version of the project, newest first, with `locked` (used by a judgment)."""
    used = Judgment.objects.filter(rubric_version=OuterRef("pk"))
    return (
        RubricVersion.objects.filter(rubric__project=project)
        .select_related("rubric", "created_by")
        .annotate(locked=Exists(used))
        .order_by("-rubric_id", "-number")
    )
