"""Chart specs for the run and snapshot pages (annotation.core.charts), used with `{% chart %}`:
`{% run_curve loss eval_loss as spec %}{% chart spec id="chart-loss" live=True %}`."""

from django import template

from annotation.core import charts

register = template.Library()


@register.simple_tag
def run_curve(*series, title="", y_title="value", names="", zero_line=False, y_min=None, y_max=None):
    """Metric series ([(step, value), ...] in step order) as lines over the training step; `names`
    (comma-separated) labels each series in the legend. A series after the first with no points yet
    (validation loss before the first evaluation) is left out."""
    labels = [n.strip() for n in names.split(",")] if names else []
    lines = [
        charts.series(labels[i] if i < len(labels) else f"series {i + 1}", points or [])
        for i, points in enumerate(series)
        if i == 0 or points
    ]
    return charts.line(
        lines,
        title=title,
        x_title="step",
        y_title=y_title,
        zero_line=zero_line,
        x_integer=True,
        y_min=y_min,
        y_max=y_max,
        height=280,
    )


@register.simple_tag
def length_histogram(bins, field):
    """A snapshot quality report's length bins ({"lo", "hi", "count"}) for one field."""
    return charts.histogram(
        bins, title=f"{field}: length in characters", x_title="characters", y_title="rows"
    )
