"""The annotator's own page ("My work"): their numbers in one project, and nobody else's.

Thin: the facts come from `mywork_facts.gather` (only the caller's rows), the figures from the pure
`mywork.figures`. Every member may see it (their own numbers); outsiders get 404.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from annotation.core import charts
from annotation.core.permissions import can
from annotation.core.web import project_for
from annotation.quality import mywork, mywork_facts


def per_day_chart(rows):
    """Bars: judgments per day (the project's time zone)."""
    return charts.bar(
        [day.isoformat() for day, _ in rows],
        [("judgments", [n for _, n in rows])],
        title="Your judgments per day",
        label_title="day",
        value_title="judgments",
        counts=True,
        height=220,
    )


@login_required
def my_work(request, pk):
    project = project_for(request, pk)
    tz = timezone.get_current_timezone()
    figures = mywork.figures(
        mywork_facts.gather(project, request.user), tz=tz, show_gold=project.show_gold_feedback
    )
    context = {
        "project": project,
        "is_lead": can(request.user, "view_dashboard", project),
        "figures": figures,
        "chart": per_day_chart(figures["per_day"]),
        "tz_name": str(tz),
    }
    return render(request, "annotation/my_work.html", context)
