"""Template helpers: sanitised Markdown, field-error lookup and a server-side SVG bar chart."""

import markdown as md
import nh3
from django import template
from django.utils.safestring import mark_safe

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


@register.inclusion_tag("annotation/_bar_chart.html")
def bar_chart(rows, value_key="count", label_key="hour", height=120, bar_width=18, gap=4):
    """An inline SVG bar chart computed on the server (no JS library needed)."""
    rows = list(rows or [])
    peak = max((r[value_key] for r in rows), default=0) or 1
    top = 14
    bars = []
    for i, row in enumerate(rows):
        value = row[value_key]
        h = round((height - top) * value / peak)
        label = str(row[label_key])
        bars.append(
            {
                "x": i * (bar_width + gap),
                "y": height - h,
                "h": h,
                "value": value,
                "label": label[11:16] if len(label) >= 16 else label,
                "full_label": label,
            }
        )
    width = max(len(rows) * (bar_width + gap) - gap, bar_width)
    return {
        "bars": bars,
        "width": width,
        "height": height,
        "bar_width": bar_width,
        "peak": peak if rows else 0,
        "total": sum(r[value_key] for r in rows),
        "text_offset": bar_width / 2,
    }
