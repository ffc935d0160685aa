"""Quality sections shown on other apps' pages: guideline gaps and the re-queue button on the rubric page."""

from django import template

from annotation.quality import selectors as quality_selectors

register = template.Library()


@register.inclusion_tag("annotation/adjudication_gaps.html", takes_context=True)
def rubric_quality(context, project):
    """Adjudications tagged "guideline gap" (input for the next version) and the re-queue button."""
    return {
        "project": project,
        "gaps": quality_selectors.guideline_gaps(project),
        "csrf_token": context.get("csrf_token"),
    }
