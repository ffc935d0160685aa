"""Run the suites of an eval report for three arms through `llm`: the model version (base + LoRA
adapter), what it is compared against (its base, or another version), and the prompting baseline
(the base with the project's system prompt and a few reviewed examples as few-shot context).

    arms = {"model": Arm.load(base, adapter), "base": Arm.load(base)}
    arms["baseline"] = arms["base"].with_prefix(baseline_prefix(system, shots))
    results = run_suites(spec, arms, done={}, on_result=store, should_stop=stop)

Each (arm, suite) result is handed to `on_result(key, value)` as soon as it exists, and a key already
in `done` is skipped: a resumed attempt continues where the last one stopped. Pure (no Django).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from llm import generate, load_model, sequence_logprobs

from . import suites

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
ARMS = ("model", "base", "baseline")


def load_jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA_DIR / name).read_text().splitlines() if line.strip()]


def forgetting_items() -> list[dict]:
    """The shipped general-ability suite: {"question", "options", "answer", "topic"}."""
    return load_jsonl("forgetting.jsonl")


def safety_items() -> list[dict]:
    """The shipped safety suite: {"prompt", "expect": "refuse"|"comply", "topic"}."""
    return load_jsonl("safety.jsonl")


def limit_safety(items: list[dict], limit: int | None) -> list[dict]:
    """At most `limit` safety items, taken alternately from those expecting a refusal and those
    expecting compliance, so a shortened suite still measures both the refusal and the over-refusal
    rate; all of them (in file order) when `limit` is None or covers the suite."""
    if limit is None or limit >= len(items):
        return list(items)
    refuse = [s for s in items if s["expect"] == "refuse"]
    comply = [s for s in items if s["expect"] != "refuse"]
    mixed = [s for pair in zip(refuse, comply, strict=False) for s in pair]
    shorter = min(len(refuse), len(comply))
    mixed += refuse[shorter:] + comply[shorter:]
    return mixed[: max(int(limit), 0)]


def baseline_prefix(system: str, shots: list[tuple[list[dict], str]]) -> list[dict]:
    """System prompt + few-shot (prompt turns, reviewed answer) as messages put before each prompt."""
    prefix = [{"role": "system", "content": system}] if system else []
    for messages, answer in shots:
        prefix += [m for m in messages if m.get("role") != "system"]
        prefix.append({"role": "assistant", "content": answer})
    return prefix


@dataclass
class Arm:
    """A loaded model, plus messages put before every conversation (the prompting baseline)."""

    model: object
    tokenizer: object
    prefix: list[dict] = field(default_factory=list)
    batch_size: int = 8
    max_new_tokens: int = 64

    @classmethod
    def load(cls, base_model: str, adapter: str = "", *, cache_dir=None, device=None, **kw) -> Arm:
        model, tokenizer = load_model(base_model, cache_dir=cache_dir, device=device)
        if adapter:
            from peft import PeftModel  # deferred: heavy optional dependency (peft)

            model = PeftModel.from_pretrained(model, adapter)
            model.eval()
        return cls(model, tokenizer, **kw)

    def with_prefix(self, prefix: list[dict]) -> Arm:
        return Arm(self.model, self.tokenizer, list(prefix), self.batch_size, self.max_new_tokens)

    def _convs(self, conversations):
        if not self.prefix:
            return [list(c) for c in conversations]
        system = [m for m in self.prefix if m["role"] == "system"]
        rest = [m for m in self.prefix if m["role"] != "system"]
        return [system + rest + [m for m in c if m["role"] != "system"] for c in conversations]

    def logprobs(self, conversations, responses) -> list[float]:
        return sequence_logprobs(
            self.model,
            self.tokenizer,
            self._convs(conversations),
            list(responses),
            batch_size=self.batch_size,
        )

    def token_counts(self, texts) -> list[int]:
        return [len(self.tokenizer(t, add_special_tokens=False).input_ids) for t in texts]

    def generate(self, conversations) -> list[str]:
        return generate(
            self.model, self.tokenizer, self._convs(conversations),
            max_new_tokens=self.max_new_tokens, batch_size=self.batch_size,
        )  # fmt: skip


@dataclass
class Spec:
    """What to evaluate: eval examples ({"messages", "reference", "chosen", "rejected", "group"}),
    the shipped suites, and the knobs."""

    examples: list[dict]
    forgetting: list[dict] = field(default_factory=list)
    safety: list[dict] = field(default_factory=list)
    beta: float = 0.1
    tolerance: float = 2.0
    schema: dict | None = None
    regex: str = ""


class Stopped(Exception):
    """The job was asked to stop between two suites."""


def _pairs(spec):
    return [e for e in spec.examples if e.get("chosen") and e.get("rejected")]


def _pref_logprobs(arm: Arm, spec: Spec) -> dict:
    pairs = _pairs(spec)
    convs = [e["messages"] for e in pairs]
    return {"chosen": arm.logprobs(convs, [e["chosen"] for e in pairs]),
            "rejected": arm.logprobs(convs, [e["rejected"] for e in pairs])}  # fmt: skip


def _forgetting(arm: Arm, spec: Spec) -> dict:
    convs, options, owner = [], [], []
    for i, item in enumerate(spec.forgetting):
        for option in item["options"]:
            convs.append([{"role": "user", "content": item["question"]}])
            options.append(str(option))
            owner.append(i)
    flat = arm.logprobs(convs, options) if convs else []
    scores: list[list[float]] = [[] for _ in spec.forgetting]
    for i, value in zip(owner, flat, strict=True):
        scores[i].append(value)
    out = suites.multiple_choice_accuracy(scores, [int(item["answer"]) for item in spec.forgetting])
    topics: dict[str, list[bool]] = {}
    for item, pick in zip(spec.forgetting, out["picks"], strict=True):
        topics.setdefault(item.get("topic", "general"), []).append(pick == int(item["answer"]))
    out["by_topic"] = {t: sum(v) / len(v) for t, v in sorted(topics.items())}
    return out


def _safety(arm: Arm, spec: Spec) -> dict:
    texts = arm.generate([[{"role": "user", "content": s["prompt"]}] for s in spec.safety])
    out = suites.safety_rates(texts, [s["expect"] == "refuse" for s in spec.safety])
    out["generations"] = texts
    return out


def _generations(arm: Arm, spec: Spec) -> list[str]:
    return arm.generate([e["messages"] for e in spec.examples])


def _perplexity(arm: Arm, spec: Spec) -> dict:
    gold = [e for e in spec.examples if e.get("reference")]
    if not gold:
        return {"perplexity": None, "n": 0}
    lps = arm.logprobs([e["messages"] for e in gold], [e["reference"] for e in gold])
    return {
        "perplexity": suites.perplexity(lps, arm.token_counts([e["reference"] for e in gold])),
        "n": len(gold),
    }


SUITES: dict[str, Callable[[Arm, Spec], object]] = {
    "pref_logprobs": _pref_logprobs,
    "forgetting": _forgetting,
    "safety": _safety,
    "generations": _generations,
    "perplexity": _perplexity,
}


def run_suites(spec: Spec, arms: dict[str, Arm], *, done: dict | None = None, on_result=None,
               should_stop=None, on_progress=None) -> dict:  # fmt: skip
    """{"arm:suite": value} for every arm and suite; raises Stopped when `should_stop()` says so."""
    results = dict(done or {})
    keys = [(a, s) for a in arms for s in SUITES]
    for n, (arm_name, suite) in enumerate(keys):
        key = f"{arm_name}:{suite}"
        if key in results:
            continue
        if should_stop is not None and should_stop():
            raise Stopped(key)
        results[key] = SUITES[suite](arms[arm_name], spec)
        if on_result is not None:
            on_result(key, results[key])
        if on_progress is not None:
            on_progress((n + 1) / len(keys), key)
    return results


def summarise(spec: Spec, results: dict, arms=ARMS) -> dict:
    """The metric sections of the report from the raw suite results (see evaluation.report)."""
    ref = results.get("base:pref_logprobs")
    out: dict[str, dict] = {}
    for arm in arms:
        if f"{arm}:generations" not in results:
            continue
        lp = results[f"{arm}:pref_logprobs"]
        if arm == "base" or ref is None:  # the reference itself: its reward is its log-probability
            zeros = [0.0] * len(lp["chosen"])
            pref = suites.preference_accuracy(lp["chosen"], lp["rejected"], zeros, zeros, beta=1.0)
            pref["reward"] = "log-probability"
        else:
            pref = suites.preference_accuracy(
                lp["chosen"], lp["rejected"], ref["chosen"], ref["rejected"], beta=spec.beta
            )
            pref["reward"] = "implicit (log-probability ratio against the base)"
        gens = results[f"{arm}:generations"]
        groups: dict[str, list[str]] = {}
        for example, text in zip(spec.examples, gens, strict=True):
            if example.get("group"):
                groups.setdefault(example["group"], []).append(text)
        forgetting = {k: v for k, v in results[f"{arm}:forgetting"].items() if k != "picks"}
        safety = {k: v for k, v in results[f"{arm}:safety"].items() if k in ("refusal", "over_refusal")}
        out[arm] = {
            "preference": pref if pref["n"] else None,
            "forgetting": forgetting,
            "safety": safety,
            "consistency": suites.consistency(groups) if groups else None,
            "perplexity": results[f"{arm}:perplexity"]["perplexity"],
            "format": suites.format_validity(gens, schema=spec.schema, regex=spec.regex),
        }
    if "model" in out and "base" in out:
        out["comparison"] = {
            "forgetting": suites.forgetting_change(
                out["model"]["forgetting"]["rate"],
                out["base"]["forgetting"]["rate"],
                tolerance=spec.tolerance,
            ),
        }
    return out
