"""The quality report, computed from `annotation.quality.facts.QualityFacts` by one pure function.

`compute(facts, computed_at)` returns the whole `AgreementReport.data` (layout in
`annotation.quality.reports`); `gold_table(facts)` is gold accuracy per annotator. Gold accuracy is
defined here once (`gold_accuracy`): the share of an annotator's current judgments on gold items
whose overall answer equals the item's known answer. No Django: numpy and the metric modules only.
"""

from collections import Counter, defaultdict

from annotation.quality.agreement import cohen_kappa, preference_strength_alpha, tau_against_consensus
from annotation.quality.figures import (
    annotator_section,
    annotator_weekly,
    criterion_figures,
    iso_week,
    matrix,
    nominal_figures,
    num,
    pairable_cells,
    safe,
    score_value,
)

LEVELS = {"likert": "ordinal", "binary": "nominal", "labels": "nominal"}


def gold_accuracy(answers: list[tuple]) -> float | None:
    """Share of (given, known) answer pairs that match, rounded to 4 places; None without any."""
    return num(sum(given == known for given, known in answers) / len(answers)) if answers else None


def gold_answers(facts) -> dict[tuple[int, str], dict[int, tuple]]:
    """(annotator, kind) -> {gold item: (their label, the known label)} over gold items with an answer."""
    out = defaultdict(dict)
    for j in facts.judgments:
        gold = facts.gold.get(j.item)
        if gold is not None:
            out[(j.annotator, j.kind)][j.item] = (j.label, gold.label)
    return out


def gold_table(facts) -> list[dict]:
    """Per annotator over every kind: gold items judged, correct answers, accuracy, and the share of
    their scores that match the gold scores; sorted by username."""
    stats: dict[int, dict] = {}
    for j in facts.judgments:
        gold = facts.gold.get(j.item)
        if gold is None:
            continue
        row = stats.setdefault(
            j.annotator,
            {"user_id": j.annotator, "username": facts.names.get(j.annotator, str(j.annotator)),
             "n": 0, "correct": 0, "score_n": 0, "score_correct": 0, "answers": []},
        )  # fmt: skip
        row["n"] += 1
        row["correct"] += int(j.label == gold.label)
        row["answers"].append((j.label, gold.label))
        for key, value in gold.scores.items():
            if key in j.scores:
                row["score_n"] += 1
                row["score_correct"] += int(j.scores[key] == value)
    out = []
    for row in sorted(stats.values(), key=lambda r: r["username"]):
        row["accuracy"] = gold_accuracy(row.pop("answers"))
        row["score_accuracy"] = round(row["score_correct"] / row["score_n"], 4) if row["score_n"] else None
        out.append(row)
    return out


def _ranking_tau(rankings: dict) -> dict:
    """N-way rankings: each annotator's tau-b against the mean rank the *other* annotators gave each
    response of the item (leave-one-out Borda consensus; items nobody else ranked are left out)."""
    ranking_tau = {}
    rank_sum = defaultdict(Counter)  # item -> response -> sum of ranks over annotators
    rank_n = defaultdict(Counter)  # item -> response -> annotators who ranked it
    for by_item in rankings.values():
        for item_id, ranking in by_item.items():
            for r, group in enumerate(ranking):
                for rid in group:
                    rank_sum[item_id][rid] += r
                    rank_n[item_id][rid] += 1
    for annotator, by_item in rankings.items():
        consensus = {}
        for item_id, ranking in by_item.items():
            mine = {rid: r for r, group in enumerate(ranking) for rid in group}
            others = {
                rid: (rank_sum[item_id][rid] - mine.get(rid, 0)) / (n - (rid in mine))
                for rid, n in rank_n[item_id].items()
                if n - (rid in mine) > 0
            }
            if others:
                consensus[item_id] = others
        tau = tau_against_consensus({annotator: by_item}, consensus)[annotator]
        ranking_tau[str(annotator)] = num(tau)
    return ranking_tau


def _annotators(facts, decisions: dict) -> dict:
    """Per kind, per annotator: the figures against the others and against the gold answers."""
    gold = gold_answers(facts)
    on_gold = defaultdict(set)  # kind -> annotators with a labelled judgment on a gold item
    for j in facts.judgments:
        if j.on_gold and j.label is not None:
            on_gold[j.kind].add(j.annotator)
    names = facts.names
    annotators = {}
    for kind in facts.kinds:
        cells = dict(decisions.get((kind, "all"), {}))
        if not cells and not on_gold.get(kind):
            continue
        known = {u: g.label for u, g in facts.gold.items() if g.kind == kind and g.label is not None}
        rows = annotator_section(cells, names, known)
        by_user = {r["user_id"]: r for r in rows}
        for a in sorted(on_gold.get(kind, ()), key=lambda a: names.get(a, str(a))):
            if a not in by_user:
                by_user[a] = {
                    "user_id": a, "username": names.get(a, str(a)), "judgments": 0, "kappa_consensus": None,
                    "agree_consensus": None, "pairwise": {}, "reliability": None, "weight": None,
                }  # fmt: skip
                rows.append(by_user[a])
        for row in rows:
            mine = {
                u: pair for u, pair in gold.get((row["user_id"], kind), {}).items() if pair[0] is not None
            }
            answers = list(mine.values())
            row["gold_items"] = len(answers)
            row["kappa_gold"] = safe(cohen_kappa, *map(list, zip(*answers, strict=True))) if answers else None
            row["gold_accuracy"] = gold_accuracy(answers)
        annotators[kind] = sorted(rows, key=lambda r: r["username"])
    return annotators


def compute(facts, computed_at: str) -> dict:
    """Every figure of the report from the facts (the layout is in annotation.quality.reports)."""
    decisions = defaultdict(dict)  # (kind, version) -> {(annotator, item): label}
    strengths = defaultdict(dict)
    scores = defaultdict(dict)  # (kind, version, key) -> cells
    preferences = defaultdict(dict)  # (kind, version, key) -> cells: per-criterion preferences
    rankings = defaultdict(dict)  # annotator -> {item: ranking groups}
    last_seen = {}
    judged_at = {}  # (annotator, item) -> when that judgment was made
    for j in facts.judgments:
        if j.on_gold:
            continue  # gold items measure annotators against the known answer, not against each other
        cell = (j.annotator, j.item)
        if j.label is not None:
            decisions[(j.kind, j.version)][cell] = j.label
            decisions[(j.kind, "all")][cell] = j.label
        if j.strength is not None:
            strengths[j.version][cell] = j.strength
        if j.ranking:
            rankings[j.annotator][j.item] = j.ranking
        for key, label in j.preferences.items():
            preferences[(j.kind, j.version, key)][cell] = label
        types = {c["key"]: c["type"] for c in facts.criteria.get(j.version, [])}
        for key, value in j.scores.items():
            if key in types and value is not None:
                scores[(j.kind, j.version, key)][cell] = score_value(types[key], value)
        last_seen[j.item] = max(last_seen.get(j.item, j.created_at), j.created_at)
        judged_at[cell] = j.created_at

    decision_rows = [
        {"kind": kind, "version": version, **nominal_figures(cells)}
        for (kind, version), cells in sorted(decisions.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
    ]
    strength_rows = []
    for version, cells in sorted(strengths.items()):
        units, kept = pairable_cells(cells)
        row = {"version": version, "items": len(units), "alpha": None}
        if units:
            data = matrix(kept, sorted({a for a, _ in kept}), units, numeric=True)
            row["alpha"] = safe(preference_strength_alpha, data)
        strength_rows.append(row)
    criteria_rows = []
    for (kind, version, key), cells in sorted(scores.items()):
        criterion = {c["key"]: c for c in facts.criteria.get(version, [])}[key]
        figures = criterion_figures(cells, LEVELS.get(criterion["type"], "nominal"))
        criteria_rows.append(
            {"kind": kind, "version": version, "criterion": key, "type": criterion["type"], **figures}
        )
    for (kind, version, key), cells in preferences.items():
        figures = criterion_figures(cells, "nominal")
        criteria_rows.append(
            {"kind": kind, "version": version, "criterion": key, **figures}
            | {"type": facts.criterion_types.get(kind, "label")}
        )
    criteria_rows.sort(key=lambda r: (r["kind"], r["version"], r["criterion"], r["type"]))

    weekly_rows = []
    for kind in sorted(facts.kinds):
        weeks = defaultdict(dict)
        for (a, u), label in decisions.get((kind, "all"), {}).items():
            weeks[iso_week(last_seen[u])][(a, u)] = label
        for week, cells in sorted(weeks.items()):
            figures = nominal_figures(cells)
            weekly_rows.append(
                {"kind": kind, "week": week, **{k: figures[k] for k in ("alpha", "percent", "items")}}
            )

    return {
        "computed_at": computed_at,
        "judgments": len(facts.judgments),
        "items_judged": len({j.item for j in facts.judgments}),
        "versions": sorted(facts.criteria),
        "decisions": decision_rows,
        "strength": strength_rows,
        "criteria": criteria_rows,
        "ranking_tau": _ranking_tau(rankings) if rankings else {},
        "annotators": _annotators(facts, decisions),
        "weekly": weekly_rows,
        "annotator_weekly": {
            kind: annotator_weekly(decisions[(kind, "all")], judged_at, facts.names)
            for kind in facts.kinds
            if decisions.get((kind, "all"))
        },
        "gold": gold_table(facts),
    }
