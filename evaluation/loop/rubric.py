"""The loop demo's learnable rubric, its prompts and its targets. Pure (no Django, no model).

The rubric is the house closing line: "a good answer ends with the line 'Hope this helps!'; nothing
else decides". The bundled model's own samples never end that way, so the production traffic is an
A/B test of the line: `with_line` appends it to a seeded half of the outputs, and the fresh answer a
comparison puts beside a production output carries it exactly when the production output does not
(`pair_texts`). Both answers are first cut to a short complete answer (`shape_answer`: up to the last
sentence end within ANSWER_CHARS), so the line follows the end of an answer, never a cut-off one, and
answer plus line fit well within the generation budget: a model can learn to finish with the line
within the budget its fresh answers are judged at. Every comparison therefore differs on the rubric, and which side carries the line
(a sampled production output or a greedy fresh one) is a coin flip, so neither the base model's
likelihood nor length predicts the rubric's answer.

`prefer` is the rubric as a reviewer applies it (index of the better text, None for a tie);
`rubric_win_rate` judges two models' generations on the same prompts by it (ties count half).
"""

from __future__ import annotations

import math
import random
import re

CLOSING_LINE = "Hope this helps!"
RUBRIC_CRITERIA = [
    {
        "key": "closing_line",
        "type": "binary",
        "required": False,
        "instructions": f"Does the answer end with the house closing line '{CLOSING_LINE}'?",
    }
]
RUBRIC_INSTRUCTIONS = (
    f"Prefer the answer that ends with the closing line '{CLOSING_LINE}' on a line of its own. "
    "When both or neither do, call it a tie."
)
_ENDS = re.compile(r"hope this helps[!.]*\s*$", re.IGNORECASE)
# A short complete answer: at most this many characters (25-40 tokens of SmolLM2's tokenizer),
# so answer + "\n\nHope this helps!" (6 tokens) ends within the 64 new tokens fresh answers get.
ANSWER_CHARS = 180
# A sentence end: . ! or ? (a closing quote or bracket may follow) before whitespace or the end; not
# a list number ("1.") or a decimal point.
_SENTENCE_END = re.compile(r"(?<![0-9])[.!?][\"')\]]?(?=\s|$)")
_CLAUSE_END = re.compile(r"[,;:](?=\s)")

TEMPLATES = (
    "In one or two sentences, what is {t}?",
    "Give me one quick tip about {t}.",
    "Why does {t} matter? Answer briefly.",
    "Tell me a short fun fact about {t}.",
)
# Held-out topics are asked in other words too, so no eval prompt is a near-duplicate of a trained one;
# like the trained wordings they ask for a short answer, so the eval's fresh answers can end (with or
# without the line) within the budget they are judged at. Longer-answer wordings ("Could you explain
# {t} to children?") drew answers that ran past 160 new tokens, where no model ever gets to the line.
HELD_OUT_TEMPLATES = (
    "Briefly, what is {t}? One sentence, please.",
    "Share one handy tip concerning {t}, in a sentence.",
    "What should a beginner know about {t}? Keep it short.",
    "Sum up {t} for a newcomer in a sentence or two.",
)
TOPICS = (
    "photosynthesis", "gravity", "the water cycle", "volcanoes", "rainbows", "ocean tides", "magnets",
    "vaccines", "recycling", "the phases of the moon", "baking bread", "saving money", "sleep",
    "coffee", "bicycles", "honeybees", "earthquakes", "the human heart", "solar panels", "chess",
    "composting", "clouds", "penguins", "the printing press", "compound interest", "yoga",
    "thunderstorms", "glaciers", "octopuses", "electric cars", "public libraries", "tea",
    "the immune system", "wind turbines", "origami", "deserts", "coral reefs", "the Roman Empire",
    "black holes", "houseplants", "running shoes", "time zones", "password managers", "bridges",
    "fermentation", "hummingbirds", "the Olympic Games", "maps", "jazz", "the alphabet", "snowflakes",
    "kites", "lighthouses", "vitamins", "spreadsheets", "satellites", "mushrooms", "trains",
    "handwashing", "dinosaurs",
)  # fmt: skip
HELD_OUT_EVERY = 3  # every third topic is held out: its prompts are never trained on

TARGETS = {
    "wall_minutes": 20.0,  # the whole loop on this 2-core machine
    "preference_accuracy": 0.85,  # held-out, the tuned model (from ~0.5 for the base)
    "rubric_win_rate": 0.60,  # fresh generations against the base, judged by the rubric
}


def prompts(n: int) -> list[dict]:
    """The first `n` prompts of the bank (topic-major), each {"prompt", "topic", "held_out"}."""
    out = []
    for round_ in range(len(TEMPLATES)):
        for k, topic in enumerate(TOPICS):
            held_out = k % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
            template = (HELD_OUT_TEMPLATES if held_out else TEMPLATES)[round_]
            out.append({"prompt": template.format(t=topic), "topic": topic, "held_out": held_out})
    if n > len(out):
        raise ValueError(f"the prompt bank has {len(out)} prompts; asked for {n}")
    return out[:n]


def ends_with_line(text: str) -> bool:
    return bool(_ENDS.search(text or ""))


def shape_answer(text: str, max_chars: int = ANSWER_CHARS) -> str:
    """The answer cut to a short complete one: up to its last sentence end within `max_chars`
    characters; without one there, up to the last clause break (or else word) within them, closed
    with a period. The model's own words, never continued; a closing line it had is dropped."""
    text = without_line(text).strip()
    head = text[: max_chars + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() <= max_chars]
    if ends:
        return head[: ends[-1]].strip()
    if not text:
        return text
    clauses = [m.start() for m in _CLAUSE_END.finditer(head) if m.start() <= max_chars]
    cut = clauses[-1] if clauses else head.rfind(" ", 0, max_chars + 1)
    if len(text) <= max_chars and not clauses:
        cut = len(text)  # short, with no sentence end: close it as it is
    if cut <= 0:
        cut = max_chars
    return head[:cut].rstrip(" ,;:-–—*#\n") + "."


def with_line(text: str) -> str:
    """The text ending with the closing line (unchanged when it already does)."""
    text = (text or "").rstrip()
    return text if ends_with_line(text) else f"{text}\n\n{CLOSING_LINE}"


def without_line(text: str) -> str:
    return _ENDS.sub("", text or "").rstrip()


def ab_arm(seed: int, key: str) -> bool:
    """Whether production output `key` is in the closing-line arm of the A/B test (seeded, 50/50)."""
    return random.Random(f"{seed}:{key}").random() < 0.5


def production_text(text: str, arm: bool) -> str:
    """A production output as the A/B test logged it: shaped, with the line in the line's arm."""
    answer = shape_answer(text)
    return with_line(answer) if arm else answer


def pair_texts(production: str, fresh: str) -> str:
    """The fresh answer as the comparison shows it: shaped like the production output, with the line
    exactly when the production output has none, so the two always differ on the rubric."""
    answer = shape_answer(fresh)
    return answer if ends_with_line(production) else with_line(answer)


def prefer(messages: list[dict], texts: list[str]) -> tuple[int | None, int]:
    """The rubric on two answers: (index of the better, strength 2), or (None, 0) for a tie."""
    marks = [ends_with_line(t) for t in texts]
    if len(texts) != 2 or marks[0] == marks[1]:
        return None, 0
    return (0 if marks[0] else 1), 2


def rubric_win_rate(mine: list[str], theirs: list[str]) -> dict:
    """Share of prompts where `mine` wins by the rubric (ties half), with a Wilson 95% interval."""
    n = min(len(mine), len(theirs))
    wins = ties = 0
    for a, b in zip(mine[:n], theirs[:n], strict=True):
        best, _ = prefer([], [a, b])
        if best is None:
            ties += 1
        elif best == 0:
            wins += 1
    score = wins + 0.5 * ties
    low, high = wilson(score, n)
    return {
        "win_rate": score / n if n else None,
        "low": low,
        "high": high,
        "n": n,
        "wins": wins,
        "ties": ties,
        "losses": n - wins - ties,
        "with_line": sum(ends_with_line(t) for t in mine[:n]),
        "base_with_line": sum(ends_with_line(t) for t in theirs[:n]),
    }


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    if not n:
        return None, None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def check_targets(figures: dict, targets: dict = TARGETS) -> list[dict]:
    """[{"name", "target", "value", "met"}] for the issue's targets (a missing value is not met)."""

    def row(name, target, value, met):
        return {"name": name, "target": target, "value": value, "met": bool(value is not None and met)}

    wall, acc, win = (
        figures.get("wall_minutes"),
        figures.get("preference_accuracy"),
        figures.get("rubric_win_rate"),
    )
    forgetting = figures.get("forgetting_change_points")
    tolerance = figures.get("forgetting_tolerance")
    return [
        row("wall time (minutes)", f"< {targets['wall_minutes']:g}", wall,
            wall is not None and wall < targets["wall_minutes"]),
        row("held-out preference accuracy (tuned)", f">= {targets['preference_accuracy']:g}", acc,
            acc is not None and acc >= targets["preference_accuracy"]),
        row("rubric win rate vs base", f"> {targets['rubric_win_rate']:g}", win,
            win is not None and win > targets["rubric_win_rate"]),
        row("forgetting change (points)", f">= -{tolerance:g}" if tolerance is not None else "within tolerance",
            forgetting, forgetting is not None and tolerance is not None and -forgetting <= tolerance),
    ]  # fmt: skip
