"""Agreement figures over cells {(annotator, item): value}: the building blocks of the quality report
(`annotation.quality.report`). Pure: numpy and the metric modules, no Django."""

import math
from collections import Counter, defaultdict

import numpy as np

from annotation.core.reliability import dawid_skene, reliability_weights
from annotation.quality.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha, percent_agreement

LEVELS = {"likert": "ordinal", "binary": "nominal", "labels": "nominal"}


def num(x):
    """JSON-safe float: nan / inf -> None, rounded to 4 places."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, 4)


def safe(fn, *args, **kwargs):
    try:
        return num(fn(*args, **kwargs))
    except ValueError:
        return None


def matrix(cells: dict, annotators: list, units: list, numeric: bool):
    """{(annotator, unit): value} -> annotators x units array, missing = nan / None."""
    a_index = {a: i for i, a in enumerate(annotators)}
    u_index = {u: i for i, u in enumerate(units)}
    if numeric:
        data = np.full((len(annotators), len(units)), np.nan)
    else:
        data = np.full((len(annotators), len(units)), None, dtype=object)
    for (a, u), v in cells.items():
        data[a_index[a], u_index[u]] = v
    return data


def _pairable_units(cells: dict) -> list:
    per_unit = Counter(u for _, u in cells)
    return sorted(u for u, n in per_unit.items() if n >= 2)


def pairable_cells(cells: dict) -> tuple[list, dict]:
    """The units with two judgments or more (sorted) and only their cells, in one pass each."""
    units = _pairable_units(cells)
    keep = set(units)
    return units, {k: v for k, v in cells.items() if k[1] in keep}


def nominal_figures(cells: dict) -> dict:
    """Alpha (nominal), Fleiss' kappa over the items with the modal judgment count, percent agreement.

    Linear in the number of cells: they are grouped by unit once (a scan per unit was quadratic)."""
    units, cells = pairable_cells(cells)
    annotators = sorted({a for a, _ in cells})
    out = {"items": len(units), "judgments": len(cells), "alpha": None, "fleiss": None, "percent": None}
    if not units:
        return out
    data = matrix(cells, annotators, units, numeric=False)
    out["alpha"] = safe(krippendorff_alpha, data, level="nominal")
    out["percent"] = safe(percent_agreement, data)
    by_unit = defaultdict(list)  # first-seen order, so ties for the modal count break as before
    for (_, u), v in cells.items():
        by_unit[u].append(str(v))
    modal = Counter(len(values) for values in by_unit.values()).most_common(1)[0][0]
    labels = sorted({v for values in by_unit.values() for v in values})
    table = []
    for u in units:
        values = by_unit[u]
        if len(values) != modal:
            continue
        counts = Counter(values)
        table.append([counts.get(label, 0) for label in labels])
    if table:
        out["fleiss"] = safe(fleiss_kappa, table)
        out["fleiss_items"] = len(table)
    return out


def criterion_figures(cells: dict, level: str) -> dict:
    units, cells = pairable_cells(cells)
    out = {"items": len(units), "judgments": len(cells), "alpha": None, "percent": None, "level": level}
    if not units:
        return out
    annotators = sorted({a for a, _ in cells})
    numeric = level == "ordinal"
    data = matrix(cells, annotators, units, numeric=numeric)
    out["alpha"] = safe(krippendorff_alpha, data, level=level)
    out["percent"] = safe(percent_agreement, data)
    return out


def score_value(criterion_type, value):
    if criterion_type == "likert":
        return float(value)
    if criterion_type == "binary":
        return "yes" if value else "no"
    return str(value)


def iso_week(dt) -> str:
    year, week, _ = dt.isocalendar()
    return f"{year}-W{week:02d}"


def _consensus_of_others(counts_by_unit: dict, mine: dict) -> dict:
    """unit -> strict majority label of the *other* annotators on it (leave-one-out: the annotator's own
    vote never counts towards the consensus they are measured against). Units nobody else judged and
    ties among the others have no consensus."""
    out = {}
    for unit, label in mine.items():
        others = counts_by_unit[unit].copy()
        others[label] -= 1
        ranked = [(lab, n) for lab, n in others.most_common() if n > 0]
        if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
            out[unit] = ranked[0][0]
    return out


def _by_unit_and_annotator(cells: dict) -> tuple[dict, dict]:
    """{(annotator, item): label} -> (item -> Counter of labels, annotator -> {item: label})."""
    counts_by_unit = defaultdict(Counter)
    by_annotator = defaultdict(dict)
    for (a, u), label in cells.items():
        counts_by_unit[u][label] += 1
        by_annotator[a][u] = label
    return counts_by_unit, by_annotator


def annotator_section(cells: dict, names: dict, gold: dict | None = None) -> list[dict]:
    """Per annotator figures of one kind from {(annotator, item): label}; `gold` ({item: known label})
    anchors the Dawid-Skene fit; the gold columns are filled by `report.compute` from the gold answers."""
    counts_by_unit, by_annotator = _by_unit_and_annotator(cells)
    labels = sorted({str(v) for v in cells.values()})
    annotators = sorted(by_annotator, key=lambda a: names.get(a, str(a)))
    rows = []
    for a in annotators:
        mine = by_annotator[a]
        consensus = _consensus_of_others(counts_by_unit, mine)
        shared = [u for u in mine if u in consensus]
        row = {
            "user_id": a,
            "username": names.get(a, str(a)),
            "judgments": len(mine),
            "kappa_consensus": None,
            "agree_consensus": None,
            "kappa_gold": None,
            "gold_accuracy": None,
            "gold_items": 0,
            "pairwise": {},
        }
        if shared:
            mine_l = [mine[u] for u in shared]
            cons_l = [consensus[u] for u in shared]
            row["kappa_consensus"] = safe(cohen_kappa, mine_l, cons_l)
            row["agree_consensus"] = num(
                sum(x == y for x, y in zip(mine_l, cons_l, strict=True)) / len(shared)
            )
            matrix = [[0] * len(labels) for _ in labels]
            for x, y in zip(mine_l, cons_l, strict=True):
                matrix[labels.index(str(x))][labels.index(str(y))] += 1
            row["confusion"] = {"labels": labels, "matrix": matrix}
        for b in annotators:
            if b == a:
                continue
            common = [u for u in mine if u in by_annotator[b]]
            if common:
                row["pairwise"][str(b)] = {
                    "kappa": safe(
                        cohen_kappa, [mine[u] for u in common], [by_annotator[b][u] for u in common]
                    ),
                    "items": len(common),
                }
        rows.append(row)
    _add_reliability(rows, cells, labels, gold or {})
    return rows


def annotator_weekly(cells: dict, judged_at: dict, names: dict) -> list[dict]:
    """Drift: per annotator and ISO week of their own judgment, the share of their answers that match
    the leave-one-out consensus of the other annotators (over all weeks' judgments of the item)."""
    counts_by_unit, by_annotator = _by_unit_and_annotator(cells)
    rows = []
    for a in sorted(by_annotator, key=lambda a: names.get(a, str(a))):
        mine = by_annotator[a]
        consensus = _consensus_of_others(counts_by_unit, mine)
        weeks = defaultdict(lambda: [0, 0])  # week -> [agreeing, compared]
        for u, label in mine.items():
            if u in consensus:
                tally = weeks[iso_week(judged_at[(a, u)])]
                tally[0] += label == consensus[u]
                tally[1] += 1
        for week, (agree, n) in sorted(weeks.items()):
            rows.append(
                {
                    "user_id": a,
                    "username": names.get(a, str(a)),
                    "week": week,
                    "agree": num(agree / n),
                    "items": n,
                }
            )
    return rows


def _add_reliability(rows: list[dict], cells: dict, labels: list[str], gold: dict):
    """Dawid-Skene accuracy and vote weight per annotator (needs two classes and a shared item or a
    gold answer); gold items are clamped to their known label (`annotation.core.reliability`)."""
    for row in rows:
        row["reliability"] = None
        row["weight"] = None
    units = sorted({u for _, u in cells})
    present = set(units)
    gold = {u: str(g) for u, g in gold.items() if u in present and g is not None}
    labels = sorted(set(labels) | set(gold.values()))
    if len(labels) < 2 or not (_pairable_units(cells) or gold):
        return
    annotators = [r["user_id"] for r in rows]
    a_index = {a: i for i, a in enumerate(annotators)}
    u_index = {u: i for i, u in enumerate(units)}
    l_index = {label: i for i, label in enumerate(labels)}
    data = np.full((len(annotators), len(units)), -1, dtype=np.int64)
    for (a, u), label in cells.items():
        data[a_index[a], u_index[u]] = l_index[str(label)]
    known = np.full(len(units), -1, dtype=np.int64)
    for u, label in gold.items():
        known[u_index[u]] = l_index[label]
    result = dawid_skene(data, n_classes=len(labels), gold=known)
    weights = reliability_weights(result)
    for i, row in enumerate(rows):
        row["reliability"] = num(result.accuracy[i])
        row["weight"] = num(weights[i])
