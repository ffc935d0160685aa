"""The consensus recompute: gather in a handful of queries, compute per item (pure rules), write in bulk.

`recompute_consensus(project=..., rule=..., since=None)` rebuilds the Consensus rows and candidate
PreferencePairs of every judged comparison; with `since` (annotation.core.changes) only of the
comparisons changed since then, which gives the same rows as a full run because each comparison's
consensus and pairs depend on its own judgments, responses and final answer only (and on the vote
weights, which the caller folds into the run's parameters: other weights, other run). The rules of
what a recompute writes are `preferences.services.recompute_consensus`'s docstring.

Queries do not grow with the items: the current judgments (one streamed query), the final answers
(two), the shown responses (one), the existing pairs (one), then one bulk upsert each of consensus rows
and pairs (annotation.core.bulk: rows whose values did not change are not rewritten, so their
`computed_at` / `updated_at` say when they last changed) and chunked updates of stale pairs.
"""

from collections.abc import Callable

import numpy as np
from django.db import transaction
from django.db.models import Case, F, JSONField, TextField, Value, When
from django.utils import timezone

from annotation.core import audit, bulk, changes
from annotation.models import Adjudication, Item, ItemKind, ItemState, Project, Response

from .consensus import (
    OUTCOME_NAMES,
    PairwiseVotes,
    Vote,
    consensus_for_comparison,
    dawid_skene_batch,
    pairwise_consensus,
    ranking_to_pairs,
    weights_by_comparison,
)
from .judgment_votes import VoteRows, read_votes
from .models import Consensus, PairStatus, PreferencePair
from .payload import whole_strength

ADJUDICATION = "adjudication"  # the rule of pairs that follow a lead's final answer
BATCH = 2000
CONSENSUS_COLUMNS = [
    "item_id", "criterion", "rule", "params", "outcome", "winner_id", "order", "confidence", "margin",
    "n_votes", "computed_at",
]  # fmt: skip
PAIR_COLUMNS = [
    "project_id", "item_id", "criterion", "chosen_id", "rejected_id", "confidence", "margin", "n_votes", "rule",
    "rubric_version_id", "status", "chosen_text_override", "is_stale", "chosen_harmful_flags",
    "chosen_harmful_majority", "created_at", "updated_at",
]  # fmt: skip
PAIR_UPDATE = [
    "confidence", "margin", "n_votes", "rule", "rubric_version_id", "is_stale", "chosen_harmful_flags",
    "chosen_harmful_majority",
]  # fmt: skip

Progress = Callable[[int, int], None]


def _of(model, project, items, **filters):
    """`model`'s rows of the project's comparisons, or of `items` (a subquery of the project's comparison
    ids) alone when given: a second condition on the project would let PostgreSQL AND in a bitmap of
    every row of the project once per item (15 s for 334 changed items at 1M judgments)."""
    if items is not None:
        return model.objects.filter(item_id__in=items, **filters)
    scope = {"project": project} if model is PreferencePair else {"item__project": project}
    if model is not PreferencePair:
        scope["item__kind"] = ItemKind.COMPARISON
    return model.objects.filter(**scope, **filters)


def gold_votes(project) -> list[Vote]:
    """The known answers of the project's gold comparisons, as votes (the dawid_skene rule clamps them)."""
    rows = Item.objects.filter(
        project=project, kind=ItemKind.COMPARISON, is_gold=True, gold_answer__isnull=False
    ).values_list("id", "gold_answer")
    out = []
    for item_id, answer in rows.iterator(chunk_size=2000):
        try:
            out.append(Vote.from_payload(answer, comparison_id=item_id, annotator="gold"))
        except (KeyError, TypeError, ValueError):
            continue  # not a comparison answer the rule can read: the item is fitted without it
    return out


def final_answers(project, *, items=None) -> tuple[dict[int, dict], set[int]]:
    """The comparison items (of `items`) whose answer is final for datasets: {item_id: the lead's
    adjudicated resolution (with its "decision" and "picked_strength")} and the discarded item ids."""

    finals, discarded = {}, set()
    final = [ItemState.APPROVED, ItemState.DISCARDED]
    if items is None:
        rows = Item.objects.filter(project=project, kind=ItemKind.COMPARISON, state__in=final)
    else:  # the project's comparisons already (as in `_of`)
        rows = Item.objects.filter(id__in=items, state__in=final)
    # Only a lead's resolution is read whole (an approved item's unanimous answer is not needed).
    lead = Case(
        When(resolution__source=ADJUDICATION, then=F("resolution")), default=None, output_field=JSONField()
    )
    for item_id, state, resolution in rows.values_list("id", "state", lead).iterator(chunk_size=BATCH):
        if state == ItemState.DISCARDED:
            discarded.add(item_id)
        elif isinstance(resolution, dict) and resolution.get("source") == ADJUDICATION:
            finals[item_id] = dict(resolution)
    by_adjudication = {r.get("adjudication"): r for r in finals.values()}
    for pk, decision, payload in Adjudication.objects.filter(pk__in=list(by_adjudication)).values_list(
        "pk", "decision", "chosen_judgment__payload"
    ):
        by_adjudication[pk]["decision"] = decision
        by_adjudication[pk]["picked_strength"] = whole_strength((payload or {}).get("strength"))
    return finals, discarded


def final_order(final: dict, shown: list[int]) -> list[list[int]]:
    """The lead's final ranking, restricted to the compared responses (groups best first)."""
    allowed = set(shown)
    groups = [[r for r in group if r in allowed] for group in final.get("ranking") or []]
    return [g for g in groups if g]


class _Plan:
    """What one recompute writes, collected before any write: consensus rows, pairs, stale pair ids."""

    def __init__(self, project, rule, params, votes, versions, improvements, harmful, existing):
        self.project, self.rule, self.params = project, rule, params
        self.votes, self.versions, self.improvements, self.harmful = votes, versions, improvements, harmful
        self.existing = existing  # (item, criterion, chosen, rejected) -> (pk, rule)
        self.now = bulk.when(timezone.now())
        self.consensus: list[tuple] = []  # CONSENSUS_COLUMNS
        self.pairs: dict[tuple, tuple] = {}  # (item, criterion, chosen, rejected) -> PAIR_COLUMNS
        self.harmful_majority: set[tuple] = set()
        self.gold: dict[tuple, str] = {}  # pair key -> the lead's gold text for its chosen response
        self.both_bad: list[int] = []
        self.stats = {"pairs": 0, "both_bad": 0, "ties": 0}

    def row(self, item_id, criterion, *, params, outcome, winner, order, confidence, margin, n_votes):
        self.consensus.append(
            (
                item_id,
                criterion,
                self.rule,
                params,
                outcome,
                winner,
                order,
                confidence,
                margin,
                n_votes,
                self.now,
            )
        )

    def pair(self, item_id, criterion, chosen, rejected, confidence, margin, n_votes, *, rule=None,
             gold_text=""):  # fmt: skip
        key = (item_id, criterion, chosen, rejected)
        flags = (self.harmful.get(item_id) or {}).get(chosen, 0)
        majority = 2 * flags > len(self.votes.get((item_id, ""), ()))  # of the comparison's judges
        if majority:
            self.harmful_majority.add(key)
        # edit_gold: the lead's gold text is the chosen answer, unless a lead edited the pair (their
        # edit wins). New pairs get it inserted; existing pairs only where no edit is stored, by an
        # UPDATE in the write transaction (the upsert never touches chosen_text_override).
        if gold_text and key not in self.gold:
            self.gold[key] = gold_text
        override = self.gold.get(key, "")
        self.pairs[key] = (
            self.project.pk, item_id, criterion, chosen, rejected, confidence, margin, n_votes,
            rule or self.rule, self.versions.get(item_id), PairStatus.CANDIDATE, override, False, flags,
            majority, self.now, self.now,
        )  # fmt: skip
        self.stats["pairs"] += 1

    def improvement_pairs(self, item_id, confidence, n_votes, *, rule=None, of=None):
        """An annotator's improved text beats what their own ranking put below its base response."""
        for payload in self.improvements.get(item_id, []):
            ranked = [r for g in payload["ranking"] for r in g]
            if of is not None and ranked[:1] != [of]:
                continue  # a lead's final answer: only improvements of the final winner count
            for loser in ranked[1:] if payload.get("outcome") != "tie" else ranked:
                self.pair(
                    item_id, "", payload["improved_response"], loser, confidence, 3.0, n_votes, rule=rule
                )

    def adjudicated(self, item_id, final, vote_result, shown):
        """The item's overall consensus and pairs from the lead's final answer."""
        order = final_order(final, shown)
        outcome = final.get("outcome")
        n_judges = len(self.votes.get((item_id, ""), []))
        if outcome not in ("tie", "both_bad"):
            outcome = "win" if order and len(order[0]) == 1 and len(order) > 1 else "tie"
        winner = order[0][0] if outcome == "win" else None
        # margin: the picked judgment's strength; a lead's own answer states none, so the top of the scale
        picked = final.get("decision") == "pick"
        margin = float(max(1, final.get("picked_strength") or 0)) if picked else 3.0
        votes = None
        if vote_result is not None:
            votes = {"outcome": vote_result.outcome, "winner": vote_result.winner,
                     "confidence": vote_result.confidence}  # fmt: skip
        params = {**self.params, "source": ADJUDICATION, "adjudication": final.get("adjudication"),
                  "decision": final.get("decision"), "votes": votes}  # fmt: skip
        self.row(item_id, "", params=params, outcome=outcome, winner=winner, order=[r for g in order for r in g],
                 confidence=1.0, margin=margin, n_votes=n_judges)  # fmt: skip
        if outcome == "both_bad":
            self.stats["both_bad"] += 1
            self.both_bad.append(item_id)
            return
        if outcome == "tie":
            self.stats["ties"] += 1
        gold_text = (final.get("text") or "").strip()
        for p in ranking_to_pairs(order) if len(order) > 1 else []:
            if not p.tie:
                text = gold_text if p.winner == winner else ""
                self.pair(
                    item_id, "", p.winner, p.loser, 1.0, margin, n_judges, rule=ADJUDICATION, gold_text=text
                )
        if winner is not None:
            self.improvement_pairs(item_id, 1.0, n_judges, rule=ADJUDICATION, of=winner)

    def pairwise(self, item_id, params, outcome, first, second, winner, leader, confidence, margin, n_votes):
        """`voted` of a two-response comparison's result from `preferences.consensus.pairwise` (no
        criterion, no improved response, no harmful flag: those comparisons are read whole)."""
        winner = first if winner == 0 else second if winner == 1 else None
        order = [first, second] if leader == 0 else [second, first]
        self.row(item_id, "", params=params, outcome=outcome, winner=winner, order=order,
                 confidence=confidence, margin=margin, n_votes=n_votes)  # fmt: skip
        if outcome == "both_bad":
            self.stats["both_bad"] += 1
            self.both_bad.append(item_id)
        elif outcome == "tie":
            self.stats["ties"] += 1
        elif outcome == "win":
            loser = second if winner == first else first
            self.pair(item_id, "", winner, loser, confidence, abs(margin), n_votes)

    def voted(self, item_id, criterion, result):
        """The consensus of the votes and the pairs it implies."""
        self.row(item_id, criterion, params={**result.params, **self.params}, outcome=result.outcome,
                 winner=result.winner, order=result.order, confidence=result.confidence,
                 margin=result.margin, n_votes=result.n_votes)  # fmt: skip
        if result.outcome == "both_bad" and not criterion:
            self.stats["both_bad"] += 1
            self.both_bad.append(item_id)
            return
        if result.outcome == "tie":
            self.stats["ties"] += 1
        for pc in result.pairs:
            if pc.outcome != "win":
                continue  # ties, "both bad" and split votes give no pair
            loser = pc.b if pc.winner == pc.a else pc.a
            self.pair(item_id, criterion, pc.winner, loser, pc.confidence, abs(pc.margin), pc.n_votes)
        if not criterion and result.outcome == "win":
            self.improvement_pairs(item_id, result.confidence, result.n_votes)


def _chunks(seq, size=BATCH):
    seq = list(seq)
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


PAIRWISE_RULES = ("majority", "weighted", "dawid_skene")  # the rules with a vectorised two-response path


def pairwise_votes(rows: VoteRows, shown, excluded) -> PairwiseVotes | None:
    """The scalar-read comparisons of two shown responses whose every vote is on those two, not in
    `excluded` (final or discarded: read as `Vote`s), as arrays for `preferences.consensus.pairwise`;
    the other scalar-read comparisons' votes go into `rows.votes` (`rows.materialise`)."""
    if not rows.item:
        return None
    item = np.array(rows.item, dtype=np.int64)
    ids, inverse = np.unique(item, return_inverse=True)
    id_list = ids.tolist()
    pairs = [shown.get(i) or () for i in id_list]
    two = np.array([len(p) == 2 and i not in excluded for i, p in zip(id_list, pairs, strict=True)])
    first = np.array([p[0] if len(p) == 2 else -1 for p in pairs], dtype=np.int64)
    second = np.array([p[1] if len(p) == 2 else -1 for p in pairs], dtype=np.int64)
    left, right = np.array(rows.left, dtype=np.int64), np.array(rows.right, dtype=np.int64)
    weight = np.array(rows.weight, dtype=np.float64)
    a, b = first[inverse], second[inverse]
    fits = (((left == a) & (right == b)) | ((left == b) & (right == a))) & np.isfinite(weight)
    eligible = two.copy()
    eligible[inverse[~fits]] = False
    if not eligible.all():
        rows.materialise(ids[~eligible].tolist())
    if not eligible.any():
        return None
    keep = eligible[inverse]
    side = np.array(rows.side, dtype=np.int64)[keep]
    winner = np.where(side == 0, left[keep], right[keep])  # the response a win names
    side = np.where(
        side <= 1, np.where(winner == a[keep], 0, 1), side
    )  # FIRST / SECOND of the canonical pair
    return PairwiseVotes(
        ids=ids[eligible].tolist(),
        first=first[eligible],
        second=second[eligible],
        comparison=(np.cumsum(eligible) - 1)[inverse[keep]],
        annotator=np.array(rows.annotator, dtype=np.int64)[keep],
        side=side,
        strength=np.array(rows.strength, dtype=np.int64)[keep],
        weight=weight[keep],
    )


def _pairwise_rows(plan, rule, pairwise, min_confidence, ds_batch):
    """{item_id: the arguments of `_Plan.pairwise` but the item} for the comparisons of `pairwise`."""
    if pairwise is None:
        return {}
    if rule == "dawid_skene":
        result, weight = ds_batch.result, ds_batch.weight
    else:
        weight = pairwise.weight if rule == "weighted" else np.ones(len(pairwise.side))
        result = pairwise_consensus(
            pairwise.comparison, pairwise.side, pairwise.strength, weight, n=len(pairwise),
            min_confidence=min_confidence,
        )  # fmt: skip
    base = {"min_confidence": min_confidence}
    if rule == "majority":
        params = [{**base, **plan.params}] * len(pairwise)
    else:
        fit = {"dawid_skene": ds_batch.fit_params} if rule == "dawid_skene" else {}
        params = [
            {**base, "weights": w, **fit, **plan.params} for w in weights_by_comparison(pairwise, weight)
        ]
    names = [OUTCOME_NAMES[code] for code in result.outcome.tolist()]
    columns = (
        params, names, pairwise.first.tolist(), pairwise.second.tolist(), result.winner.tolist(),
        result.leader.tolist(), result.confidence.tolist(), result.margin.tolist(), result.n_votes.tolist(),
    )  # fmt: skip
    return dict(zip(pairwise.ids, zip(*columns, strict=True), strict=True))


def recompute_consensus(
    *,
    project,
    actor=None,
    rule: str,
    weights: dict | None,
    min_confidence: float = 0.0,
    since=None,
    progress: Progress | None = None,
    route_both_bad: Callable | None = None,
) -> dict:
    """Rebuild consensus rows and candidate pairs (of the comparisons changed at or after `since`, or
    all); stats. `route_both_bad(item=, actor=)` sends a "both bad" prompt to SFT review. Reads and
    computes outside a transaction (the progress is visible meanwhile; a change made during the reads
    is stamped after this run began, so the next run redoes it), then writes in one transaction with
    the project's row locked: one writer per project at a time. Under "majority", "weighted" and
    "dawid_skene" the two-response comparisons read as scalars are decided all at once over arrays
    (`pairwise_votes`, `preferences.consensus.pairwise`: the same results as the per-comparison rule)."""
    report = progress or (lambda done, total: None)
    if rule == "dawid_skene":
        since = None  # one fit over every comparison: a run over the changed items alone would refit on those
    items = None if since is None else changes.changed_items(project, since, kind=ItemKind.COMPARISON)
    rows = read_votes(project, weights=weights, items=items)
    votes, versions, improvements, harmful = rows.votes, rows.versions, rows.improvements, rows.harmful
    finals, discarded = final_answers(project, items=items)
    judged = {item_id for item_id, _ in rows.order}
    item_ids = sorted((judged | set(finals)) - discarded)
    total = len(rows.order) + len(finals) + 2
    report(0, total)
    shown: dict[int, list[int]] = {}
    responses = _of(Response, project, items, shown=True)
    for item_id, rid in (
        responses.order_by("item_id", "position").values_list("item_id", "id").iterator(BATCH)
    ):
        shown.setdefault(item_id, []).append(rid)
    if rule in PAIRWISE_RULES:
        pairwise = pairwise_votes(rows, shown, set(finals) | discarded)
    else:
        pairwise = None
        rows.materialise(set(rows.item))
    pairs = _of(PreferencePair, project, items)
    existing = {
        (i, c, ch, rj): (pk, r)
        for pk, i, c, ch, rj, r in pairs.values_list(
            "pk", "item_id", "criterion", "chosen_id", "rejected_id", "rule"
        ).iterator(BATCH)
        if i in judged or i in finals or i in discarded  # as in a full run, whatever `items` is
    }
    params = {"min_confidence": min_confidence}
    plan = _Plan(project, rule, params, votes, versions, improvements, harmful, existing)
    by_ds, ds_batch = {}, None
    if rule == "dawid_skene":
        kept = [key for key in rows.order if key[0] not in discarded]
        fitted = [v for key in kept if key in votes for v in votes[key]]
        by_ds, ds_batch = dawid_skene_batch(
            fitted, pairwise, order=[i for i, c in kept if not c], responses=shown, gold=gold_votes(project),
            min_confidence=min_confidence,
        )  # fmt: skip
    fast = _pairwise_rows(plan, rule, pairwise, min_confidence, ds_batch)
    done = 0
    for item_id in sorted(set(finals) - judged - discarded):
        plan.adjudicated(item_id, finals[item_id], None, shown.get(item_id, []))
        done += 1
    for item_id, criterion in rows.order:
        done += 1
        if done % BATCH == 0:
            report(done, total)
        if item_id in discarded:
            continue
        if not criterion and (decided := fast.get(item_id)) is not None:
            plan.pairwise(item_id, *decided)
            continue
        item_votes = votes[(item_id, criterion)]
        result = by_ds.get((item_id, criterion)) or consensus_for_comparison(
            item_votes, rule=rule, responses=shown.get(item_id), min_confidence=min_confidence
        )
        if not criterion and item_id in finals:
            plan.adjudicated(item_id, finals[item_id], result, shown.get(item_id, []))
        else:
            plan.voted(item_id, criterion, result)
    report(done, total)
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        bulk.upsert(
            Consensus, CONSENSUS_COLUMNS, plan.consensus, conflict=CONSENSUS_COLUMNS[:3], json=("params", "order"),
            update=CONSENSUS_COLUMNS[3:], compare=CONSENSUS_COLUMNS[3:-1],
        )  # fmt: skip
        bulk.upsert(
            PreferencePair, PAIR_COLUMNS, plan.pairs.values(), conflict=PAIR_COLUMNS[1:5],
            update=PAIR_UPDATE + ["updated_at"], compare=PAIR_UPDATE,
        )  # fmt: skip
        # The pairs inserted just now carry their gold text; existing ones get it unless a lead edited them.
        gold = sorted((existing[key][0], text) for key, text in plan.gold.items() if key in existing)
        for chunk in _chunks(gold, 500):
            texts = Case(*(When(pk=pk, then=Value(text)) for pk, text in chunk), output_field=TextField())
            PreferencePair.objects.filter(pk__in=[pk for pk, _ in chunk], chosen_text_override="").update(
                chosen_text_override=texts
            )
        report(done + 1, total)
        for item in Item.objects.filter(pk__in=sorted(set(plan.both_bad))).order_by("id"):
            if route_both_bad is not None:
                route_both_bad(item=item, actor=actor)
        for chunk in _chunks(sorted(discarded)):
            Consensus.objects.filter(item_id__in=chunk).delete()
        # Pairs no longer implied: those of this rule (or from an adjudication since sent back), and every
        # other pair of a discarded or adjudicated item (those answers are final under any rule).
        final_items = set(finals) | discarded
        stale = [
            pk
            for key, (pk, pair_rule) in existing.items()
            if key not in plan.pairs and (pair_rule in (rule, ADJUDICATION) or key[0] in final_items)
        ]
        for chunk in _chunks(stale):
            PreferencePair.objects.filter(pk__in=chunk).update(is_stale=True)
    report(total, total)
    stats = {
        "comparisons": len(item_ids),
        **plan.stats,
        "adjudicated": len(finals),
        "discarded": len(discarded & judged),
        "harmful": len(plan.harmful_majority),
    }
    audit.record(
        actor=actor, project=project, verb="consensus.recomputed", object_type="project", rule=rule,
        mode="full" if since is None else "incremental", **stats,
    )  # fmt: skip
    return stats
