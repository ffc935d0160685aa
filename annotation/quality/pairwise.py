"""Pairwise agreement for the agreement page, from a stored report's annotator rows: a heatmap spec,
the lowest and highest agreeing pairs and each annotator's mean pairwise kappa. Pure: no Django.

The report keeps every pair (`annotators[kind][i]["pairwise"]`: other annotator's id -> {kappa,
items}), annotators² entries. Written out as text on the page that was ~730 KB of markup per kind at
100 annotators, rendered by the template on the first view of each report. The page shows instead:
  - a heatmap (`heatmap`: a compact chart spec, the kappas rounded to 2 places, ~5 bytes a cell in a
    JSON script, drawn by static/js/charts.js; annotators ordered by mean pairwise kappa, lowest
    first, so that the ones who agree least with everyone sit together on the top and left);
  - the `TOP_N` lowest and highest agreeing pairs (`extremes`), every pair when there are at most
    2 x `TOP_N`;
  - each annotator's mean pairwise kappa over the annotators they share an item with (`means`);
  - the full per-annotator list only up to `FULL_TABLE_MAX` annotators (`full_table`).
The full table stays in the CSV download (`annotation.quality.views`, table "pairwise": `csv_rows`).
"""

import heapq

from annotation.core import charts

TOP_N = 10  # pairs in each of the lowest / highest tables
FULL_TABLE_MAX = 12  # up to this many annotators the page also lists every pair per annotator


def pairs(rows: list[dict]) -> list[dict]:
    """Each unordered pair once {a, b, kappa, items}, `a` the one of the two that comes first in
    `rows` (Cohen's kappa and the shared items are symmetric: the report stores both directions)."""
    names = {str(r["user_id"]): r["username"] for r in rows}
    position = {str(r["user_id"]): i for i, r in enumerate(rows)}
    out = []
    for i, r in enumerate(rows):
        for other, p in (r.get("pairwise") or {}).items():
            if position.get(other, len(rows)) > i:  # the later one's row holds the same pair
                out.append(
                    {"a": r["username"], "b": names.get(other, f"#{other}"), "kappa": p.get("kappa"),
                     "items": p.get("items") or 0}
                )  # fmt: skip
    return out


def _low(p):
    return (p["kappa"], -p["items"], p["a"], p["b"])


def _high(p):
    return (-p["kappa"], -p["items"], p["a"], p["b"])


def extremes(pair_list: list[dict], n: int = TOP_N) -> dict:
    """{"lowest": [...], "highest": [...]}: the `n` pairs with the lowest kappa (lowest first) and the
    `n` with the highest (highest first), ties broken by more shared items, then names. Pairs without a
    kappa (no variation) are left out. With at most 2n pairs, "lowest" holds them all and "highest"
    is empty (one table, no pair twice)."""
    ranked = [p for p in pair_list if p["kappa"] is not None]
    if len(ranked) <= 2 * n:
        return {"lowest": sorted(ranked, key=_low), "highest": []}
    return {"lowest": heapq.nsmallest(n, ranked, key=_low), "highest": heapq.nsmallest(n, ranked, key=_high)}


def means(rows: list[dict]) -> dict[str, dict]:
    """str(user id) -> {"mean": mean pairwise kappa (4 places) or None, "partners": how many kappas}."""
    out = {}
    for r in rows:
        kappas = [p["kappa"] for p in (r.get("pairwise") or {}).values() if p.get("kappa") is not None]
        out[str(r["user_id"])] = {
            "mean": round(sum(kappas) / len(kappas), 4) if kappas else None,
            "partners": len(kappas),
        }
    return out


def order(rows: list[dict], mean: dict[str, dict]) -> list[dict]:
    """The rows by mean pairwise kappa, lowest first (no mean last), then by name."""
    return sorted(
        rows,
        key=lambda r: (
            mean[str(r["user_id"])]["mean"] is None,
            mean[str(r["user_id"])]["mean"] or 0.0,
            r["username"],
        ),
    )


def heatmap(kind: str, rows: list[dict], mean: dict[str, dict]) -> dict:
    """A compact heatmap spec (annotation.core.charts): kappa of row annotator with column annotator,
    -1..1 diverging at 0, no value on the diagonal or for pairs that share no item."""
    ordered = order(rows, mean)
    ids = [str(r["user_id"]) for r in ordered]
    values = []
    for r in ordered:
        mine = r.get("pairwise") or {}
        values.append([mine[b].get("kappa") if b in mine else None for b in ids])
    names = [r["username"] for r in ordered]
    return charts.heatmap(
        names,
        names,
        values,
        title=f"{kind}: pairwise Cohen's kappa",
        row_title="annotator",
        column_title="annotator",
        value_title="Cohen's kappa",
        value_min=-1.0,
        value_max=1.0,
        midpoint=0.0,
        compact=True,
    )


def full_table(rows: list[dict]) -> bool:
    """Whether the page also lists every pair per annotator (small projects)."""
    return len(rows) <= FULL_TABLE_MAX


def csv_rows(annotators: dict) -> list[dict]:
    """The full pairwise table, both directions: {kind, username, other, kappa, items} per pair."""
    out = []
    for kind, rows in annotators.items():
        names = {str(r["user_id"]): r["username"] for r in rows}
        for r in rows:
            for other, p in (r.get("pairwise") or {}).items():
                out.append(
                    {
                        "kind": kind,
                        "username": r["username"],
                        "other": names.get(other, f"#{other}"),
                        "kappa": p.get("kappa"),
                        "items": p.get("items"),
                    }
                )
    return out
