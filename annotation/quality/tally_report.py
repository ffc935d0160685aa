"""The agreement report from the sums of annotation.quality.tally: the same layout and figures as
annotation.quality.report.compute, computed from small tables (floating point only here, at the end).

`compute(sums, names=..., kinds=..., criterion_types=..., reliability=..., computed_at=...)`
where `reliability(kind, annotators, labels)` returns each annotator's Dawid-Skene (accuracy, weight)
(the fit needs every judgment: annotation.quality.tally_store reads them from the stored states). One
difference from report.compute: Fleiss' kappa takes the items with the modal number of judgments, and
when two numbers are equally common it takes the larger (report.compute: the one seen first). No Django.
"""

from collections import defaultdict

import numpy as np

from annotation.quality.agreement import PREFERENCE_STRENGTHS, _distance
from annotation.quality.figures import num
from annotation.quality.tally import TAU_UNIT, dec

LEVELS = {"likert": "ordinal", "binary": "nominal", "labels": "nominal"}


class Sums:
    """The sums grouped for the figures: per scope {m: [items, {c: n_c}, {(c, k): n_c n_k}]}, the
    annotator tables per family."""

    def __init__(self, sums: dict):
        self.scopes = defaultdict(lambda: defaultdict(lambda: [0, {}, {}]))
        self.family = defaultdict(dict)
        for key, value in sums.items():
            head = key[0]
            if isinstance(head, tuple):
                entry = self.scopes[head][key[2]]
                if key[1] == "N":
                    entry[0] = value
                elif key[1] == "D":
                    entry[1][key[3]] = value
                else:
                    entry[2][(key[3], key[4])] = value
            else:
                self.family[head][key[1:]] = value


def _coincidences(stats: dict):
    """(items, values, domain (decoded, sorted by its encoding), o) over the pairable items."""
    pairable = {m: s for m, s in stats.items() if m >= 2 and s[0]}
    items = sum(s[0] for s in pairable.values())
    values = sum(m * s[0] for m, s in pairable.items())
    codes = sorted({c for s in pairable.values() for c in s[1]}, key=repr)
    index = {c: i for i, c in enumerate(codes)}
    o = np.zeros((len(codes), len(codes)))
    for m, (_, diag, prods) in sorted(pairable.items()):
        om = np.zeros_like(o)
        for (c, k), n in prods.items():
            om[index[c], index[k]] += n
        for c, n in diag.items():
            om[index[c], index[c]] -= n
        o += om / (m - 1.0)
    return items, values, [dec(c) for c in codes], o


def _alpha(o: np.ndarray, domain: list, level: str) -> float | None:
    if level == "ordinal":  # order the values (numeric scales, strengths)
        try:
            order = sorted(range(len(domain)), key=lambda i: domain[i])
        except TypeError:
            return None
        o = o[np.ix_(order, order)]
        domain = [domain[i] for i in order]
    n_v = o.sum(axis=0)
    n = n_v.sum()
    try:
        d = _distance(level, np.asarray(domain, dtype=object), n_v)
    except ValueError:
        return None
    expected = float(n_v @ d @ n_v) / (n - 1.0)
    return None if expected == 0.0 else num(1.0 - (o * d).sum() / expected)


def scope_figures(stats: dict, level: str = "nominal", fleiss: bool = False, domain=None) -> dict:
    """items, judgments, alpha, percent (and Fleiss' kappa) of one scope, as figures.nominal_figures."""
    items, values, codes, o = _coincidences(stats)
    out = {"items": items, "judgments": values, "alpha": None, "percent": None}
    if fleiss:
        out["fleiss"] = None
    if not items:
        return out
    if domain is not None and any(c not in domain for c in codes):
        out["alpha"] = None  # a value outside the fixed domain: the metric raises, the report shows none
    else:
        out["alpha"] = _alpha(o, codes, level)
    pairs = sum(m * (m - 1) * s[0] for m, s in stats.items() if m >= 2)
    agreeing = sum(s[2].get((c, c), 0) - n for m, s in stats.items() if m >= 2 for c, n in s[1].items())
    out["percent"] = num(agreeing / pairs)
    if fleiss:
        counts = {m: s[0] for m, s in stats.items() if m >= 2 and s[0]}
        top = max(counts.values())
        m = max(k for k, n in counts.items() if n == top)
        n_items, diag, prods = stats[m]
        total = n_items * m
        p_cat = np.array([n / total for n in diag.values()])
        p_mean = (sum(prods.get((c, c), 0) for c in diag) - total) / (total * (m - 1.0))
        p_exp = float((p_cat * p_cat).sum())
        out["fleiss"] = None if p_exp == 1.0 else num((p_mean - p_exp) / (1.0 - p_exp))
        out["fleiss_items"] = n_items
    return out


def kappa(counts: dict) -> float | None:
    """Cohen's kappa from {(a's answer, b's answer): n} (agreement.cohen_kappa, unweighted: 1 minus
    the disagreeing share over its chance expectation), in plain Python: the tables are tiny."""
    if not counts:
        return None
    rows, cols, total, agree = defaultdict(int), defaultdict(int), 0, 0
    for (x, y), n in counts.items():
        rows[x] += n
        cols[y] += n
        total += n
        agree += n if x == y else 0
    expected = total - sum(r * cols.get(x, 0) for x, r in rows.items()) / total
    if expected == 0.0:
        return None
    return num(1.0 - (total - agree) / expected)


def _label_str(code: str) -> str:
    return str(dec(code))


def _annotator_rows(kind: str, sums: Sums, names: dict, reliability) -> list[dict]:
    fam = sums.family
    name = lambda a: names.get(a, str(a))  # noqa: E731
    judged = {a: n for (k, a), n in fam["AJ"].items() if k == kind}
    labels = sorted({_label_str(c) for (k, c), n in fam["AL"].items() if k == kind and n})
    versus = defaultdict(dict)
    for (k, a, mine, cons), n in fam["AC"].items():
        if k == kind:
            versus[a][(mine, cons)] = n
    pairs = defaultdict(dict)  # a -> b -> {(mine, theirs): n}
    for (k, a, b, la, lb), n in fam["AP"].items():
        if k == kind:
            pairs[a].setdefault(b, {})[(la, lb)] = n
            pairs[b].setdefault(a, {})[(lb, la)] = n
    annotators = sorted(judged, key=name)
    order = {a: i for i, a in enumerate(annotators)}
    rows, pair_figures = [], {}
    for a in annotators:
        pairs[a] = dict(
            sorted(((b, t) for b, t in pairs[a].items() if b in order), key=lambda bt: order[bt[0]])
        )
        row = {
            "user_id": a, "username": name(a), "judgments": judged[a], "kappa_consensus": None,
            "agree_consensus": None, "kappa_gold": None, "gold_accuracy": None, "gold_items": 0,
            "pairwise": {},
        }  # fmt: skip
        table = versus.get(a)
        if table:
            shared = sum(table.values())
            row["kappa_consensus"] = kappa(table)
            row["agree_consensus"] = num(sum(n for (x, y), n in table.items() if x == y) / shared)
            matrix = [[0] * len(labels) for _ in labels]
            for (x, y), n in table.items():
                matrix[labels.index(_label_str(x))][labels.index(_label_str(y))] += n
            row["confusion"] = {"labels": labels, "matrix": matrix}
        for b, common in pairs[a].items():
            if b != a and common:
                pair = (a, b) if a < b else (b, a)
                if pair not in pair_figures:  # Cohen's kappa is symmetric (integer sums): once a pair
                    pair_figures[pair] = {"kappa": kappa(common), "items": sum(common.values())}
                row["pairwise"][str(b)] = dict(pair_figures[pair])
        rows.append(row)
    pairable = any(m >= 2 and s[0] for m, s in sums.scopes.get(("dec", kind, "all"), {}).items())
    fitted = reliability(kind, annotators, labels) if len(labels) >= 2 and pairable else {}
    for row in rows:
        accuracy, weight = fitted.get(row["user_id"], (None, None))
        row["reliability"], row["weight"] = num(accuracy), num(weight)
    return rows


def _annotators(sums: Sums, names: dict, kinds, reliability) -> dict:
    fam = sums.family
    name = lambda a: names.get(a, str(a))  # noqa: E731
    out = {}
    for kind in kinds:
        on_gold = {a for (k, a), n in fam["OG"].items() if k == kind and n}
        has_cells = any(k == kind for (k, _a) in fam["AJ"])
        if not has_cells and not on_gold:
            continue
        rows = _annotator_rows(kind, sums, names, reliability) if has_cells else []
        by_user = {r["user_id"]: r for r in rows}
        for a in sorted(on_gold, key=name):
            if a not in by_user:
                by_user[a] = {
                    "user_id": a, "username": name(a), "judgments": 0, "kappa_consensus": None,
                    "agree_consensus": None, "pairwise": {}, "reliability": None, "weight": None,
                }  # fmt: skip
                rows.append(by_user[a])
        gold = defaultdict(dict)
        for (k, a, given, known), n in fam["GK"].items():
            if k == kind:
                gold[a][(given, known)] = n
        for row in rows:
            table = gold.get(row["user_id"], {})
            answered = sum(table.values())
            row["gold_items"] = answered
            row["kappa_gold"] = kappa(table) if answered else None
            correct = sum(n for (x, y), n in table.items() if x == y)
            row["gold_accuracy"] = num(correct / answered) if answered else None
        out[kind] = sorted(rows, key=lambda r: r["username"])
    return out


def _gold_table(sums: Sums, names: dict) -> list[dict]:
    counts = defaultdict(dict)
    for (a, what), n in sums.family["G"].items():
        counts[a][what] = n
    rows = []
    for a, c in counts.items():
        n, correct, sn, sc = c.get("n", 0), c.get("c", 0), c.get("sn", 0), c.get("sc", 0)
        if not n:
            continue
        rows.append(
            {"user_id": a, "username": names.get(a, str(a)), "n": n, "correct": correct, "score_n": sn,
             "score_correct": sc, "accuracy": num(correct / n),
             "score_accuracy": round(sc / sn, 4) if sn else None}
        )  # fmt: skip
    return sorted(rows, key=lambda r: r["username"])


def _ranking_tau(sums: Sums) -> dict:
    fam = sums.family
    out = {}
    for (a,), n in fam["RT"].items():
        if n:
            finite = fam["RN"].get((a,), 0)
            out[str(a)] = num(fam["RS"].get((a,), 0) / finite / TAU_UNIT) if finite else None
    return out


def _weekly(sums: Sums, names: dict, kinds) -> tuple[list, dict]:
    weekly = []
    for scope, stats in sums.scopes.items():
        if scope[0] == "wk" and any(s[0] for s in stats.values()):
            figures = scope_figures(stats)
            weekly.append(
                {"kind": scope[1], "week": scope[2], **{k: figures[k] for k in ("alpha", "percent", "items")}}
            )
    weekly.sort(key=lambda r: (r["kind"], r["week"]))
    per = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))  # kind -> a -> week -> {n, a}
    for (kind, a, week, what), n in sums.family["AW"].items():
        per[kind][a][week][what] = n
    annotator_weekly = {}
    for kind in kinds:
        if not any(k == kind for (k, _a) in sums.family["AJ"]):
            continue
        rows = []
        for a in sorted(per.get(kind, {}), key=lambda a: names.get(a, str(a))):
            for week, t in sorted(per[kind][a].items()):
                if t.get("n"):
                    rows.append({"user_id": a, "username": names.get(a, str(a)), "week": week,
                                 "agree": num(t.get("a", 0) / t["n"]), "items": t["n"]})  # fmt: skip
        annotator_weekly[kind] = rows
    return weekly, annotator_weekly


def compute(sums: dict, *, names, kinds, criterion_types, reliability, computed_at) -> dict:
    """The report (annotation.quality.reports' layout) from the sums {key tuple: integer}."""
    grouped = Sums(sums)
    decisions, strength, crit = [], [], []
    for scope, stats in grouped.scopes.items():
        if not any(s[0] for s in stats.values()):
            continue
        if scope[0] == "dec":
            decisions.append({"kind": scope[1], "version": scope[2], **scope_figures(stats, fleiss=True)})
        elif scope[0] == "str":
            figures = scope_figures(stats, "ordinal", domain=PREFERENCE_STRENGTHS)
            strength.append({"version": scope[1], "items": figures["items"], "alpha": figures["alpha"]})
        elif scope[0] == "crit":
            _, kind, version, key, ctype = scope
            level = LEVELS.get(ctype, "nominal")
            figures = scope_figures(stats, level)
            crit.append(
                {"kind": kind, "version": version, "criterion": key, "type": ctype, **figures, "level": level}
            )
        elif scope[0] == "pref":
            _, kind, version, key = scope
            figures = scope_figures(stats)
            crit.append({"kind": kind, "version": version, "criterion": key, **figures, "level": "nominal"}
                        | {"type": criterion_types.get(kind, "label")})  # fmt: skip
    decisions.sort(key=lambda r: (r["kind"], str(r["version"])))
    strength.sort(key=lambda r: r["version"])
    crit.sort(key=lambda r: (r["kind"], r["version"], r["criterion"], r["type"]))
    weekly, annotator_weekly = _weekly(grouped, names, kinds)
    fam = grouped.family
    return {
        "computed_at": computed_at,
        "judgments": fam["J"].get((), 0),
        "items_judged": fam["I"].get((), 0),
        "versions": sorted(v for (v,), n in fam["V"].items() if n),
        "decisions": decisions,
        "strength": strength,
        "criteria": crit,
        "ranking_tau": _ranking_tau(grouped),
        "annotators": _annotators(grouped, names, kinds, reliability),
        "weekly": weekly,
        "annotator_weekly": annotator_weekly,
        "gold": _gold_table(grouped, names),
    }
