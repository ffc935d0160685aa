"""An annotator's own figures (the "My work" page), from plain facts. Pure: no Django.

`figures(judgments, tz=..., show_gold=...)` takes the caller's current judgments in one project
(`MyJudgment`, gathered by `annotation.quality.mywork_facts`) and returns:
- `per_day`: judgments per calendar day in `tz` (the project's time zone), oldest first, every day
  from the first to the last shown (a day without work is 0);
- `median_seconds`: the median time per judgment (judgments without a time left out);
- `agreement`: the share of judged items with a final answer (not gold) whose final label equals the
  caller's label, with its counts (the facts leave out a final answer made from the caller's
  judgment alone);
- `gold`: the share of gold items answered as the gold answer says, only when `show_gold` (the
  project's `show_gold_feedback`); None otherwise, so nothing about gold leaks;
- `rushed`: judgments faster than the project's minimum, and the latest few of them.
"""

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

RECENT_RUSHED = 10  # rushed judgments listed on the page, newest first


@dataclass(frozen=True)
class MyJudgment:
    """One of the caller's current judgments, labelled by its kind (`label` None: no answer)."""

    item: int
    created_at: datetime  # aware
    duration_seconds: float | None
    rushed: bool
    label: object
    final_label: object = None  # the item's final answer's label (approved items); None: none yet
    gold_label: object = None  # the gold answer's label (gold items with an answer); None: not gold


def per_day(created: list[datetime], tz: tzinfo) -> list[tuple[date, int]]:
    """Judgments per calendar day in `tz`, every day from the first to the last (0 on a quiet day)."""
    counts = Counter(moment.astimezone(tz).date() for moment in created)
    if not counts:
        return []
    day, last, out = min(counts), max(counts), []
    while day <= last:
        out.append((day, counts.get(day, 0)))
        day += timedelta(days=1)
    return out


def median_seconds(durations: list[float | None]) -> float | None:
    values = [d for d in durations if d is not None]
    return round(statistics.median(values), 1) if values else None


def share(matches: int, total: int) -> dict:
    """{"share": matches / total or None, "matches", "total"}."""
    return {"share": round(matches / total, 4) if total else None, "matches": matches, "total": total}


def agreement(judgments: list[MyJudgment]) -> dict:
    """Share of non-gold judged items with a final answer whose label matches the caller's."""
    rows = [j for j in judgments if j.gold_label is None and j.final_label is not None]
    return share(sum(1 for j in rows if j.label == j.final_label), len(rows))


def gold_accuracy(judgments: list[MyJudgment]) -> dict:
    rows = [j for j in judgments if j.gold_label is not None]
    return share(sum(1 for j in rows if j.label == j.gold_label), len(rows))


def figures(judgments: list[MyJudgment], *, tz: tzinfo, show_gold: bool) -> dict:
    rushed = sorted((j for j in judgments if j.rushed), key=lambda j: j.created_at, reverse=True)
    return {
        "judgments": len(judgments),
        "per_day": per_day([j.created_at for j in judgments], tz),
        "median_seconds": median_seconds([j.duration_seconds for j in judgments]),
        "agreement": agreement(judgments),
        "gold": gold_accuracy(judgments) if show_gold else None,
        "rushed": len(rushed),
        "recent_rushed": rushed[:RECENT_RUSHED],
    }
