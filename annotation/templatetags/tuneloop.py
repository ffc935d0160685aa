"""Template helpers: sanitised Markdown, field-error lookup, audit details (charts: the `charts` tag
library)."""

import markdown as md
import nh3
from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from annotation.core import broker
from annotation.core.audit_format import describe

register = template.Library()

SAFE_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "del", "code",
    "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def markdown_to_safe_html(text) -> str:
    """Markdown -> HTML, then sanitised by nh3: safe tags only, `href` (http/https/mailto) on <a> only.

    The one place Markdown is rendered; raw HTML inside the Markdown is stripped by the sanitiser.
    """
    html = md.markdown(str(text or ""), extensions=["fenced_code", "tables", "sane_lists"])
    return nh3.clean(
        html,
        tags=SAFE_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
        strip_comments=True,
    )


@register.filter
def render_markdown(text):
    return mark_safe(markdown_to_safe_html(text))  # noqa: S308 - sanitised by nh3 just above


@register.filter
def errors_for(errors, key):
    """`{{ errors|errors_for:"scores.helpfulness" }}`: the messages for one (dotted) field."""
    if not errors:
        return []
    return errors.get(key, [])


@register.filter
def audit_details(data):
    """An audit event's data as a list of "field: old → new" / "field: value" lines, all escaped."""
    items = []
    for line in describe(data):
        field = format_html('<span class="audit-field">{}</span>: ', line.field) if line.field else ""
        if line.change:
            body = format_html(
                '<del class="audit-old">{}</del> <span aria-label="changed to">→</span> '
                '<ins class="audit-new">{}</ins>',
                line.old,
                line.new,
            )
        else:
            body = format_html("<span>{}</span>", line.value)
        items.append(format_html("<li>{}{}</li>", field, body))
    if not items:
        return ""
    return format_html('<ul class="audit-details">{}</ul>', mark_safe("".join(items)))  # noqa: S308 - each escaped above


@register.inclusion_tag("annotation/_broker_notice.html")
def broker_notice():
    """On pages that offer work only a worker does (training, evaluation, snapshots): says so when the
    broker does not answer (annotation.core.broker.available, a cached probe)."""
    return {"down": not broker.available()}
