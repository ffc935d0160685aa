"""What one item contributes to the agreement report, as integer sums: the incremental recompute.

Every figure of the report (annotation.quality.report's layout) is a function of sums over items:
Krippendorff's alpha of the coincidence matrix o[c, k] = sum over items of n_c * n_k / (m - 1) (less
n_c on the diagonal), percent agreement and Fleiss' kappa of the same per-item counts, Cohen's kappa
of a pair's contingency counts, agreement with the leave-one-out consensus of the annotator's
(answer, consensus) counts, and so on. `contributions(state)` gives one item's part of every sum as
{key: integer}; the sums are kept grouped by the item's number of values m, so that they stay
integers (the division by m - 1 happens once, in annotation.quality.tally_report). An incremental
recompute subtracts the old contribution of a changed item and adds the new one, so its sums are
exactly those of a full recompute.

An item's state (`AgreementItemState.data`, JSON), built by annotation.quality.tally_store:
  {"k": kind, "g": gold item?, "ga": [gold label] (gold answers only), "gs": {gold scores},
   "j": [cell, ...] in judgment order}
  cell = [annotator, version, label, strength, ranking, preferences, scores, week, raw scores]
  where scores = [[criterion key, type, value], ...] (score_value applied), raw scores = the
  judgment's scores on gold items ({} elsewhere), week = ISO week of the judgment.

Keys (tuples; values JSON-encoded with `enc` where they are answers):
  ("J",) judgments, ("I",) items judged, ("V", version) judgments per rubric version;
  (scope, "N", m) items with m values, (scope, "D", m, c) values c, (scope, "O", m, c, k) n_c * n_k,
      scope = ("dec", kind, version | "all") | ("str", version) | ("crit", kind, version, key, type)
      | ("pref", kind, version, key) | ("wk", kind, week) — as JSON: the scope is the key's first item;
  ("AJ", kind, a) judgments, ("AL", kind, c) answers c, ("AC", kind, a, mine, consensus),
  ("AP", kind, a, b, la, lb) with a < b, ("AW", kind, a, week, "n" | "a"),
  ("OG", kind, a) labelled judgments on gold items, ("GK", kind, a, given, known),
  ("G", a, "n" | "c" | "sn" | "sc") gold table counts,
  ("RT", a) rankings, ("RS", a) sum of finite taus in units of 1e-12, ("RN", a) finite taus.
No Django.
"""

import json
import math
from collections import Counter, defaultdict

from annotation.quality.rank_agreement import tau_against_consensus

TAU_UNIT = 10**12  # tau sums are kept as integers: exact under subtraction
MEMO_SIZE = 200_000  # scope parts kept by `contributions(..., memo=)` before the memo starts over


_SCALARS = (str, int, float, type(None))


def enc(value):
    """An answer as a key part: JSON scalars as they are (they survive the key's JSON), anything else
    as its JSON text."""
    return value if type(value) in _SCALARS else json.dumps(value, sort_keys=True)


def dec(value):
    return value


_KEY_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps builds an encoder per call otherwise


def key_text(key: tuple) -> str:
    return _KEY_ENCODER.encode(key)


def key_of(text: str) -> tuple:
    return tuple(tuple(x) if isinstance(x, list) else x for x in json.loads(text))


def _counts(values: dict) -> dict:
    """How often each (encoded) answer is among `values`' values, in first-seen order."""
    counts = {}
    for value in values.values():
        code = value if type(value) in _SCALARS else json.dumps(value, sort_keys=True)
        counts[code] = counts.get(code, 0) + 1
    return counts


def _scope(out: Counter, scope: tuple, values: dict):
    """One scope's per-item counts: the item's number of values m, and, when pairable, its values'
    counts and their products (the coincidences before the division by m - 1)."""
    m = len(values)
    if not m:
        return
    out[(scope, "N", m)] += 1
    if m < 2:
        return
    counts = _counts(values)
    for c, nc in counts.items():
        out[(scope, "D", m, c)] += nc
        for k, nk in counts.items():
            out[(scope, "O", m, c, k)] += nc * nk


def _consensus_of_others(labels: dict) -> dict:
    """annotator -> strict majority of the other annotators' labels (as figures._consensus_of_others)."""
    counts = _counts(labels)
    out = {}
    for a, label in labels.items():
        mine = enc(label)
        best, best_n, second_n = None, 0, 0
        for lab, n in counts.items():
            n -= lab == mine
            if n > best_n:
                best, best_n, second_n = lab, n, best_n
            elif n > second_n:
                second_n = n
        if best_n > second_n:
            out[a] = best
    return out


def _ranking(out: Counter, rankings: dict):
    rank_sum, rank_n = Counter(), Counter()
    for ranking in rankings.values():
        for r, group in enumerate(ranking):
            for rid in group:
                rank_sum[rid] += r
                rank_n[rid] += 1
    for a, ranking in rankings.items():
        out[("RT", a)] += 1
        mine = {rid: r for r, group in enumerate(ranking) for rid in group}
        others = {
            rid: (rank_sum[rid] - mine.get(rid, 0)) / (n - (rid in mine))
            for rid, n in rank_n.items()
            if n - (rid in mine) > 0
        }
        if not others:
            continue
        tau = tau_against_consensus({a: {0: ranking}}, {0: others})[a]
        if not math.isnan(tau):
            out[("RS", a)] += round(tau * TAU_UNIT)
            out[("RN", a)] += 1


def _gold(out: Counter, state: dict, kind: str, cells: list):
    for cell in cells:
        if cell[2] is not None:
            out[("OG", kind, cell[0])] += 1
    if "ga" not in state:
        return
    known = state["ga"][0]
    scores = state.get("gs") or {}
    answers = {}
    for a, _v, label, *_rest, raw in cells:
        out[("G", a, "n")] += 1
        out[("G", a, "c")] += int(label == known)
        for key, value in scores.items():
            if key in raw:
                out[("G", a, "sn")] += 1
                out[("G", a, "sc")] += int(raw[key] == value)
        answers[a] = label
    for a, label in answers.items():
        if label is not None:
            out[("GK", kind, a, enc(label), enc(known))] += 1


def contributions(state: dict, out: Counter | None = None, memo: dict | None = None) -> Counter:
    """The item's part of every sum of the report, {key: integer} (zero entries left out); added to
    `out` when given (a full rebuild sums every item's part into one Counter: `nonzero` at the end).
    `memo` (a dict the caller keeps across items): each scope's part by the scope and its values, so
    that the many items with the same answers in the same scope are counted once."""
    out = Counter() if out is None else out
    cells = state.get("j") or []
    if not cells:
        return out
    kind = state["k"]
    out[("J",)] += len(cells)
    out[("I",)] += 1
    for cell in cells:
        if cell[1]:
            out[("V", cell[1])] += 1
    if state.get("g"):
        _gold(out, state, kind, cells)
        return out  # gold items measure annotators against the known answer, not each other
    scopes = defaultdict(dict)  # scope -> {annotator: value}; a later judgment replaces an earlier one
    rankings, judged_week = {}, {}
    for a, version, label, strength, ranking, prefs, scores, week, _raw in cells:
        if label is not None:
            scopes[("dec", kind, version)][a] = label
            scopes[("dec", kind, "all")][a] = label
        if strength is not None:
            scopes[("str", version)][a] = strength
        if ranking:
            rankings[a] = ranking
        for key, value in prefs.items():
            scopes[("pref", kind, version, key)][a] = value
        for key, ctype, value in scores:
            scopes[("crit", kind, version, key, ctype)][a] = value
        judged_week[a] = week
    decisions = scopes.get(("dec", kind, "all"), {})
    if decisions:
        scopes[("wk", kind, max(c[7] for c in cells))] = decisions
    for scope, values in scopes.items():
        if memo is None:
            _scope(out, scope, values)
            continue
        code = (
            scope,
            tuple(v if type(v) in _SCALARS else json.dumps(v, sort_keys=True) for v in values.values()),
        )
        parts = memo.get(code)
        if parts is None:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            part = Counter()
            _scope(part, scope, values)
            parts = memo[code] = tuple(part.items())
        for key, n in parts:
            out[key] += n
    consensus = _consensus_of_others(decisions)
    for a, label in decisions.items():
        out[("AJ", kind, a)] += 1
        out[("AL", kind, enc(label))] += 1
        if a in consensus:
            out[("AC", kind, a, enc(label), consensus[a])] += 1
            out[("AW", kind, a, judged_week[a], "n")] += 1
            out[("AW", kind, a, judged_week[a], "a")] += int(enc(label) == consensus[a])
    members = sorted(decisions)
    for i, a in enumerate(members):
        for b in members[i + 1 :]:
            out[("AP", kind, a, b, enc(decisions[a]), enc(decisions[b]))] += 1
    if rankings:
        _ranking(out, rankings)
    return out


def votes(state: dict) -> dict:
    """{annotator: str(label)} of a non-gold item's current answers (a later judgment wins): the
    Dawid-Skene fit's input."""
    if state.get("g"):
        return {}
    return {cell[0]: str(cell[2]) for cell in state.get("j") or [] if cell[2] is not None}


def nonzero(sums: Counter) -> dict:
    """The sums without their zero entries (what `add` keeps)."""
    return {k: v for k, v in sums.items() if v}


def add(sums: dict, part: Counter, sign: int = 1) -> None:
    """sums += sign * part, in place; keys that reach zero are dropped."""
    for key, value in part.items():
        total = sums.get(key, 0) + sign * value
        if total:
            sums[key] = total
        else:
            sums.pop(key, None)
