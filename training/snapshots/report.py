"""A built snapshot's quality report: what was dropped and why, duplicates, PII, split, lengths,
diversity, balance, and the pipeline's own figures. Pure functions over the candidate rows."""

from collections import Counter

from .. import pipeline
from ..models import SnapshotKind


def prompt_text(data) -> str:
    return "\n".join(m["content"] for m in data["messages"])


def histogram(values, bins: int = 12) -> list[dict]:
    if not values:
        return []
    lo, hi = min(values), max(values)
    width = max(1, -(-(hi - lo + 1) // bins))
    counts = Counter((v - lo) // width for v in values)
    return [
        {"lo": lo + i * width, "hi": lo + (i + 1) * width - 1, "count": counts.get(i, 0)}
        for i in range((hi - lo) // width + 1)
    ]


def length_stats(rows, field) -> dict:
    values = sorted(len(r["data"][field]) for r in rows if field in r["data"])
    if not values:
        return {}
    return {
        "n": len(values),
        "min": values[0],
        "median": values[len(values) // 2],
        "mean": round(sum(values) / len(values), 1),
        "max": values[-1],
        "histogram": histogram(values),
    }


def pii_kind(hit) -> str:
    if isinstance(hit, dict):
        return str(hit.get("kind") or hit.get("type") or "pii")
    for attr in ("kind", "type", "label"):
        if hasattr(hit, attr):
            return str(getattr(hit, attr))
    if isinstance(hit, tuple | list) and hit:
        return str(hit[0])
    return str(hit) if isinstance(hit, str) else "pii"


TEXT_FIELDS = {SnapshotKind.SFT: ("response",), SnapshotKind.DPO: ("chosen", "rejected")}


def quality_report(*, kind, f, considered, kept, dropped, examples, dedupe, pii, train, val, replay) -> dict:
    """The report stored on the snapshot. `dedupe` = (exact, near, near_examples); `pii` =
    (rows, kinds Counter); `train`/`val`/`replay` are candidate dicts ({"data", "provenance"})."""
    exact, near, near_examples = dedupe
    pii_rows, pii_kinds = pii
    all_rows = train + val
    key = pipeline.prompt_key
    train_prompts = {key(c["data"]) for c in train}
    report = {
        "considered": considered,
        "kept": len(kept),
        "dropped": dict(dropped.most_common()),
        "dropped_examples": examples,
        "duplicates": {"exact": exact, "near": near, "near_examples": near_examples[:20]},
        "pii": {
            "rows": pii_rows,
            "kinds": dict(pii_kinds),
            "action": "dropped" if f["drop_pii"] else "redacted" if f["redact_pii"] else "kept",
        },
        "splits": {"train": len(train), "validation": len(val), "replay": len(replay)},
        "prompt_leakage": len(train_prompts & {key(c["data"]) for c in val}),
        "lengths": {
            "prompt": length_stats([{"data": {"p": prompt_text(c["data"])}} for c in all_rows], "p"),
            **{field: length_stats(all_rows, field) for field in TEXT_FIELDS.get(kind, ())},
        },
        "diversity": {
            "unique_prompts": len({key(c["data"]) for c in all_rows}),
            "distinct_first_words": len(
                {(prompt_text(c["data"]).split() or [""])[0].lower() for c in all_rows}
            ),
        },
        "annotators": dict(
            Counter(a for c in all_rows for a in c["provenance"].get("annotators", [])).most_common()
        ),
        "sources": dict(Counter(c["provenance"].get("source", "") for c in all_rows)),
    }
    if kind == SnapshotKind.DPO:
        longer = sum(len(c["data"]["chosen"]) > len(c["data"]["rejected"]) for c in all_rows)
        report["balance"] = {
            "chosen_longer": longer,
            "chosen_longer_share": round(longer / len(all_rows), 3),
            "criteria": dict(Counter(c["provenance"].get("criterion") or "overall" for c in all_rows)),
            "pair_status": dict(Counter(c["provenance"].get("pair_status") for c in all_rows)),
        }
    elif kind == SnapshotKind.RAW:
        report["balance"] = {
            "item_kinds": dict(Counter(c["data"]["judgment"]["item_kind"] for c in all_rows)),
            "current": sum(bool(c["data"]["judgment"]["is_current"]) for c in all_rows),
            "superseded": sum(not c["data"]["judgment"]["is_current"] for c in all_rows),
        }
        return report
    else:
        report["balance"] = {
            "gold_from": dict(Counter(c["provenance"].get("gold_from", "replay") for c in all_rows))
        }
    try:
        rows = pipeline.to_trainer_rows(kind, [c["data"] for c in all_rows])
        report["pipeline"] = pipeline.jsonable(pipeline.quality_report(rows, kind))
    except Exception as exc:  # the report is advisory: never lose a snapshot over it
        report["pipeline"] = {"error": str(exc)[:500]}
    return report
