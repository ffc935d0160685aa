/* Tuneloop charts: draws every <figure data-chart="SPEC-ID"> from the JSON spec in <script id="SPEC-ID">
 * (built by annotation/charts.py, written by the {% chart %} tag) with the vendored Chart.js.
 *
 * Specs are data: labels are user text and only ever reach the canvas as text (axis ticks, legend,
 * tooltips); nothing here writes HTML. After an htmx swap the new content is scanned again: a figure
 * kept by hx-preserve (live charts, e.g. a training run's curves) has its chart updated in place from
 * the spec the swap brought, without a new canvas. Other scripts call
 *   TuneloopCharts.update("chart-id", spec)   to draw new data,
 *   TuneloopCharts.get("chart-id")            for the Chart.js instance,
 *   TuneloopCharts.scan(element)              after inserting charts by other means.
 */
(function () {
  "use strict";

  const PALETTE = ["#3b73e0", "#1b7a43", "#d9822b", "#b0306a", "#6b4fbb", "#0f8b8d", "#8a6d00", "#5a6472"];
  const GRID = "#e3e7ee";
  const ZERO = "#7a8494";
  const LABEL_MAX = 32;

  function color(i, alpha) {
    const hex = PALETTE[i % PALETTE.length];
    if (alpha === undefined) return hex;
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  function short(text) {
    text = String(text);
    return text.length > LABEL_MAX ? text.slice(0, LABEL_MAX - 1) + "…" : text;
  }

  function num(v, percent) {
    if (v === null || v === undefined) return "–";
    if (percent) return `${Math.round(v * 1000) / 10}%`;
    const a = Math.abs(v);
    return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(2) : String(Math.round(v * 1e4) / 1e4);
  }

  function scale(axis, extra) {
    const s = {
      type: axis.type === "category" ? "category" : "linear",
      title: { display: Boolean(axis.title), text: axis.title, font: { size: 13, weight: "600" } },
      ticks: { font: { size: 12 } },
      grid: { color: GRID },
    };
    if (axis.type === "category") {
      if (axis.labels) s.labels = axis.labels;
      s.ticks.callback = function (value) {
        return short(this.getLabelForValue(value));
      };
    } else {
      if (axis.min !== null && axis.min !== undefined) s.min = axis.min;
      if (axis.max !== null && axis.max !== undefined) s.max = axis.max;
      if (axis.percent) s.ticks.callback = (value) => num(value, true);
      if (axis.integer) s.ticks.precision = 0;
      if (axis.zero) {
        s.suggestedMin = 0;
        s.suggestedMax = 0;
        s.grid.color = (ctx) => (ctx.tick && ctx.tick.value === 0 ? ZERO : GRID);
        s.grid.lineWidth = (ctx) => (ctx.tick && ctx.tick.value === 0 ? 1.5 : 1);
      }
    }
    return Object.assign(s, extra || {});
  }

  function baseOptions(spec, datasets) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "nearest", intersect: false },
      plugins: {
        legend: { display: datasets > 1, labels: { font: { size: 13 }, boxWidth: 14 } },
        tooltip: { titleFont: { size: 13 }, bodyFont: { size: 13 }, callbacks: {} },
      },
    };
  }

  function lineConfig(spec) {
    const many = spec.series.some((s) => s.points.length > 80);
    const datasets = spec.series.map((s, i) => ({
      label: s.label,
      data: s.points.map((p) => ({ x: p[0], y: p[1] })),
      borderColor: color(i),
      backgroundColor: color(i),
      borderDash: s.dashed ? [6, 4] : [],
      borderWidth: 2,
      pointRadius: many ? 0 : 3,
      pointHoverRadius: 5,
      spanGaps: false,
      tension: 0,
    }));
    const options = baseOptions(spec, datasets.length);
    options.scales = { x: scale(spec.x), y: scale(spec.y) };
    options.interaction = { mode: "index", intersect: false };
    options.plugins.tooltip.callbacks.label = (ctx) => `${ctx.dataset.label}: ${num(ctx.parsed.y)}`;
    return { type: "line", data: { datasets }, options };
  }

  function barConfig(spec, histogram) {
    const datasets = spec.series.map((d, i) => ({
      label: d.label,
      data: d.values,
      backgroundColor: color(i, 0.85),
      borderColor: histogram ? "#ffffff" : color(i),
      borderWidth: histogram ? 1 : 0,
      categoryPercentage: histogram ? 1 : 0.8,
      barPercentage: histogram ? 1 : 0.9,
      maxBarThickness: 48,
    }));
    const horizontal = Boolean(spec.horizontal);
    const options = baseOptions(spec, datasets.length);
    options.indexAxis = horizontal ? "y" : "x";
    options.scales = { x: scale(spec.x), y: scale(spec.y) };
    options.interaction = { mode: "index", axis: horizontal ? "y" : "x", intersect: false };
    const valueAxis = horizontal ? spec.x : spec.y;
    options.plugins.tooltip.callbacks.label = (ctx) =>
      `${ctx.dataset.label}: ${num(horizontal ? ctx.parsed.x : ctx.parsed.y, valueAxis.percent)}`;
    return { type: "bar", data: { labels: spec.labels, datasets }, options };
  }

  function intervalConfig(spec) {
    const rows = spec.rows;
    const datasets = [
      {
        type: "bar",
        label: "95% interval",
        data: rows.map((r) => (r.low === null ? null : [r.low, r.high])),
        backgroundColor: color(0, 0.22),
        borderColor: color(0),
        borderWidth: 1,
        barPercentage: 0.45,
        order: 2,
      },
      {
        type: "line",
        label: "estimate",
        data: rows.map((r) => r.estimate),
        showLine: false,
        pointRadius: 6,
        pointHoverRadius: 8,
        backgroundColor: "#1c3f91",
        borderColor: "#ffffff",
        borderWidth: 1.5,
        order: 1,
      },
    ];
    const options = baseOptions(spec, 2);
    options.indexAxis = "y";
    options.scales = { x: scale(spec.x), y: scale(spec.y) };
    options.interaction = { mode: "index", axis: "y", intersect: false };
    options.plugins.tooltip.callbacks.label = (ctx) => {
      const r = rows[ctx.dataIndex];
      if (ctx.dataset.type === "bar") return r.low === null ? "no interval" : `95% interval: ${num(r.low)} to ${num(r.high)}`;
      return `${spec.x.title || "estimate"}: ${num(r.estimate)}`;
    };
    return { type: "bar", data: { labels: rows.map((r) => r.label), datasets }, options };
  }

  function shadeColor(v, value) {
    if (v === null || v === undefined) return "#f3f4f6";
    const lo = value.min === null ? 0 : value.min;
    const hi = value.max === null ? 1 : value.max;
    if (value.mid !== null && value.mid !== undefined) {
      const mid = value.mid;
      const t = v >= mid ? (v - mid) / (hi - mid || 1) : (mid - v) / (mid - lo || 1);
      const a = Math.min(1, Math.max(0, t)) * 0.8 + 0.05;
      return v >= mid ? `rgba(46, 160, 67, ${a})` : `rgba(215, 58, 73, ${a})`;
    }
    const t = Math.min(1, Math.max(0, (v - lo) / (hi - lo || 1)));
    return `rgba(59, 115, 224, ${t * 0.85 + 0.05})`;
  }

  const cellText = {
    id: "tuneloopCellText",
    afterDatasetsDraw(chart) {
      if (chart.config.type !== "matrix") return;
      const ctx = chart.ctx;
      const meta = chart.getDatasetMeta(0);
      const percent = chart.$tuneloopSpec && chart.$tuneloopSpec.value.percent;
      ctx.save();
      ctx.font = "600 13px " + Chart.defaults.font.family;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      meta.data.forEach((el, i) => {
        const raw = chart.data.datasets[0].data[i];
        if (!raw || raw.v === null || raw.v === undefined) return;
        const p = el.getCenterPoint();
        ctx.fillStyle = "#111827";
        ctx.fillText(num(raw.v, percent), p.x, p.y); // canvas text, never markup
      });
      ctx.restore();
    },
  };

  // A compact spec (large matrices) has the values as rows of numbers instead of one object a cell.
  function heatmapCells(spec) {
    if (!spec.values) return spec.cells.map((c) => ({ x: c.column, y: c.row, v: c.value, s: c.shade }));
    const cells = [];
    spec.y.labels.forEach((row, i) =>
      spec.x.labels.forEach((column, j) => {
        const v = (spec.values[i] || [])[j];
        cells.push({ x: column, y: row, v: v === undefined ? null : v, s: v === undefined ? null : v });
      }),
    );
    return cells;
  }

  function heatmapConfig(spec) {
    const cols = spec.x.labels.length || 1;
    const rows = spec.y.labels.length || 1;
    const gap = spec.values && rows > 30 ? 1 : 2; // compact and large: thinner gaps between cells
    const datasets = [
      {
        label: spec.value.title,
        data: heatmapCells(spec),
        backgroundColor: (ctx) => shadeColor(ctx.raw && ctx.raw.s, spec.value),
        borderColor: "#ffffff",
        borderWidth: gap - 1,
        width: ({ chart }) => ((chart.chartArea || {}).width || 0) / cols - gap,
        height: ({ chart }) => ((chart.chartArea || {}).height || 0) / rows - gap,
      },
    ];
    const options = baseOptions(spec, 1);
    options.plugins.legend.display = false;
    options.interaction = { mode: "nearest", intersect: true };
    options.scales = {
      x: scale(spec.x, { offset: true, grid: { display: false }, position: "top" }),
      y: scale(spec.y, { offset: true, grid: { display: false }, reverse: false }), // first row on top
    };
    options.plugins.tooltip.callbacks.title = (items) => (items.length ? `${items[0].raw.y} → ${items[0].raw.x}` : "");
    options.plugins.tooltip.callbacks.label = (ctx) => `${spec.value.title}: ${num(ctx.raw.v, spec.value.percent)}`;
    // a compact spec (cell_text false) prints no number in its cells: too small; tooltips say it
    return { type: "matrix", data: { datasets }, options, plugins: spec.cell_text === false ? [] : [cellText] };
  }

  function scatterConfig(spec) {
    const datasets = spec.series.map((s, i) => ({
      label: s.label,
      data: s.points.map((p) => ({ x: p[0], y: p[1], text: p.length > 2 ? p[2] : "" })),
      backgroundColor: color(i, 0.7),
      borderColor: color(i),
      pointRadius: 4,
      pointHoverRadius: 6,
    }));
    const options = baseOptions(spec, datasets.length);
    options.interaction = { mode: "nearest", intersect: true };
    options.scales = { x: scale(spec.x), y: scale(spec.y) };
    options.plugins.tooltip.callbacks.label = (ctx) =>
      `${ctx.raw.text ? short(ctx.raw.text) + " " : ""}(${num(ctx.parsed.x)}, ${num(ctx.parsed.y)})`;
    return { type: "scatter", data: { datasets }, options };
  }

  const BUILDERS = {
    line: lineConfig,
    bar: (spec) => barConfig(spec, false),
    histogram: (spec) => barConfig(spec, true),
    interval: intervalConfig,
    heatmap: heatmapConfig,
    scatter: scatterConfig,
  };

  function specScript(figure) {
    const id = figure.dataset.chart;
    const next = figure.nextElementSibling;
    return next && next.id === id ? next : document.getElementById(id);
  }

  function draw(figure) {
    const script = specScript(figure);
    const canvas = figure.querySelector("canvas");
    if (!script || !canvas || typeof Chart === "undefined") return null;
    const text = script.textContent;
    const box = figure.querySelector(".chart-box");
    // the spec's height, set here: the CSP allows no inline style attribute in the template
    if (box && box.dataset.height) box.style.height = `${box.dataset.height}px`;
    const existing = Chart.getChart(canvas);
    if (existing && figure.$tuneloopText === text) return existing;
    const spec = JSON.parse(text);
    const build = BUILDERS[spec.kind];
    if (!build) throw new Error(`unknown chart kind ${spec.kind}`);
    const config = build(spec);
    let chart = existing;
    if (existing && existing.config.type === config.type && existing.$tuneloopSpec.kind === spec.kind) {
      // In place: same canvas and chart, new data and scales; no animation, so no flicker.
      const old = existing.data.datasets;
      config.data.datasets.forEach((d, i) => (old[i] ? Object.assign(old[i], d) : old.push(d)));
      old.length = config.data.datasets.length;
      existing.data.labels = config.data.labels;
      existing.options = config.options;
      existing.$tuneloopSpec = spec;
      existing.update("none");
    } else {
      if (existing) existing.destroy();
      chart = new Chart(canvas, config);
      chart.$tuneloopSpec = spec;
      chart.update();
    }
    const label = `${spec.title}: ${spec.summary}`;
    canvas.setAttribute("aria-label", label);
    canvas.textContent = label;
    const empty = figure.querySelector(".chart-empty");
    if (empty) empty.hidden = !spec.empty;
    figure.dataset.points = String(countPoints(spec));
    figure.$tuneloopText = text;
    return chart;
  }

  function countPoints(spec) {
    if (spec.kind === "line" || spec.kind === "scatter")
      return spec.series.reduce((n, s) => n + s.points.filter((p) => p[1] !== null).length, 0);
    if (spec.kind === "bar" || spec.kind === "histogram")
      return spec.series.reduce((n, d) => n + d.values.filter((v) => v !== null).length, 0);
    if (spec.kind === "interval") return spec.rows.length;
    if (spec.values) return spec.values.reduce((n, row) => n + row.filter((v) => v !== null).length, 0);
    return spec.cells.filter((c) => c.value !== null).length;
  }

  function scan(root) {
    root = root || document;
    const figures = [];
    if (root.matches && root.matches("figure[data-chart]")) figures.push(root);
    if (root.querySelectorAll) figures.push(...root.querySelectorAll("figure[data-chart]"));
    figures.forEach((figure) => {
      try {
        draw(figure);
      } catch (err) {
        console.error("chart", figure.id, err);
      }
    });
  }

  function figureFor(id) {
    const figure = document.getElementById(id);
    if (!figure || !figure.matches("figure[data-chart]")) throw new Error(`no chart #${id}`);
    return figure;
  }

  function update(id, spec) {
    const figure = figureFor(id);
    specScript(figure).textContent = JSON.stringify(spec); // JSON as text content, never parsed as markup
    return draw(figure);
  }

  function get(id) {
    return Chart.getChart(figureFor(id).querySelector("canvas")) || null;
  }

  // <details> that an htmx swap replaces (a chart's table of numbers) stay open if they were.
  let openDetails = [];
  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    openDetails = target ? [...target.querySelectorAll("details[open][id]")].map((d) => d.id) : [];
    if (target && target.matches("details[open][id]")) openDetails.push(target.id);
  });
  document.addEventListener("htmx:afterSettle", () => {
    openDetails.forEach((id) => {
      const d = document.getElementById(id);
      if (d && d.tagName === "DETAILS") d.open = true;
    });
    openDetails = [];
  });

  if (typeof Chart !== "undefined") {
    const family = getComputedStyle(document.body || document.documentElement).fontFamily;
    if (family) Chart.defaults.font.family = family;
    Chart.defaults.font.size = 13;
    Chart.defaults.color = "#3b4452";
  }

  document.addEventListener("htmx:load", (event) => scan(event.target));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => scan(document));
  else scan(document);

  window.TuneloopCharts = { scan, update, get, draw };
})();
