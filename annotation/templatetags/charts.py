"""`{% chart spec id="..." %}`: a chart container, its canvas and its spec (annotation/core/charts.py).

The spec travels as JSON in a `<script type="application/json">` written by Django's `json_script`
(which escapes <, > and &), never as markup or built JavaScript; static/js/charts.js draws it.
"""

from django import template

from annotation.core import charts

register = template.Library()


@register.inclusion_tag("annotation/_chart.html")
def chart(spec, id, caption="", table=False, live=False, wide=True):  # noqa: A002 - reads as HTML
    """`table`: add the numbers as a table in a <details> (for charts with no table beside them).
    `live`: the container survives htmx swaps (hx-preserve) and charts.js updates the drawn chart
    in place from the spec script that the swap brings; `wide`: the chart spans the full width."""
    return {
        "spec": spec,
        "id": id,
        "spec_id": f"{id}-spec",
        "caption": caption or spec.get("title", ""),
        "table": charts.table(spec) if table else None,
        "live": live,
        "wide": wide,
    }
