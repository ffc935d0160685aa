"""Read paths that need more than one line of ORM."""

from datetime import timedelta

from django.db.models import Avg, Case, Count, Exists, F, IntegerField, OuterRef, Q, Value, When
from django.db.models.functions import TruncHour
from django.utils import timezone

from .models import (
    Assignment,
    AssignmentState,
    AuditEvent,
    Item,
    ItemState,
    Judgment,
    Membership,
    Project,
    Role,
    RubricVersion,
)
from .permissions import can, role_for, visible_projects


def project_progress(project, user=None) -> dict:
    """Items by state and, when `user` is given, that user's own "n of m" figures.

    For an annotator, m is what they can still be offered plus what they did: the items they judged
    plus the open items they have not had, capped by the project size.
    """
    by_state = dict(Item.objects.filter(project=project).values_list("state").annotate(n=Count("id")))
    total = sum(by_state.values())
    judged_slots = Assignment.objects.filter(project=project, state=AssignmentState.SUBMITTED).count()
    out = {
        "items_total": total,
        "items_by_state": {s: by_state.get(s, 0) for s in ItemState.values},
        "judgments_needed": total * project.overlap,
        "judgments_done": judged_slots,
        "percent_done": round(100.0 * judged_slots / (total * project.overlap), 1) if total else 0.0,
    }
    if user is not None:
        out["mine"] = annotator_progress(project, user)
    return out


def annotator_progress(project, user, kind: str | None = None) -> dict:
    """The caller's "n of m" (of one item kind, or all): done, skipped, and done plus the items
    still in the queue that they have neither judged nor skipped."""
    mine = Assignment.objects.filter(project=project, annotator=user)
    items = Item.objects.filter(project=project, state__in=[ItemState.OPEN, ItemState.ASSIGNED])
    if kind is not None:
        mine = mine.filter(item__kind=kind)
        items = items.filter(kind=kind)
    done = mine.filter(state=AssignmentState.SUBMITTED).count()
    skipped = mine.filter(state=AssignmentState.SKIPPED).count()
    # One Exists over the same assignment row: a multi-condition exclude() across the relation
    # would match the user on one assignment and the state on another (someone else's submit).
    finished = Assignment.objects.filter(
        item=OuterRef("pk"),
        annotator=user,
        state__in=[AssignmentState.SUBMITTED, AssignmentState.SKIPPED],
    )
    available = items.filter(~Exists(finished)).count()
    return {"done": done, "skipped": skipped, "total": done + available}


def annotator_stats(project) -> list[dict]:
    """Per annotator: judgments, skips, leases held, mean seconds per item, rushed judgments."""
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
    timing = {
        r["annotator_id"]: r
        for r in Judgment.objects.filter(item__project=project, is_current=True)
        .values("annotator_id")
        .annotate(avg=Avg("duration_seconds"), rushed=Count("id", filter=Q(rushed=True)))
    }
    out = []
    for row in rows:
        t = timing.get(row["user_id"], {})
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


def time_per_item(project) -> dict:
    """Mean and median seconds per judgment (current judgments with a recorded duration)."""
    values = sorted(
        Judgment.objects.filter(
            item__project=project, is_current=True, duration_seconds__isnull=False
        ).values_list("duration_seconds", flat=True)
    )
    if not values:
        return {"count": 0, "mean": None, "median": None}
    n = len(values)
    median = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    return {"count": n, "mean": round(sum(values) / n, 1), "median": round(median, 1)}


def dashboard(project, *, now=None) -> dict:
    return {
        "progress": project_progress(project),
        "annotators": annotator_stats(project),
        "throughput": throughput_per_hour(project, now=now),
        "time_per_item": time_per_item(project),
    }


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
    verbs = AuditEvent.objects.filter(project=project).values_list("verb", flat=True).distinct()
    return sorted({v.split(".")[0] for v in verbs})


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


def sft_task(assignment) -> dict:
    """What an annotator sees for one SFT assignment: the conversation and the candidate response.

    Only the item's own content: never another annotator's judgment.
    """
    item = assignment.item
    response = item.responses.order_by("position").first()
    return {
        "assignment": assignment,
        "item": item,
        "messages": [
            {"role": m.get("role", ""), "content": m.get("content", "")}
            for m in (item.messages or [])
            if isinstance(m, dict)
        ],
        "response": response,
    }


# --- quality: disagreements, adjudication, gold, agreement reports ---------------------------


def disagreements(project):
    """The leads' queue: DISPUTED items of the project, highest priority first, then oldest."""
    from .models import Item

    return (
        Item.objects.filter(project=project, state=ItemState.DISPUTED, is_gold=False)
        .annotate(n_judgments=Count("judgments", filter=Q(judgments__is_current=True)))
        .order_by("-priority", "id")
    )


def next_disagreement(project, *, after_id=None):
    """The first disputed item (after `after_id` when given, wrapping round), or None."""
    qs = disagreements(project)
    if after_id is not None:
        nxt = qs.exclude(pk=after_id).first()
        return nxt
    return qs.first()


def adjudication_context(item) -> dict:
    """Everything a lead needs on one item: the conversation, the responses (canonical order), every
    current judgment with its annotator, and the item's earlier adjudications."""
    from .models import Adjudication
    from .routing import item_agreement, judgment_label, newest_version_judgments

    judgments = list(
        Judgment.objects.filter(item=item, is_current=True)
        .select_related("annotator", "rubric_version")
        .order_by("id")
    )
    responses = list(item.responses.filter(shown=True).order_by("position"))
    canonical = [r.pk for r in responses]
    position = {rid: i + 1 for i, rid in enumerate(canonical)}
    rows = []
    for n, j in enumerate(judgments, start=1):
        payload = j.payload or {}
        rows.append(
            {
                "n": n,
                "judgment": j,
                "label": judgment_label(item.kind, j, canonical),
                "ranking": [[position.get(r, r) for r in g] for g in payload.get("ranking") or []],
                "strength": payload.get("strength"),
                "improved_text": payload.get("improved_text", ""),
            }
        )
    return {
        "item": item,
        "conversation": [
            {"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
            for m in item.messages or []
            if isinstance(m, dict)
        ],
        "responses": responses,
        "judgments": rows,
        "agreement": item_agreement(item, newest_version_judgments(judgments)),
        "history": Adjudication.objects.filter(item=item).select_related("lead").order_by("-id"),
    }


def gold_accuracy(project) -> list[dict]:
    """Per annotator: judged gold items, correct answers and accuracy (the overall answer; SFT
    decision, comparison winner / tie / both bad), plus the share of matching gold scores."""
    from .models import Item, ItemKind
    from .routing import canonical_responses, comparison_label, judgment_label

    gold_items = {
        i.pk: i for i in Item.objects.filter(project=project, is_gold=True, gold_answer__isnull=False)
    }
    canon = {pk: canonical_responses(i) for pk, i in gold_items.items() if i.kind == ItemKind.COMPARISON}
    stats: dict[int, dict] = {}
    rows = (
        Judgment.objects.filter(item_id__in=list(gold_items), is_current=True)
        .select_related("annotator")
        .order_by("id")
    )
    for j in rows:
        item = gold_items[j.item_id]
        gold = item.gold_answer or {}
        if item.kind == ItemKind.SFT:
            expected = gold.get("decision")
        else:
            expected = comparison_label(gold, canon[item.pk])
        got = judgment_label(item.kind, j, canon.get(item.pk))
        row = stats.setdefault(
            j.annotator_id,
            {"user_id": j.annotator_id, "username": j.annotator.username, "n": 0, "correct": 0,
             "score_n": 0, "score_correct": 0},
        )  # fmt: skip
        row["n"] += 1
        row["correct"] += int(got == expected)
        for key, value in (gold.get("scores") or {}).items():
            if key in (j.scores or {}):
                row["score_n"] += 1
                row["score_correct"] += int(j.scores[key] == value)
    out = []
    for row in sorted(stats.values(), key=lambda r: r["username"]):
        row["accuracy"] = round(row["correct"] / row["n"], 4) if row["n"] else None
        row["score_accuracy"] = round(row["score_correct"] / row["score_n"], 4) if row["score_n"] else None
        out.append(row)
    return out


def guideline_gaps(project, *, limit: int = 50):
    """Adjudications a lead tagged "guideline gap": input for the next rubric version."""
    from .models import Adjudication, AdjudicationCategory

    return (
        Adjudication.objects.filter(item__project=project, category=AdjudicationCategory.GUIDELINE_GAP)
        .select_related("lead", "item")
        .order_by("-id")[:limit]
    )


def latest_agreement_report(project):
    from .models import AgreementReport

    return AgreementReport.objects.filter(project=project).order_by("-id").first()


def projects_with_stale_agreement() -> list[Project]:
    """Projects with a judgment or an adjudication newer than their latest agreement report
    (or judgments and no report yet): what the periodic refresh recomputes. Two indexed probes per
    project; nothing is read from the judgments themselves."""
    from .models import Adjudication, AgreementReport

    stale = []
    for project in Project.objects.order_by("id"):
        latest = (
            AgreementReport.objects.filter(project=project)
            .order_by("-id")
            .values_list("computed_at", flat=True)
            .first()
        )
        judgments = Judgment.objects.filter(item__project=project)
        adjudications = Adjudication.objects.filter(item__project=project)
        if latest is not None:
            judgments = judgments.filter(created_at__gt=latest)
            adjudications = adjudications.filter(created_at__gt=latest)
        if judgments.exists() or (latest is not None and adjudications.exists()):
            stale.append(project)
    return stale


def reliability_weights(project, kind: str = "comparison") -> dict[int, float]:
    """Annotator id -> Dawid-Skene vote weight from the latest agreement computation, for `kind`;
    annotators without a figure for `kind` fall back to their weight from the other kind."""
    from .models import AnnotatorReliability

    weights: dict[int, float] = {}
    rows = AnnotatorReliability.objects.filter(project=project).values_list("annotator_id", "kind", "weight")
    for annotator_id, _kind, weight in sorted(rows, key=lambda r: r[1] == kind):
        weights[annotator_id] = weight  # rows of `kind` come last and win
    return weights
