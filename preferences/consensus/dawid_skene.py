"""The "dawid_skene" consensus rule: one Dawid-Skene fit over every comparison's votes (per criterion),
then each comparison's label is its posterior argmax and its confidence that posterior probability.

Conventions as in `preferences.consensus`. The fit is `annotation.core.reliability.dawid_skene` (the
same as the agreement report's annotator weights: a no-information Dirichlet prior on each confusion
row, fitted on comparisons with at least two votes or a gold answer, gold answers clamped).

Classes: a vote's class is the canonical position of the response it puts first alone ("response 1",
"response 2", ... of `responses[comparison]`), "tie" (a tie, or several responses tied first) or
"both_bad"; a comparison of n responses can only be positions < n, tie or both_bad. So Dawid-Skene
decides who wins (or tie / both bad); its posterior is `confidence` and `scores["dawid_skene"]`
(response id, "tie" or "both_bad" -> probability). A posterior below `min_confidence` gives "none".
Strength and the rest of an N-way order are not classes: `margin`, the order after the winner and the
pairs that do not involve the winner (every pair, when there is none) come from the "weighted" rule
with the fitted Dawid-Skene vote weights (`params["weights"]`); pairs of the winner against each other
response are wins with the posterior as their confidence; with two responses the one pair is the
comparison's outcome. Criteria are fitted separately (each is its own question). A comparison whose
votes all come from annotators with no fitted judgment gets the class prior (low confidence: use
`min_confidence` to leave it without consensus).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from annotation.core.reliability import PRIOR_STRENGTH, SparseLabels, dawid_skene, reliability_weights

from .pairwise import BAD, NONE, TIED, WIN, PairwiseResult, PairwiseVotes, pairwise_consensus
from .rules import ConsensusResult, PairConsensus, consensus_for_comparison
from .votes import ResponseId, Vote

TIE, BOTH_BAD = "tie", "both_bad"


def _vote_class(vote: Vote, canonical: list) -> int | str:
    if vote.outcome == "both_bad":
        return BOTH_BAD
    top = vote.ranking[0]
    if vote.outcome == "tie" or len(top) > 1:
        return TIE
    return canonical.index(top[0])


def _canonical(votes: list[Vote], responses) -> list:
    seen = {x for v in votes for g in v.ranking for x in g}
    if responses is None:
        return sorted(seen, key=lambda x: (str(type(x)), x))
    canonical = list(responses)
    if missing := seen - set(canonical):
        raise ValueError(f"Votes name responses outside `responses`: {sorted(map(str, missing))}.")
    return canonical


def dawid_skene_consensus(
    votes: Iterable[Vote],
    *,
    responses: Mapping[Hashable, Sequence[ResponseId]] | None = None,
    gold: Iterable[Vote] = (),
    min_confidence: float = 0.0,
    prior_strength: float = PRIOR_STRENGTH,
) -> dict[tuple[Hashable, str], ConsensusResult]:
    """{(comparison_id, criterion): ConsensusResult} under the "dawid_skene" rule for every group of
    `votes`. `responses`: comparison id -> its responses in canonical order (default: ids sorted);
    `gold`: known answers as votes (their annotator is ignored), clamped in the fit. Comparison by
    comparison: the reference `dawid_skene_batch` is held to."""
    groups: dict[str, dict[Hashable, list[Vote]]] = defaultdict(lambda: defaultdict(list))
    for v in votes:
        groups[v.criterion][v.comparison_id].append(v)
    known = {(g.comparison_id, g.criterion): g for g in gold}
    out = {}
    for criterion, by_item in groups.items():
        out.update(_fit_reference(criterion, by_item, responses or {}, known, min_confidence, prior_strength))
    return out


def dawid_skene_batch(
    votes: Iterable[Vote],
    pairwise: PairwiseVotes | None = None,
    *,
    order: Sequence[Hashable] | None = None,
    responses: Mapping[Hashable, Sequence[ResponseId]] | None = None,
    gold: Iterable[Vote] = (),
    min_confidence: float = 0.0,
    prior_strength: float = PRIOR_STRENGTH,
) -> tuple[dict[tuple[Hashable, str], ConsensusResult], DawidSkenePairwise | None]:
    """`dawid_skene_consensus` of `votes` plus the two-response comparisons of `pairwise` (overall
    question, as arrays: `preferences.consensus.pairwise`), fitted together: (the results of
    `votes`' comparisons, a `PairwiseResult` for `pairwise`'s, in its order, or None). `order`: the
    overall question's comparison ids (of both) in the order the fit takes them (its sums depend on
    it); default `votes`' comparisons as they come, then `pairwise`'s."""
    groups: dict[str, dict[Hashable, list[Vote]]] = defaultdict(lambda: defaultdict(list))
    for v in votes:
        groups[v.criterion][v.comparison_id].append(v)
    if pairwise is not None and len(pairwise):
        groups[""]  # noqa: B018 - the overall question is fitted even when every vote is pairwise
    known = {(g.comparison_id, g.criterion): g for g in gold}
    out, batch = {}, None
    for criterion, by_item in groups.items():
        extra = pairwise if not criterion else None
        fitted, result = _fit_criterion(
            criterion, by_item, responses or {}, known, min_confidence, prior_strength, extra,
            order if not criterion else None,
        )  # fmt: skip
        out.update(fitted)
        batch = result if result is not None else batch
    return out, batch


def _fit_criterion(criterion, by_item, responses, gold, min_confidence, prior_strength, pairwise, order):
    n_pairwise = len(pairwise) if pairwise is not None else 0
    items = list(order) if order is not None else [*by_item, *(pairwise.ids if n_pairwise else [])]
    canonical = {c: _canonical(by_item[c], responses.get(c)) for c in by_item}
    width = max([len(r) for r in canonical.values()] + ([2] if n_pairwise else []))
    classes: list[int | str] = [*range(width), TIE, BOTH_BAD]
    index = {c: k for k, c in enumerate(classes)}
    pw_annotators = np.unique(pairwise.annotator).tolist() if n_pairwise else []
    annotators = sorted(
        {v.annotator for vs in by_item.values() for v in vs}.union(pw_annotators),
        key=lambda a: (str(type(a)), a),
    )
    a_index = {a: j for j, a in enumerate(annotators)}
    position = {c: i for i, c in enumerate(items)}
    pw_position = {c: k for k, c in enumerate(pairwise.ids)} if n_pairwise else {}
    if len(position) != len(items) or len(items) != len(by_item) + n_pairwise:
        raise ValueError("`order` must name every comparison of the overall question once.")
    gold_class = np.full(len(items), -1, dtype=np.int64)
    lengths = np.full(len(items), 2, dtype=np.int64)
    # the judgments, as the dense annotators x items matrix's cells would give them (a later vote of
    # the same annotator on the same item replaces an earlier one)
    cells_a, cells_i, cells_k = [], [], []
    for c, vs in by_item.items():
        i = position[c]
        lengths[i] = len(canonical[c])
        for v in vs:
            cells_a.append(a_index[v.annotator])
            cells_i.append(i)
            cells_k.append(index[_vote_class(v, canonical[c])])
    cell_a, cell_i = np.array(cells_a, dtype=np.intp), np.array(cells_i, dtype=np.intp)
    cell_k, seq = np.array(cells_k, dtype=np.intp), np.arange(len(cells_a), dtype=np.intp)
    if n_pairwise:
        pw_items = np.array([position[c] for c in pairwise.ids], dtype=np.intp)
        pw_class = np.array([0, 1, index[TIE], index[BOTH_BAD]], dtype=np.intp)[pairwise.side]
        pw_index = np.array([a_index[a] for a in pw_annotators], dtype=np.intp)
        pw_a = pw_index[np.searchsorted(np.array(pw_annotators), pairwise.annotator)]
        cell_a, cell_i = (
            np.concatenate([cell_a, pw_a]),
            np.concatenate([cell_i, pw_items[pairwise.comparison]]),
        )
        cell_k = np.concatenate([cell_k, pw_class])
        seq = np.arange(len(cell_a), dtype=np.intp)
    ordered = np.lexsort((seq, cell_i, cell_a))
    cell_a, cell_i, cell_k = cell_a[ordered], cell_i[ordered], cell_k[ordered]
    last = np.ones(len(cell_a), dtype=bool)
    last[:-1] = (cell_a[1:] != cell_a[:-1]) | (cell_i[1:] != cell_i[:-1])
    labels = SparseLabels(cell_a[last], cell_i[last], cell_k[last], len(annotators), len(items))
    for (c, crit), g in gold.items():
        i = position.get(c)
        if crit != criterion or i is None:
            continue
        if c in canonical:
            shown = canonical[c]
        else:
            k = pw_position[c]
            shown = [pairwise.first[k].item(), pairwise.second[k].item()]
        if set(g.responses) <= set(shown):
            gold_class[i] = index[_vote_class(g, shown)]
    allowed = np.arange(len(classes))[None, :] < lengths[:, None]
    allowed[:, [index[TIE], index[BOTH_BAD]]] = True
    fit = dawid_skene(labels, len(classes), gold=gold_class, allowed=allowed, prior_strength=prior_strength)
    weights = {a: w for a, w in zip(annotators, reliability_weights(fit).values(), strict=True)}
    fit_params = {
        key: fit.params[key] for key in ("prior_strength", "min_item_judgments", "fitted_items", "gold_items")
    }
    fit_params.update(iterations=fit.n_iter, converged=fit.converged)
    out = {}
    for c, vs in by_item.items():
        base = consensus_for_comparison(
            vs, rule="weighted", weights=weights, responses=canonical[c], min_confidence=min_confidence
        )
        out[(c, criterion)] = _decide(
            base, fit.posteriors[position[c]], classes, canonical[c], min_confidence, fit_params
        )
    batch = None
    if n_pairwise:
        result, weight = _decide_pairwise(
            pairwise, fit.posteriors[pw_items], np.array([weights[a] for a in pw_annotators]),
            pw_annotators, width, min_confidence,
        )  # fmt: skip
        batch = DawidSkenePairwise(result, weight, fit_params)
    return out, batch


def _decide_pairwise(pairwise, posteriors, annotator_weights, annotators, width, min_confidence):
    """`_decide` of the weighted result, for every two-response comparison of `pairwise` at once."""
    weight = annotator_weights[np.searchsorted(np.array(annotators), pairwise.annotator)]
    base = pairwise_consensus(
        pairwise.comparison, pairwise.side, pairwise.strength, weight, n=len(pairwise),
        min_confidence=min_confidence,
    )  # fmt: skip
    best = posteriors.argmax(axis=1)
    confidence = posteriors[np.arange(len(best)), best]
    label = np.where(best < 2, best, np.where(best == width, TIED, BAD))
    decided = confidence >= min_confidence
    winner = np.where(decided & (best < 2), best, -1)
    outcome = np.where(~decided, NONE, np.where(best < 2, WIN, label))
    return PairwiseResult(
        outcome=outcome,
        winner=winner,
        leader=np.where(winner >= 0, winner, base.leader),
        confidence=confidence,
        margin=base.margin,
        n_votes=base.n_votes,
    ), weight


class DawidSkenePairwise(NamedTuple):
    """The "dawid_skene" rule on `pairwise`'s comparisons: the results, each vote's fitted weight (the
    weighted tally's, `params["weights"]`), and the fit's parameters (`params["dawid_skene"]`)."""

    result: PairwiseResult
    weight: np.ndarray
    fit_params: dict


def _fit_reference(criterion, by_item, responses, gold, min_confidence, prior_strength):
    items = list(by_item)
    canonical = {c: _canonical(by_item[c], responses.get(c)) for c in items}
    width = max(len(r) for r in canonical.values())
    classes: list[int | str] = [*range(width), TIE, BOTH_BAD]
    index = {c: k for k, c in enumerate(classes)}
    annotators = sorted({v.annotator for vs in by_item.values() for v in vs}, key=lambda a: (str(type(a)), a))
    a_index = {a: j for j, a in enumerate(annotators)}
    labels = np.full((len(annotators), len(items)), -1, dtype=np.int64)
    gold_class = np.full(len(items), -1, dtype=np.int64)
    allowed = np.zeros((len(items), len(classes)), dtype=bool)
    for i, c in enumerate(items):
        allowed[i, : len(canonical[c])] = True
        allowed[i, [index[TIE], index[BOTH_BAD]]] = True
        for v in by_item[c]:
            labels[a_index[v.annotator], i] = index[_vote_class(v, canonical[c])]
        g = gold.get((c, criterion))
        if g is not None and set(g.responses) <= set(canonical[c]):
            gold_class[i] = index[_vote_class(g, canonical[c])]
    fit = dawid_skene(labels, len(classes), gold=gold_class, allowed=allowed, prior_strength=prior_strength)
    weights = {a: w for a, w in zip(annotators, reliability_weights(fit).values(), strict=True)}
    fit_params = {
        key: fit.params[key] for key in ("prior_strength", "min_item_judgments", "fitted_items", "gold_items")
    }
    fit_params.update(iterations=fit.n_iter, converged=fit.converged)
    out = {}
    for i, c in enumerate(items):
        base = consensus_for_comparison(
            by_item[c],
            rule="weighted",
            weights=weights,
            responses=canonical[c],
            min_confidence=min_confidence,
        )
        out[(c, criterion)] = _decide(
            base, fit.posteriors[i], classes, canonical[c], min_confidence, fit_params
        )
    return out


def _decide(base: ConsensusResult, posterior, classes, canonical, min_confidence, fit_params):
    """The weighted result `base`, with the outcome, winner, confidence and top of the order from the
    posterior."""
    best = int(np.argmax(posterior))
    confidence = float(posterior[best])
    label = classes[best]
    winner = canonical[label] if isinstance(label, int) else None
    if confidence < min_confidence:
        outcome, winner = "none", None
    else:
        outcome = "win" if winner is not None else label
    scores = {
        "dawid_skene": {
            **{r: float(posterior[k]) for k, r in enumerate(canonical)},
            TIE: float(posterior[classes.index(TIE)]),
            BOTH_BAD: float(posterior[classes.index(BOTH_BAD)]),
        }
    }
    params: dict[str, Any] = {**base.params, "dawid_skene": fit_params}
    if len(canonical) > 2:
        params["order_by"] = ["dawid_skene", *base.params.get("order_by", [])]
    order = list(base.order)
    if winner is not None:
        order = [winner, *(r for r in order if r != winner)]
    pairs = [_pair(p, outcome, winner, confidence, len(canonical)) for p in base.pairs]
    return ConsensusResult(  # `base` with these fields replaced (dataclasses.replace, without its cost)
        comparison_id=base.comparison_id, criterion=base.criterion, rule="dawid_skene", params=params,
        outcome=outcome, winner=winner, order=order, confidence=confidence, margin=base.margin,
        n_votes=base.n_votes, responses=base.responses, pairs=pairs, scores={**base.scores, **scores},
    )  # fmt: skip


def _pair(p: PairConsensus, outcome, winner, confidence, n_responses) -> PairConsensus:
    """A pair of the winner becomes its win at the posterior's confidence; with two responses the one
    pair is the comparison's outcome; other pairs keep the weighted tally."""
    if winner is not None and winner in (p.a, p.b):
        return PairConsensus(p.a, p.b, "win", winner, confidence, p.margin, p.n_votes, p.tallies)
    if n_responses == 2:
        return PairConsensus(p.a, p.b, outcome, None, confidence, p.margin, p.n_votes, p.tallies)
    return p
