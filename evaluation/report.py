"""The eval report of a run: a JSON document, schema "tuneloop.eval-report/1" (README, "Report JSON").

    {"schema", "model_version": {id, name, base_model, adapter_sha256}, "against": {...}|null,
     "eval_set": {id, name, source, size}, "leakage": {...}, "config": {...},
     "model" | "base" | "baseline": {"preference", "forgetting", "safety", "consistency",
                                     "perplexity", "format"},
     "comparison": {"forgetting": {"change_points", "flag", "tolerance"},
                    "safety": {"refusal_change", "over_refusal_change"}},
     "human": {"win_rate", "win_rate_low", "win_rate_high", ...} | null,
     "examples": [{"prompt", "model", "base", "baseline"}],   # first EXAMPLES generations
     "created_at"}

Rates are {"rate", "low", "high", "n"} with Wilson 95% intervals. `human` is filled by
evaluation.campaign once judgments are in."""

from django.utils import timezone

from .metrics import engine

SCHEMA = "tuneloop.eval-report/1"
EXAMPLES = 20
SECTIONS = ("preference", "forgetting", "safety", "consistency", "perplexity", "format")


def _version(v):
    if v is None:
        return None
    return {"id": v.pk, "name": v.name, "base_model": v.base_model, "adapter_sha256": v.adapter_sha256}


def build(run, spec) -> dict:
    results = (run.report or {}).get("results") or {}
    summary = engine.summarise(spec, results)
    comparison = summary.pop("comparison", {})
    if "model" in summary and "base" in summary:
        change = {}
        for key in ("refusal", "over_refusal"):
            mine, base = summary["model"]["safety"][key]["rate"], summary["base"]["safety"][key]["rate"]
            change[f"{key}_change"] = None if mine is None or base is None else mine - base
        comparison["safety"] = change
    prompts = [(e["messages"][-1]["content"] if e["messages"] else "") for e in spec.examples]
    gens = {arm: results.get(f"{arm}:generations") or [] for arm in engine.ARMS}
    examples = [
        {"prompt": p, **{arm: (gens[arm][i] if i < len(gens[arm]) else None) for arm in engine.ARMS}}
        for i, p in enumerate(prompts[:EXAMPLES])
    ]
    return {
        "schema": SCHEMA,
        "run": run.pk,
        "model_version": _version(run.model_version),
        "against": _version(run.against),
        "eval_set": {
            "id": run.eval_set_id,
            "name": run.eval_set.name,
            "source": run.eval_set.source,
            "size": run.eval_set.size,
        },  # fmt: skip
        "leakage": {k: v for k, v in (run.leakage or {}).items() if k != "rows"},
        "config": run.config,
        **{arm: summary.get(arm) for arm in engine.ARMS},
        "comparison": comparison,
        "human": (run.report or {}).get("human"),
        "examples": examples,
        "created_at": timezone.now().isoformat(),
    }


def validate(report: dict) -> list[str]:
    """Problems with a report's shape (empty when it follows the schema); the API test uses it."""
    problems = []
    if report.get("schema") != SCHEMA:
        problems.append("schema")
    for key in ("model_version", "eval_set", "model", "base", "baseline", "comparison", "examples"):
        if key not in report:
            problems.append(f"missing {key}")
    for arm in engine.ARMS:
        section = report.get(arm) or {}
        problems += [f"{arm}.{s}" for s in SECTIONS if s not in section]
    return problems
