"""Lead pages for quality: the agreement dashboard (+ CSV), the disagreement queue and adjudication.

Thin: writes go through annotation.adjudication / agreement_reports, reads through selectors.
Outsiders get 404, annotators 403 (annotation.core.web.project_for).
"""

import csv
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from annotation.core import charts, page_cache, recomputes
from annotation.core.errors import ServiceError
from annotation.core.web import is_htmx, object_for, page, project_for
from annotation.kinds import registry
from annotation.models import AdjudicationCategory, AdjudicationDecision, Decision, Item, Recompute
from annotation.quality import adjudication, drift, pairwise
from annotation.quality import selectors as quality_selectors
from annotation.quality import tasks as quality_tasks

# --- charts (specs from annotation/core/charts.py, drawn by static/js/charts.js) -----------------------


def weekly_chart(kind, rows):
    """Alpha and percent agreement per ISO week (None = a gap), weeks in order on the x axis."""
    weeks = [r["week"] for r in rows]
    return charts.line(
        [
            charts.series("Krippendorff's alpha", [(r["week"], r.get("alpha")) for r in rows]),
            charts.series("percent agreement", [(r["week"], r.get("percent")) for r in rows], dashed=True),
        ],
        title=f"{kind}: agreement per ISO week",
        x_title="ISO week of the item's last judgment",
        y_title="agreement",
        categories=weeks,
        y_max=1.0,
        zero_line=True,
    )


def agreement_bars(labels, groups, title):
    """Horizontal bars for agreement figures in -1..1 (kappa, alpha), one row per label."""
    return charts.bar(
        labels,
        groups,
        title=title,
        label_title="",
        value_title="agreement",
        horizontal=True,
        value_min=-1,
        value_max=1,
    )


def _figure(value) -> str:
    return "–" if value is None else str(value)


def _dashboard_context(project, report):
    if report is None:
        return {"report": None}
    data = report.data
    criteria = data.get("criteria", [])
    versions = sorted({c["version"] for c in criteria})
    side_by_side = {}
    for c in criteria:
        side_by_side.setdefault((c["kind"], c["criterion"]), {})[c["version"]] = c["alpha"]
    version_table = [
        {"kind": kind, "criterion": key, "alphas": [alphas.get(v) for v in versions]}
        for (kind, key), alphas in sorted(side_by_side.items())
    ]
    annotator_sections = []
    names = {str(r["user_id"]): r["username"] for rows in data.get("annotators", {}).values() for r in rows}
    for kind, rows in data.get("annotators", {}).items():
        mean = pairwise.means(rows)
        full = pairwise.full_table(rows)
        for row in rows:
            row["pairwise_mean"] = mean[str(row["user_id"])]
            if full:  # every pair as one string (escaped by the template); small projects only
                row["pairwise_text"] = "; ".join(
                    f"{names.get(str(other), f'#{other}')}: {_figure(p.get('kappa'))} ({p.get('items')})"
                    for other, p in (row.get("pairwise") or {}).items()
                )
            conf = row.get("confusion")
            if conf:
                row["confusion_rows"] = [
                    {"label": label, "cells": [{"n": n} for n in counts]}
                    for label, counts in zip(conf["labels"], conf["matrix"], strict=True)
                ]
            if conf and full:  # a chart beside each table on small projects only (a template each)
                row["confusion_chart"] = charts.heatmap(
                    conf["labels"],
                    conf["labels"],
                    conf["matrix"],
                    title=f"{row['username']}: confusion against the consensus",
                    row_title=row["username"],
                    column_title="consensus",
                    value_title="judgments",
                    row_normalise=True,
                )
        annotator_sections.append(
            {
                "kind": kind,
                "rows": rows,
                "chart": agreement_bars(
                    [r["username"] for r in rows],
                    [
                        ("Cohen's kappa vs consensus", [r.get("kappa_consensus") for r in rows]),
                        ("agreement vs consensus", [r.get("agree_consensus") for r in rows]),
                    ],
                    f"{kind}: each annotator against the consensus",
                ),
                "names": {str(r["user_id"]): r["username"] for r in rows},
                "full_pairwise": full,
                # annotators² figures as a compact chart spec, not markup (annotation.quality.pairwise)
                "pairwise_chart": pairwise.heatmap(kind, rows, mean) if len(rows) > 1 else None,
                "pairs": pairwise.extremes(pairwise.pairs(rows)),
            }
        )
    weekly = {}
    for row in data.get("weekly", []):
        weekly.setdefault(row["kind"], []).append(row)
    ranking_tau = [
        {"name": names.get(str(user_id), f"#{user_id}"), "tau": tau}
        for user_id, tau in (data.get("ranking_tau") or {}).items()
    ]
    return {
        "report": report,
        "data": data,
        "ranking_tau": ranking_tau,
        "weekly_charts": [
            {
                "kind": kind,
                "chart": weekly_chart(kind, rows),
                "rows": rows,
            }
            for kind, rows in sorted(weekly.items())
        ],
        "criteria_chart": agreement_bars(
            [f"{c['kind']} v{c['version']} {c['criterion']}" for c in criteria],
            [("Krippendorff's alpha", [c.get("alpha") for c in criteria])],
            "Alpha per criterion",
        ),
        "versions": versions,
        "version_table": version_table,
        "annotator_sections": annotator_sections,
        "reliability_as_of": _stamp(data.get("reliability_as_of")),  # the Dawid-Skene fit's (refit.py)
        "drift": drift.sections(data.get("annotator_weekly")),
        "gold": data.get("gold", []),  # gold accuracy as the stored report computed it
    }


def _stamp(iso: str | None):
    try:
        return datetime.fromisoformat(iso) if iso else None
    except ValueError:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def agreement(request, pk):
    project = project_for(request, pk, "view_dashboard")
    notice = ""
    if request.method == "POST":
        full = request.POST.get("full") == "on"
        done = quality_tasks.request_recompute(project=project, actor=request.user, full=full)
        # queued: no notice, the progress bar (polled) says what happens; a notice would outlive it
        notice = "" if done.outcome == "queued" else "Agreement recomputed."
        if not is_htmx(request):
            if notice:
                messages.success(request, notice)
            return redirect("annotation:agreement", pk=project.pk)
    report = quality_selectors.latest_agreement_report(project, with_data=False)
    context = {
        "report": report,
        "notice": notice,
        "report_html": _report_html(project, report),
        **recompute_context(recomputes.latest(project, "agreement"), "Agreement report"),
    }
    return page(request, project, "annotation/agreement.html", "annotation/agreement_panel.html", context)


def recompute_context(rec, label: str) -> dict:
    return {"recompute": rec, "percent": recomputes.percent(rec) if rec else 0, "label": label}


@login_required
def recompute_progress(request, pk):
    """The polled progress partial of a background recompute; it stops polling once the run ended."""
    rec = object_for(request, Recompute.objects, pk, "view_dashboard")
    return render(request, "annotation/_recompute_progress.html", recompute_context(rec, rec.what))


def _report_html(project, report) -> str:
    """The stored report's figures as markup, rendered once per report: a page view then reads one
    row and no report data (~1 MB of JSON; 0.43 MB of markup at 100 annotators of two kinds, 1.7 MB
    before the pairwise and drift heatmaps: benchmarks/README.md)."""
    if report is None:
        return ""
    # v2: the markup with the pairwise heatmap (a deploy never serves a previous template's markup)
    key = f"tuneloop:agreement-report:v2:{project.pk}:{report.pk}:{report.computed_at.timestamp()}"
    return mark_safe(  # noqa: S308 - markup rendered by our own template (autoescaped)
        page_cache.rendered(
            key,
            lambda: render_to_string(
                "annotation/_agreement_report.html",
                {**_dashboard_context(project, report), "project": project},
            ),
        )
    )


CSV_TABLES = {
    "annotators": [
        "kind", "username", "judgments", "kappa_consensus", "agree_consensus", "kappa_gold",
        "gold_accuracy", "gold_items", "reliability", "weight",
    ],
    "criteria": ["kind", "version", "criterion", "type", "level", "alpha", "percent", "items", "judgments"],
    "decisions": ["kind", "version", "alpha", "fleiss", "percent", "items", "judgments"],
    "weekly": ["kind", "week", "alpha", "percent", "items"],
    "drift": ["kind", "username", "week", "agree", "items"],
    "pairwise": ["kind", "username", "other", "kappa", "items"],
    "strength": ["version", "alpha", "items"],
}  # fmt: skip


def _csv_cell(value):
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


@login_required
def agreement_csv(request, pk, table):
    project = project_for(request, pk, "view_dashboard")
    if table not in CSV_TABLES:
        raise Http404("No such table.")
    report = quality_selectors.latest_agreement_report(project)
    data = report.data if report else {}
    if table == "annotators":
        rows = [{"kind": kind, **r} for kind, rs in data.get("annotators", {}).items() for r in rs]
    elif table == "pairwise":
        rows = pairwise.csv_rows(data.get("annotators", {}))
    elif table == "drift":
        rows = [{"kind": kind, **r} for kind, rs in data.get("annotator_weekly", {}).items() for r in rs]
    else:
        rows = data.get(table, [])
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="project-{project.pk}-{table}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_TABLES[table])
    for row in rows:
        writer.writerow([_csv_cell(row.get(col)) for col in CSV_TABLES[table]])
    return response


# --- disagreements and adjudication ---------------------------------------------------------


@login_required
def disagreements(request, pk):
    project = project_for(request, pk, "adjudicate")
    items = quality_selectors.disagreements(project)[:200]
    context = {"items": items, "gaps": quality_selectors.guideline_gaps(project, limit=10)}
    return page(
        request, project, "annotation/adjudication_queue.html", "annotation/adjudication_list.html", context
    )


def _item_for(request, item_id):
    item = object_for(request, Item.objects, item_id, "adjudicate")
    return item, item.project


def _adjudication_context(item, *, values=None, errors=None, notice=""):
    values = values or {}
    ctx = quality_selectors.adjudication_context(item) if item is not None else {}
    return {
        **ctx,
        "values": values,
        "errors": errors or {},
        "notice": notice,
        "decisions": AdjudicationDecision.choices,
        "categories": AdjudicationCategory.choices,
        "sft_decisions": Decision.choices,
        "final_template": registry.get(item.kind).final_template if item is not None else "",
        "remaining": quality_selectors.disagreements(item.project).count() if item is not None else 0,
    }


def _render_panel(request, project, item, status=200, **kwargs):
    context = _adjudication_context(item, **kwargs)
    response = page(
        request, project, "annotation/adjudicate.html", "annotation/adjudication_panel.html", context, status
    )
    if item is not None and is_htmx(request) and status == 200:
        response["HX-Push-Url"] = reverse("annotation:adjudicate", args=[item.pk])
    return response


@login_required
@require_http_methods(["GET", "POST"])
def adjudicate(request, pk):
    item, project = _item_for(request, pk)
    if request.method == "GET":
        return _render_panel(request, project, item)
    post = request.POST
    values = {k: v for k, v in post.items() if k != "csrfmiddlewaretoken"}  # redisplayed on an error
    values.update({k: post.get(k, "") for k in ("decision", "judgment", "reason", "category", "more")})
    decision = values["decision"]
    try:
        done = adjudication.adjudicate(
            item=item,
            lead=request.user,
            decision=decision,
            reason=values["reason"],
            category=values["category"],
            # each group of fields is read only for its own decisions (without JS the page shows them all)
            judgment_id=(values["judgment"] or None) if decision == AdjudicationDecision.PICK else None,
            final=registry.get(item.kind).final_from_form(post, item)
            if decision in FINAL_ANSWER_DECISIONS
            else None,
            more=_int(values["more"], 1) if decision == AdjudicationDecision.MORE else 1,
        )
    except ServiceError as exc:
        return _render_panel(
            request,
            project,
            item,
            status=exc.status,
            values=values,
            errors=exc.errors or {"__all__": [exc.message]},
        )
    notice = (
        f"Item #{item.pk}: {done.get_decision_display().lower()} ({done.get_category_display().lower()})."
    )
    nxt = quality_selectors.next_disagreement(project, after_id=item.pk)
    if not is_htmx(request):
        messages.success(request, notice)
        if nxt is None:
            return redirect("annotation:disagreements", pk=project.pk)
        return redirect("annotation:adjudicate", pk=nxt.pk)
    if nxt is None:
        context = {"items": [], "gaps": [], "notice": notice}
        response = page(
            request,
            project,
            "annotation/adjudication_queue.html",
            "annotation/adjudication_list.html",
            context,
        )
        response["HX-Push-Url"] = reverse("annotation:disagreements", args=[project.pk])
        return response
    return _render_panel(request, project, nxt, notice=notice)


FINAL_ANSWER_DECISIONS = (AdjudicationDecision.OVERRIDE, AdjudicationDecision.EDIT_GOLD)


def _int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@login_required
@require_POST
def requeue_outdated(request, pk):
    project = project_for(request, pk, "adjudicate")
    try:
        result = adjudication.requeue_outdated(project=project, actor=request.user)
        messages.success(
            request,
            f"Re-queued {result['items']} item(s) for {result['slots']} fresh judgment(s) under v{result['version']}.",
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("annotation:rubric", pk=project.pk)


# --- items and gold -------------------------------------------------------------------------


@login_required
@require_POST
def item_gold(request, pk):
    """Mark an item gold with its known answer (the form of the item kind's gold_template), or unmark."""
    item, project = _item_for(request, pk)
    if request.POST.get("unset"):
        answer, is_gold = None, False
    else:
        answer, is_gold = registry.get(item.kind).gold_from_form(request.POST, item), True
    try:
        adjudication.set_gold(item=item, actor=request.user, answer=answer, is_gold=is_gold)
        messages.success(request, f"Item #{item.pk} {'is now gold' if is_gold else 'is no longer gold'}.")
    except ServiceError as exc:
        messages.error(request, f"Item #{item.pk}: {exc.message}")
    return redirect(f"{reverse('annotation:items', args=[project.pk])}?{request.GET.urlencode()}")
