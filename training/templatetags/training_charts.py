"""Server-side SVG line charts for run metrics (no JS library): polyline points computed here."""

from django import template

register = template.Library()


@register.inclusion_tag("training/_line_chart.html")
def line_chart(points, title="", width=520, height=180, chart_id="chart", zero_line=False):
    """`points`: [(step, value), ...] in step order. Renders axes, min/max labels and a polyline."""
    points = [(float(x), float(y)) for x, y in (points or [])]
    pad_l, pad_r, pad_t, pad_b = 48, 10, 10, 22
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    context = {"title": title, "width": width, "height": height, "chart_id": chart_id, "n": len(points)}
    if not points:
        return {**context, "empty": True}
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if zero_line:
        y0, y1 = min(y0, 0.0), max(y1, 0.0)
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    if x1 == x0:
        x1 = x0 + 1

    def sx(x):
        return round(pad_l + (x - x0) / (x1 - x0) * inner_w, 1)

    def sy(y):
        return round(pad_t + (1 - (y - y0) / (y1 - y0)) * inner_h, 1)

    return {
        **context,
        "empty": False,
        "polyline": " ".join(f"{sx(x)},{sy(y)}" for x, y in points),
        "last": {"x": sx(xs[-1]), "y": sy(ys[-1]), "step": int(xs[-1]), "value": ys[-1]},
        "left": pad_l,
        "right": width - pad_r,
        "top": pad_t,
        "bottom": height - pad_b,
        "y_min": f"{y0:.4g}",
        "y_max": f"{y1:.4g}",
        "x_min": int(x0),
        "x_max": int(x1),
        "zero_y": sy(0.0) if zero_line and y0 <= 0 <= y1 else None,
        "label_y": height - 6,
    }


@register.inclusion_tag("training/_histogram.html")
def histogram(bins, title="", width=420, height=120):
    """`bins`: [{"lo", "hi", "count"}] (as in a snapshot's quality report) as SVG bars."""
    bins = list(bins or [])
    peak = max((b["count"] for b in bins), default=0) or 1
    n = max(len(bins), 1)
    bar_w = max(2, (width - 4 * n) // n)
    bars = [
        {
            "x": i * (bar_w + 4),
            "h": round((height - 16) * b["count"] / peak),
            "y": height - round((height - 16) * b["count"] / peak),
            **b,
        }
        for i, b in enumerate(bins)
    ]
    return {"bars": bars, "bar_w": bar_w, "width": n * (bar_w + 4), "height": height, "title": title}
