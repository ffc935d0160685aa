"""The loop demo's report: the figures against the issue's targets, the JSON written to the output
folder (`loop-report.json`, schema "tuneloop.loop-report/1", beside the eval report itself in
`eval-report.json`), the printed summary and the plots (`loop.png`)."""

from __future__ import annotations

import json
from pathlib import Path

from training.models import RunMetric

from . import rubric

SCHEMA = "tuneloop.loop-report/1"


def _get(d, *path):
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def build(state, options, *, wall_seconds: float) -> dict:
    run, eval_run = state.run, state.eval_run
    summary = eval_run.report["summary"]
    results = eval_run.report.get("results") or {}
    exact = rubric.rubric_win_rate(
        results.get("model:generations") or [], results.get("base:generations") or []
    )
    baseline = rubric.rubric_win_rate(
        results.get("baseline:generations") or [], results.get("base:generations") or []
    )
    curves = {}
    for name, step, value in RunMetric.objects.filter(run=run).values_list("name", "step", "value"):
        curves.setdefault(name, []).append((step, value))
    figures = {
        "wall_minutes": round(wall_seconds / 60, 2),
        "preference_accuracy": _get(summary, "model", "preference", "rate"),
        "preference_accuracy_base": _get(summary, "base", "preference", "rate"),
        "preference_accuracy_baseline": _get(summary, "baseline", "preference", "rate"),
        "preference_accuracy_interval": [_get(summary, "model", "preference", k) for k in ("low", "high")],
        "held_out_pairs": _get(summary, "model", "preference", "n"),
        "rubric_win_rate": exact["win_rate"],
        "rubric_win_rate_interval": [exact["low"], exact["high"]],
        "reviewers_win_rate": _get(summary, "human", "win_rate"),
        "reviewers_win_rate_interval": [_get(summary, "human", k) for k in ("win_rate_low", "win_rate_high")],
        "baseline_rubric_win_rate": baseline["win_rate"],
        "forgetting_change_points": _get(summary, "comparison", "forgetting", "change_points"),
        "forgetting_tolerance": _get(summary, "comparison", "forgetting", "tolerance"),
        "forgetting_flag": _get(summary, "comparison", "forgetting", "flag"),
        "refusal": {arm: _get(summary, arm, "safety", "refusal", "rate") for arm in ("model", "base")},
        "over_refusal": {arm: _get(summary, arm, "safety", "over_refusal", "rate") for arm in ("model", "base")},
    }  # fmt: skip
    return {
        "schema": SCHEMA,
        "options": {k: v for k, v in vars(options).items()},
        "project": {"id": state.project.pk, "name": state.project.name},
        "stages": state.timings,
        "counts": state.counts,
        "snapshot": state.snapshot.pk,
        "training_run": {"id": run.pk, "steps": run.step, "loss": run.loss, "curves": curves},
        "model_version": {"id": state.version.pk, "name": state.version.name},
        "eval_run": eval_run.pk,
        "rubric": {"closing_line": rubric.CLOSING_LINE, "instructions": rubric.RUBRIC_INSTRUCTIONS},
        "rubric_win_rate": exact,
        "baseline_rubric_win_rate": baseline,
        "figures": figures,
        "targets": rubric.check_targets(figures),
        "gates": state.gates,
        "promoted": state.promoted,
    }


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def text(report: dict, eval_summary: dict) -> str:
    f = report["figures"]
    lines = ["", "Evaluation report (held-out pairs; rates with Wilson 95% intervals)"]
    lines.append(f"{'':26}{'tuned':>22}{'base':>22}{'prompting baseline':>22}")

    def cell(arm, *path):
        value = _get(eval_summary, arm, *path)
        if isinstance(value, dict) and "rate" in value:
            if value["rate"] is None:
                return "–"
            return f"{_pct(value['rate'])} [{_pct(value['low'])}, {_pct(value['high'])}]"
        return "–" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value))

    for label, path in (
        ("preference accuracy", ("preference",)),
        ("forgetting suite", ("forgetting",)),
        ("safety: refusal", ("safety", "refusal")),
        ("safety: over-refusal", ("safety", "over_refusal")),
        ("perplexity", ("perplexity",)),
    ):
        lines.append(
            f"{label:26}" + "".join(f"{cell(arm, *path):>22}" for arm in ("model", "base", "baseline"))
        )
    win = report["rubric_win_rate"]
    lines += [
        "",
        f"Rubric win rate of fresh generations, tuned vs base: {_pct(win['win_rate'])} "
        f"[{_pct(win['low'])}, {_pct(win['high'])}] over {win['n']} prompts "
        f"({win['wins']} wins, {win['ties']} ties, {win['losses']} losses; the closing line in "
        f"{win['with_line']} tuned vs {win['base_with_line']} base answers)",
        f"Reviewers' blind win rate (campaign): {_pct(f['reviewers_win_rate'])} "
        f"[{_pct(f['reviewers_win_rate_interval'][0])}, {_pct(f['reviewers_win_rate_interval'][1])}]",
        f"Prompting baseline's rubric win rate vs base: {_pct(f['baseline_rubric_win_rate'])}",
        f"Forgetting change: {f['forgetting_change_points']} points (tolerance {f['forgetting_tolerance']})",
        "",
        "Targets",
    ]
    for t in report["targets"]:
        value = t["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        lines.append(f"  [{'met' if t['met'] else 'MISSED':>6}] {t['name']}: {shown} (target {t['target']})")
    lines.append("")
    lines.append("Gates: " + ("passed" if report["gates"].get("passed") else "failed"))
    for c in report["gates"].get("checks", []):
        lines.append(
            f"  [{'pass' if c['passed'] else 'FAIL':>4}] {c['name']}: {c['value']} (threshold {c['threshold']})"
        )
    lines.append(f"Promoted: {'yes' if report['promoted'] else 'no'}")
    return "\n".join(lines)


def write(report: dict, eval_summary: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "loop-report.json", out / "eval-report.json"]
    paths[0].write_text(json.dumps(report, indent=2, default=str))
    paths[1].write_text(json.dumps(eval_summary, indent=2, default=str))
    plot = plot_figures(report, eval_summary, out / "loop.png")
    return paths + ([plot] if plot else [])


def _yerr(value: float, low: float, high: float) -> list[list[float]]:
    """Error bar lengths below and above; never negative (a Wilson bound at a rate of 0 or 1 can sit
    a rounding error on the wrong side of it, and matplotlib refuses negative lengths)."""
    return [[max(0.0, value - low)], [max(0.0, high - value)]]


def plot_figures(report: dict, eval_summary: dict, path: Path) -> Path | None:
    """Four panels: held-out preference accuracy per arm, the training curves, the win rates, the
    stage timings. None when matplotlib is missing."""
    try:
        import matplotlib  # deferred: heavy optional dependency (matplotlib)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # deferred: heavy optional dependency (matplotlib)
    except ImportError:
        return None
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax = axes[0][0]
    arms = [("base", "base"), ("baseline", "prompting\nbaseline"), ("model", "tuned")]
    for i, (arm, _label) in enumerate(arms):
        pref = _get(eval_summary, arm, "preference") or {}
        if pref.get("rate") is None:
            continue
        err = _yerr(pref["rate"], pref["low"], pref["high"])
        ax.bar(i, pref["rate"], yerr=err, capsize=6, color=("#999", "#7aa6d6", "#2b6cb0")[i])
    ax.axhline(rubric.TARGETS["preference_accuracy"], color="#c53030", ls="--", label="target")
    ax.set_xticks(range(len(arms)), [a[1] for a in arms])
    ax.set_ylim(0, 1)
    ax.set_title("Held-out preference accuracy (Wilson 95%)")
    ax.legend(loc="lower right")
    ax = axes[0][1]
    curves = report["training_run"]["curves"]
    for name in ("loss", "rewards/accuracies", "rewards/margins"):
        if curves.get(name):
            steps, values = zip(*sorted(curves[name]), strict=True)
            ax.plot(steps, values, marker=".", label=name)
    ax.set_xlabel("step")
    ax.set_title("DPO training")
    ax.legend()
    ax = axes[1][0]
    f = report["figures"]
    bars = [
        ("rubric\n(tuned vs base)", f["rubric_win_rate"], f["rubric_win_rate_interval"]),
        ("reviewers\n(blind campaign)", f["reviewers_win_rate"], f["reviewers_win_rate_interval"]),
        ("prompting baseline\nvs base (rubric)", f["baseline_rubric_win_rate"], [None, None]),
    ]
    for i, (_label, value, (low, high)) in enumerate(bars):
        if value is None:
            continue
        err = None if low is None else _yerr(value, low, high)
        ax.bar(i, value, yerr=err, capsize=6, color="#2f855a")
    ax.axhline(rubric.TARGETS["rubric_win_rate"], color="#c53030", ls="--", label="target")
    ax.axhline(0.5, color="#555", lw=0.8)
    ax.set_xticks(range(len(bars)), [b[0] for b in bars])
    ax.set_ylim(0, 1)
    ax.set_title("Win rate of fresh generations")
    ax.legend(loc="lower right")
    ax = axes[1][1]
    stages = report["stages"]
    ax.barh(range(len(stages)), [s["seconds"] for s in stages], color="#805ad5")
    ax.set_yticks(range(len(stages)), [s["stage"][:38] for s in stages], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title(f"Stages (wall {f['wall_minutes']:.1f} min)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
