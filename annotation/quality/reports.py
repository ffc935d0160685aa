"""Agreement figures of a project, computed from its current judgments with `annotation.agreement`
and `annotation.reliability`, and stored as an `AgreementReport` (recomputed on demand, never per page
view). `build_report` gathers and computes (read only); `recompute_agreement` stores it.

Report layout (`AgreementReport.data`, JSON; nan is stored as null):
  decisions:  per kind (each kind's label of a judgment: SFT decisions; see annotation.kinds)
              and rubric version ("all" too): nominal alpha, Fleiss' kappa (items with the modal number
              of judgments), percent agreement, items, judgments;
  strength:   per rubric version: ordinal alpha on the kinds' signed strengths (preference_strength_alpha);
  criteria:   per kind, version and criterion: alpha (ordinal for likert, nominal otherwise), percent,
              over rubric scores; also over the per-criterion labels a kind finds in the payload
              (criterion_labels; type = the kind's criterion_label_type, nominal alpha);
  ranking_tau: per annotator, mean Kendall tau-b against the Borda (mean rank) consensus of the
              *other* annotators of each item a kind gives a full ranking of (leave-one-out);
  annotators: per kind, per annotator: judgments, kappa and agreement vs consensus (leave-one-out:
              strict majority of the *other* annotators of the item; ties and items nobody else
              judged are left out), vs gold, pairwise kappas, confusion matrix vs consensus,
              Dawid-Skene accuracy and weight;
  weekly:     per kind and ISO week of an item's last judgment: alpha and percent agreement.
  annotator_weekly: per kind, annotator and ISO week of their judgment: agreement with the others'
              consensus (drift: an annotator whose agreement falls week after week).
"""

import math
from collections import Counter, defaultdict

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotation.core import audit
from annotation.core.errors import Forbidden
from annotation.core.permissions import can
from annotation.kinds import registry
from annotation.models import AgreementReport, AnnotatorReliability, Item, Judgment
from annotation.quality.agreement import (
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
    preference_strength_alpha,
    tau_against_consensus,
)
from annotation.quality.reliability import dawid_skene, reliability_weights

LEVELS = {"likert": "ordinal", "binary": "nominal", "labels": "nominal"}


def _num(x):
    """JSON-safe float: nan / inf -> None, rounded to 4 places."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, 4)


def _safe(fn, *args, **kwargs):
    try:
        return _num(fn(*args, **kwargs))
    except ValueError:
        return None


def _matrix(cells: dict, annotators: list, units: list, numeric: bool):
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


def _pairable_cells(cells: dict) -> tuple[list, dict]:
    """The units with two judgments or more (sorted) and only their cells, in one pass each."""
    units = _pairable_units(cells)
    keep = set(units)
    return units, {k: v for k, v in cells.items() if k[1] in keep}


def nominal_figures(cells: dict) -> dict:
    """Alpha (nominal), Fleiss' kappa over the items with the modal judgment count, percent agreement.

    Linear in the number of cells: they are grouped by unit once (a scan per unit was quadratic)."""
    units, cells = _pairable_cells(cells)
    annotators = sorted({a for a, _ in cells})
    out = {"items": len(units), "judgments": len(cells), "alpha": None, "fleiss": None, "percent": None}
    if not units:
        return out
    data = _matrix(cells, annotators, units, numeric=False)
    out["alpha"] = _safe(krippendorff_alpha, data, level="nominal")
    out["percent"] = _safe(percent_agreement, data)
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
        out["fleiss"] = _safe(fleiss_kappa, table)
        out["fleiss_items"] = len(table)
    return out


def _criterion_figures(cells: dict, level: str) -> dict:
    units, cells = _pairable_cells(cells)
    out = {"items": len(units), "judgments": len(cells), "alpha": None, "percent": None, "level": level}
    if not units:
        return out
    annotators = sorted({a for a, _ in cells})
    numeric = level == "ordinal"
    data = _matrix(cells, annotators, units, numeric=numeric)
    out["alpha"] = _safe(krippendorff_alpha, data, level=level)
    out["percent"] = _safe(percent_agreement, data)
    return out


def _score_value(criterion_type, value):
    if criterion_type == "likert":
        return float(value)
    if criterion_type == "binary":
        return "yes" if value else "no"
    return str(value)


def _iso_week(dt) -> str:
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


def _annotator_section(cells: dict, gold: dict, names: dict) -> list[dict]:
    """Per annotator figures of one kind from {(annotator, item): label}."""
    counts_by_unit, by_annotator = _by_unit_and_annotator(cells)
    labels = sorted({str(v) for v in cells.values()} | {str(v) for v in gold.values()})
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
            row["kappa_consensus"] = _safe(cohen_kappa, mine_l, cons_l)
            row["agree_consensus"] = _num(
                sum(x == y for x, y in zip(mine_l, cons_l, strict=True)) / len(shared)
            )
            matrix = [[0] * len(labels) for _ in labels]
            for x, y in zip(mine_l, cons_l, strict=True):
                matrix[labels.index(str(x))][labels.index(str(y))] += 1
            row["confusion"] = {"labels": labels, "matrix": matrix}
        on_gold = [u for u in mine if u in gold]
        if on_gold:
            row["gold_items"] = len(on_gold)
            row["kappa_gold"] = _safe(cohen_kappa, [mine[u] for u in on_gold], [gold[u] for u in on_gold])
            row["gold_accuracy"] = _num(sum(mine[u] == gold[u] for u in on_gold) / len(on_gold))
        for b in annotators:
            if b == a:
                continue
            common = [u for u in mine if u in by_annotator[b]]
            if common:
                row["pairwise"][str(b)] = {
                    "kappa": _safe(
                        cohen_kappa, [mine[u] for u in common], [by_annotator[b][u] for u in common]
                    ),
                    "items": len(common),
                }
        rows.append(row)
    _add_reliability(rows, cells, labels)
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
                tally = weeks[_iso_week(judged_at[(a, u)])]
                tally[0] += label == consensus[u]
                tally[1] += 1
        for week, (agree, n) in sorted(weeks.items()):
            rows.append(
                {
                    "user_id": a,
                    "username": names.get(a, str(a)),
                    "week": week,
                    "agree": _num(agree / n),
                    "items": n,
                }
            )
    return rows


def _add_reliability(rows: list[dict], cells: dict, labels: list[str]):
    """Dawid-Skene accuracy and vote weight per annotator (needs two classes and a shared item)."""
    for row in rows:
        row["reliability"] = None
        row["weight"] = None
    if len(labels) < 2 or not _pairable_units(cells):
        return
    annotators = [r["user_id"] for r in rows]
    units = sorted({u for _, u in cells})
    a_index = {a: i for i, a in enumerate(annotators)}
    u_index = {u: i for i, u in enumerate(units)}
    l_index = {label: i for i, label in enumerate(labels)}
    data = np.full((len(annotators), len(units)), -1, dtype=np.int64)
    for (a, u), label in cells.items():
        data[a_index[a], u_index[u]] = l_index[str(label)]
    result = dawid_skene(data, n_classes=len(labels))
    weights = reliability_weights(result)
    for i, row in enumerate(rows):
        row["reliability"] = _num(result.accuracy[i])
        row["weight"] = _num(weights[i])


def build_report(project) -> dict:
    """Compute every figure of the report from the project's current judgments (no writes)."""
    items = {
        i.pk: i for i in Item.objects.filter(project=project).only("id", "kind", "is_gold", "gold_answer")
    }
    kinds = {pk: registry.get(i.kind) for pk, i in items.items()}
    context = {pk: kinds[pk].context(i) for pk, i in items.items()}  # once per item (kind's facts)
    judgments = list(
        Judgment.objects.filter(item__project=project, is_current=True)
        .select_related("rubric_version", "annotator")
        .order_by("id")
    )
    names = {j.annotator_id: j.annotator.username for j in judgments}
    versions = {}
    for j in judgments:
        if j.rubric_version_id:
            versions[j.rubric_version.number] = j.rubric_version.criteria

    # (kind, version) -> {(annotator, item): label}
    decisions = defaultdict(dict)
    strengths = defaultdict(dict)
    scores = defaultdict(dict)  # (kind, version, key) -> cells
    preferences = defaultdict(dict)  # (kind, version, key) -> cells: the kinds' per-criterion labels
    rankings = defaultdict(dict)  # annotator -> {item: ranking groups}
    last_seen = {}
    judged_at = {}  # (annotator, item) -> when that judgment was made
    for j in judgments:
        item = items[j.item_id]
        if item.is_gold:
            continue  # gold items measure annotators against the known answer, not against each other
        version = j.rubric_version.number if j.rubric_version_id else 0
        kind, ctx = kinds[item.pk], context[item.pk]
        label = kind.label_of(j, ctx)
        if label is not None:
            decisions[(item.kind, version)][(j.annotator_id, item.pk)] = label
            decisions[(item.kind, "all")][(j.annotator_id, item.pk)] = label
        s = kind.strength(j, ctx)
        if s is not None:
            strengths[version][(j.annotator_id, item.pk)] = s
        ranking = kind.ranking(j, ctx)
        if ranking:
            rankings[j.annotator_id][item.pk] = ranking
        for key, crit_label in kind.criterion_labels(j, ctx).items():
            preferences[(item.kind, version, key)][(j.annotator_id, item.pk)] = crit_label
        types = {c["key"]: c["type"] for c in versions.get(version, [])}
        for key, value in (j.scores or {}).items():
            if key in types and value is not None:
                scores[(item.kind, version, key)][(j.annotator_id, item.pk)] = _score_value(types[key], value)
        last_seen[item.pk] = max(last_seen.get(item.pk, j.created_at), j.created_at)
        judged_at[(j.annotator_id, item.pk)] = j.created_at

    decision_rows = []
    for (kind, version), cells in sorted(decisions.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        decision_rows.append({"kind": kind, "version": version, **nominal_figures(cells)})
    strength_rows = []
    for version, cells in sorted(strengths.items()):
        units, kept = _pairable_cells(cells)
        row = {"version": version, "items": len(units), "alpha": None}
        if units:
            data = _matrix(kept, sorted({a for a, _ in kept}), units, numeric=True)
            row["alpha"] = _safe(preference_strength_alpha, data)
        strength_rows.append(row)
    criteria_rows = []
    for (kind, version, key), cells in sorted(scores.items()):
        types = {c["key"]: c for c in versions.get(version, [])}
        criterion = types[key]
        level = LEVELS.get(criterion["type"], "nominal")
        figures = _criterion_figures(cells, level)
        criteria_rows.append(
            {"kind": kind, "version": version, "criterion": key, "type": criterion["type"], **figures}
        )
    for (kind, version, key), cells in preferences.items():
        figures = _criterion_figures(cells, "nominal")
        criteria_rows.append(
            {
                "kind": kind,
                "version": version,
                "criterion": key,
                "type": registry.get(kind).criterion_label_type,
                **figures,
            }
        )
    criteria_rows.sort(key=lambda r: (r["kind"], r["version"], r["criterion"], r["type"]))

    # N-way rankings: each annotator's tau-b against the mean rank the *other* annotators gave each
    # response of the item (leave-one-out Borda consensus; items nobody else ranked are left out).
    ranking_tau = {}
    if rankings:
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
            ranking_tau[str(annotator)] = _num(tau)

    gold_labels = defaultdict(dict)
    for pk, item in items.items():
        if item.is_gold and item.gold_answer:
            gold_labels[item.kind][pk] = kinds[pk].gold_label(item.gold_answer, context[pk])
    gold_cells = defaultdict(dict)
    for j in judgments:
        item = items[j.item_id]
        if item.is_gold:
            label = kinds[item.pk].label_of(j, context[item.pk])
            if label is not None:
                gold_cells[item.kind][(j.annotator_id, item.pk)] = label

    annotators = {}
    for kind in registry.names():
        cells = dict(decisions.get((kind, "all"), {}))
        gold_only = gold_cells.get(kind, {})
        if not cells and not gold_only:
            continue
        rows = _annotator_section(cells, {}, names)
        gold = gold_labels.get(kind, {})
        by_user = {r["user_id"]: r for r in rows}
        for a, _unit in gold_only:
            row = by_user.get(a)
            if row is None:
                row = by_user[a] = {
                    "user_id": a, "username": names.get(a, str(a)), "judgments": 0, "kappa_consensus": None,
                    "agree_consensus": None, "pairwise": {}, "reliability": None, "weight": None,
                }  # fmt: skip
                rows.append(row)
        for row in rows:
            mine = {u: label for (a, u), label in gold_only.items() if a == row["user_id"] and u in gold}
            row["gold_items"] = len(mine)
            row["kappa_gold"] = (
                _safe(cohen_kappa, list(mine.values()), [gold[u] for u in mine]) if mine else None
            )
            row["gold_accuracy"] = _num(sum(mine[u] == gold[u] for u in mine) / len(mine)) if mine else None
        annotators[kind] = sorted(rows, key=lambda r: r["username"])

    weekly = defaultdict(lambda: defaultdict(dict))
    for kind in registry.names():
        for (a, u), label in decisions.get((kind, "all"), {}).items():
            weekly[kind][_iso_week(last_seen[u])][(a, u)] = label
    weekly_rows = []
    for kind, weeks in sorted(weekly.items()):
        for week, cells in sorted(weeks.items()):
            figures = nominal_figures(cells)
            weekly_rows.append(
                {"kind": kind, "week": week, **{k: figures[k] for k in ("alpha", "percent", "items")}}
            )

    return {
        "computed_at": timezone.now().isoformat(),
        "judgments": len(judgments),
        "items_judged": len({j.item_id for j in judgments}),
        "versions": sorted(versions),
        "decisions": decision_rows,
        "strength": strength_rows,
        "criteria": criteria_rows,
        "ranking_tau": ranking_tau,
        "annotators": annotators,
        "weekly": weekly_rows,
        "annotator_weekly": {
            kind: annotator_weekly(decisions[(kind, "all")], judged_at, names)
            for kind in registry.names()
            if decisions.get((kind, "all"))
        },
    }


@transaction.atomic
def recompute_agreement(*, project, actor=None) -> AgreementReport:
    """Compute and store the project's agreement report; refresh the annotators' Dawid-Skene weights."""
    if actor is not None and not can(actor, "view_dashboard", project):
        raise Forbidden("Only leads compute agreement.")
    data = build_report(project)
    report = AgreementReport.objects.create(project=project, computed_by=actor, data=data)
    AnnotatorReliability.objects.filter(project=project).delete()
    AnnotatorReliability.objects.bulk_create(
        [
            AnnotatorReliability(
                project=project,
                annotator_id=row["user_id"],
                kind=kind,
                accuracy=row["reliability"],
                weight=row["weight"],
                n_judgments=row["judgments"],
                report=report,
            )
            for kind, rows in data["annotators"].items()
            for row in rows
            if row.get("weight") is not None
        ]
    )
    audit.record(
        actor=actor,
        project=project,
        verb="agreement.computed",
        obj=report,
        judgments=data["judgments"],
        items=data["items_judged"],
    )
    return report
