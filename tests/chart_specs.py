"""Read the chart specs a page carries (the `{% chart %}` tag writes each as JSON with json_script)."""

import json
from html.parser import HTMLParser


class _Specs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.figures, self.specs, self._in = {}, {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure" and "data-chart" in attrs:
            self.figures[attrs["id"]] = attrs
        if tag == "script" and attrs.get("type") == "application/json":
            self._in, self.specs[attrs["id"]] = attrs["id"], ""

    def handle_data(self, data):
        if self._in:
            self.specs[self._in] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._in = None


def chart_specs(html: str) -> dict[str, dict]:
    """{figure id: spec} for every chart figure in the page; fails if a figure has no spec."""
    parser = _Specs()
    parser.feed(html)
    out = {}
    for chart_id, attrs in parser.figures.items():
        assert attrs["data-chart"] in parser.specs, f"chart {chart_id} has no spec"
        out[chart_id] = json.loads(parser.specs[attrs["data-chart"]])
    return out


def chart_spec(html: str, chart_id: str) -> dict:
    specs = chart_specs(html)
    assert chart_id in specs, f"no chart {chart_id!r} in the page (charts: {sorted(specs)})"
    return specs[chart_id]
