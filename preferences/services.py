"""Write paths of the preferences app: comparison judgments, consensus, curated pairs."""

from collections import Counter

from django.db import transaction
from django.utils import timezone

from annotation.core import audit
from annotation.core.errors import Forbidden, InvalidInput
from annotation.core.permissions import can
from annotation.importing.parse import content_hash
from annotation.models import (
    Adjudication,
    AnnotatorReliability,
    Item,
    ItemKind,
    ItemState,
    Judgment,
    Response,
)
from annotation.queue import lifecycle

from .consensus import RULES, Vote, consensus_for_comparison, dawid_skene_consensus, ranking_to_pairs
from .models import Consensus, PairStatus, PreferencePair

IMPROVEMENT = "improvement"
ADJUDICATION = "adjudication"  # the rule of pairs that follow a lead's final answer


def shown_responses(item):
    """The responses annotators compare: model outputs, not the human improvements added later."""
    return item.responses.filter(shown=True)


def keep_improved_text(judgment) -> None:
    """Keep an annotator's improved text as a new response (never shown in the comparison itself)."""
    text = (judgment.payload or {}).get("improved_text")
    if not text:
        return
    base = judgment.payload.get("winner") or judgment.payload["ranking"][0][0]
    last = judgment.item.responses.order_by("-position").values_list("position", flat=True).first() or 0
    response = Response.objects.create(
        item=judgment.item,
        position=last + 1,
        text=text,
        model_name="human",
        model_version=judgment.annotator.username,
        generation_params={"kind": IMPROVEMENT, "of": base, "judgment": judgment.pk},
        author=judgment.annotator,
        shown=False,
    )
    judgment.payload["improved_response"] = response.pk
    type(judgment).objects.filter(pk=judgment.pk).update(payload=judgment.payload)


@transaction.atomic
def set_pair_status(
    *, pair: PreferencePair, actor, status: str, chosen_text: str | None = None
) -> PreferencePair:
    """A lead approves, excludes or edits (the chosen text of) a curated pair."""
    if not can(actor, "adjudicate", pair.project):
        raise Forbidden("Only leads curate pairs.")
    if status not in PairStatus.values:
        raise InvalidInput(errors={"status": [f"Must be one of: {', '.join(PairStatus.values)}."]})
    old = pair.status
    pair.status = status
    if chosen_text is not None:
        chosen_text = chosen_text.replace("\r\n", "\n").strip()
        if chosen_text == pair.chosen.text.strip():
            chosen_text = ""
        pair.chosen_text_override = chosen_text
    pair.decided_by = actor
    pair.decided_at = timezone.now()
    pair.save()
    audit.record(
        actor=actor,
        project=pair.project,
        verb="pair.curated",
        obj=pair,
        old_status=old,
        new_status=status,
        edited=bool(pair.chosen_text_override),
        chosen_harmful_flags=pair.chosen_harmful_flags,
        chosen_harmful_majority=pair.chosen_harmful_majority,
    )
    return pair


def route_both_bad_to_sft(*, item: Item, actor=None) -> Item | None:
    """ "Both bad" consensus: the prompt goes to SFT review so someone writes a good answer."""

    first = shown_responses(item).order_by("position").first()
    if first is None:
        return None
    responses = [{"text": first.text}]
    digest = content_hash(ItemKind.SFT, item.messages, responses)
    sft, created = lifecycle.get_or_create_item(
        item.project,
        content_hash=digest,
        defaults=dict(
            kind=ItemKind.SFT,
            messages=item.messages,
            priority=item.priority + 10,
            metadata={"origin": "comparison_both_bad", "comparison_item": item.pk},
            source=f"comparison:{item.pk}",
        ),
    )
    if created:
        Response.objects.create(
            item=sft,
            position=0,
            text=first.text,
            model_name=first.model_name,
            model_version=first.model_version,
        )
        audit.record(
            actor=actor, project=item.project, verb="comparison.sent_to_sft", obj=sft, comparison=item.pk
        )
    return sft


def _votes_by_item(project, *, rule, weights):
    """Current comparison judgments -> {(item_id, criterion): [Vote]}, the latest rubric version per item,
    the payloads with an improved response per item, and {item_id: {response_id: annotators who
    reported it harmful}}."""

    # An annotator without a reliability estimate (no judgment in the latest agreement report) votes
    # with the median weight of those who have one: the Dawid-Skene weights are log-likelihood ratios
    # (0..10), not around 1.0. One with few judgments has an estimate, held near 0 by the prior
    # (annotation.core.reliability.PRIOR_STRENGTH) until the evidence outweighs it.
    known = sorted(float(w) for w in (weights or {}).values())
    default_weight = known[len(known) // 2] if known else 1.0
    votes: dict[tuple[int, str], list] = {}
    versions: dict[int, int | None] = {}
    improvements: dict[int, list[dict]] = {}
    harmful: dict[int, Counter] = {}
    rows = (
        Judgment.objects.filter(item__project=project, item__kind=ItemKind.COMPARISON, is_current=True)
        .order_by("id")
        .values_list("item_id", "annotator_id", "payload", "rubric_version_id")
    )
    for item_id, annotator_id, payload, version_id in rows.iterator(chunk_size=2000):
        if not payload or "ranking" not in payload:
            continue
        versions[item_id] = version_id
        weight = float((weights or {}).get(annotator_id, default_weight))
        common = dict(comparison_id=item_id, annotator=annotator_id, weight=weight)
        votes.setdefault((item_id, ""), []).append(Vote.from_payload(payload, **common))
        for key in payload.get("criteria") or {}:
            votes.setdefault((item_id, key), []).append(Vote.from_payload(payload, criterion=key, **common))
        if payload.get("improved_response"):
            improvements.setdefault(item_id, []).append(payload)
        flagged = payload.get("harmful") or []
        if flagged:  # one flag per annotator and response (the payload lists each response once)
            harmful.setdefault(item_id, Counter()).update(set(flagged))
    return votes, versions, improvements, harmful


def _gold_votes(project) -> list[Vote]:
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


def _final_answers(project) -> tuple[dict[int, dict], set[int]]:
    """The comparison items whose answer is final for datasets: {item_id: the lead's adjudicated
    resolution (with its "decision" and "picked_strength")} and the set of discarded item ids."""

    finals, discarded = {}, set()
    rows = Item.objects.filter(
        project=project, kind=ItemKind.COMPARISON, state__in=[ItemState.APPROVED, ItemState.DISCARDED]
    ).values_list("id", "state", "resolution")
    for item_id, state, resolution in rows.iterator(chunk_size=2000):
        if state == ItemState.DISCARDED:
            discarded.add(item_id)
        elif isinstance(resolution, dict) and resolution.get("source") == ADJUDICATION:
            finals[item_id] = dict(resolution)
    by_adjudication = {r.get("adjudication"): r for r in finals.values()}
    for pk, decision, payload in Adjudication.objects.filter(pk__in=list(by_adjudication)).values_list(
        "pk", "decision", "chosen_judgment__payload"
    ):
        by_adjudication[pk]["decision"] = decision
        by_adjudication[pk]["picked_strength"] = int((payload or {}).get("strength") or 0)
    return finals, discarded


def _final_order(final: dict, shown: list[int]) -> list[list[int]]:
    """The lead's final ranking, restricted to the compared responses (groups best first)."""
    allowed = set(shown)
    groups = [[r for r in group if r in allowed] for group in final.get("ranking") or []]
    return [g for g in groups if g]


@transaction.atomic
def recompute_consensus(
    *, project, actor=None, rule: str = "majority", weights: dict | None = None, min_confidence: float = 0.0
) -> dict:
    """Rebuild Consensus rows and candidate PreferencePairs of every judged comparison in the project.

    Recomputable at any time from the raw judgments; pairs a lead already approved, excluded or edited
    keep that decision, pairs no longer implied are marked stale. "Both bad" prompts go to SFT review.
    A lead's adjudication is final: the item's overall consensus and pairs follow it (rule
    "adjudication", confidence 1.0), whatever the votes say; per-criterion pairs still come from the
    votes. Discarded items get no consensus and no pairs (their earlier pairs become stale).
    Each pair records how many annotators reported its chosen response harmful, and whether they are a
    majority of the comparison's judges (stats["harmful"] counts those pairs).
    """

    if actor is not None and not can(actor, "adjudicate", project):
        raise Forbidden("Only leads recompute consensus.")
    if rule not in RULES:
        raise InvalidInput(errors={"rule": [f"Must be one of: {', '.join(RULES)}."]})
    if rule == "weighted" and weights is None:
        # Dawid-Skene vote weights from the project's latest agreement computation (annotation).

        weights = AnnotatorReliability.objects.filter(project=project).weights(ItemKind.COMPARISON)
    votes, versions, improvements, harmful = _votes_by_item(project, rule=rule, weights=weights)
    finals, discarded = _final_answers(project)
    judged = {item_id for item_id, _ in votes}
    item_ids = sorted((judged | set(finals)) - discarded)
    shown = {}
    for item_id, rid in (
        Response.objects.filter(item_id__in=item_ids)
        .filter(shown=True)
        .order_by("item_id", "position")
        .values_list("item_id", "id")
    ):
        shown.setdefault(item_id, []).append(rid)
    existing = {
        (p.item_id, p.criterion, p.chosen_id, p.rejected_id): p
        for p in PreferencePair.objects.filter(project=project, item_id__in=item_ids + sorted(discarded))
    }
    keep, harmful_majority = set(), set()
    stats = {
        "comparisons": len(item_ids),
        "pairs": 0,
        "both_bad": 0,
        "ties": 0,
        "adjudicated": len(finals),
        "discarded": len(discarded & judged),
    }
    params = {"min_confidence": min_confidence}

    def upsert_pair(item_id, criterion, chosen, rejected, confidence, margin, n_votes, *, pair_rule=rule):
        key = (item_id, criterion, chosen, rejected)
        keep.add(key)
        flags = (harmful.get(item_id) or {}).get(chosen, 0)
        majority = 2 * flags > len(votes.get((item_id, ""), ()))  # of the comparison's judges
        if majority:
            harmful_majority.add(key)
        fields = dict(
            chosen_harmful_flags=flags,
            chosen_harmful_majority=majority,
            confidence=confidence,
            margin=margin,
            n_votes=n_votes,
            rule=pair_rule,
            rubric_version_id=versions.get(item_id),
            is_stale=False,
        )
        pair = existing.get(key)
        if pair is None:
            pair = existing[key] = PreferencePair.objects.create(
                project=project,
                item_id=item_id,
                criterion=criterion,
                chosen_id=chosen,
                rejected_id=rejected,
                **fields,
            )
        else:
            PreferencePair.objects.filter(pk=pair.pk).update(**fields)
        stats["pairs"] += 1
        return pair

    def improvement_pairs(item_id, payloads, confidence, n_votes, *, pair_rule=rule, of=None):
        """An annotator's improved text beats what their own ranking put below its base response."""
        for payload in payloads:
            ranked = [r for g in payload["ranking"] for r in g]
            if of is not None and ranked[:1] != [of]:
                continue  # a lead's final answer: only improvements of the final winner count
            for loser in ranked[1:] if payload.get("outcome") != "tie" else ranked:
                upsert_pair(
                    item_id, "", payload["improved_response"], loser, confidence, 3.0, n_votes,
                    pair_rule=pair_rule,
                )  # fmt: skip

    def adjudicated(item_id, final, vote_result):
        """The item's overall consensus and pairs from the lead's final answer."""
        order = _final_order(final, shown.get(item_id, []))
        outcome = final.get("outcome")
        n_judges = len(votes.get((item_id, ""), []))
        if outcome not in ("tie", "both_bad"):
            outcome = "win" if order and len(order[0]) == 1 and len(order) > 1 else "tie"
        winner = order[0][0] if outcome == "win" else None
        # margin: the picked judgment's strength; a lead's own answer states none, so the top of the scale
        picked = final.get("decision") == "pick"
        margin = float(max(1, final.get("picked_strength") or 0)) if picked else 3.0
        Consensus.objects.update_or_create(
            item_id=item_id,
            criterion="",
            rule=rule,
            defaults=dict(
                params={
                    **params,
                    "source": ADJUDICATION,
                    "adjudication": final.get("adjudication"),
                    "decision": final.get("decision"),
                    "votes": None
                    if vote_result is None
                    else {
                        "outcome": vote_result.outcome,
                        "winner": vote_result.winner,
                        "confidence": vote_result.confidence,
                    },
                },
                outcome=outcome,
                winner_id=winner,
                order=[r for g in order for r in g],
                confidence=1.0,
                margin=margin,
                n_votes=n_judges,
            ),
        )
        if outcome == "both_bad":
            stats["both_bad"] += 1
            route_both_bad_to_sft(item=Item.objects.get(pk=item_id), actor=actor)
            return
        if outcome == "tie":
            stats["ties"] += 1
        gold_text = (final.get("text") or "").strip()
        for p in ranking_to_pairs(order) if len(order) > 1 else []:
            if p.tie:
                continue
            pair = upsert_pair(item_id, "", p.winner, p.loser, 1.0, margin, n_judges, pair_rule=ADJUDICATION)
            if gold_text and p.winner == winner and not pair.chosen_text_override:
                # edit_gold: the lead's text is the chosen answer (a lead's own edit of the pair wins)
                PreferencePair.objects.filter(pk=pair.pk).update(chosen_text_override=gold_text)
                pair.chosen_text_override = gold_text
        if winner is not None:
            improvement_pairs(
                item_id, improvements.get(item_id, []), 1.0, n_judges, pair_rule=ADJUDICATION, of=winner
            )

    for item_id in sorted(set(finals) - judged - discarded):
        adjudicated(item_id, finals[item_id], None)
    by_ds = {}
    if rule == "dawid_skene":  # one fit over every comparison (not per comparison)
        fitted = [v for (item_id, _), vs in votes.items() if item_id not in discarded for v in vs]
        by_ds = dawid_skene_consensus(
            fitted, responses=shown, gold=_gold_votes(project), min_confidence=min_confidence
        )
    for (item_id, criterion), item_votes in votes.items():
        if item_id in discarded:
            continue
        result = by_ds.get((item_id, criterion)) or consensus_for_comparison(
            item_votes, rule=rule, responses=shown.get(item_id), min_confidence=min_confidence
        )
        if not criterion and item_id in finals:
            adjudicated(item_id, finals[item_id], result)
            continue
        Consensus.objects.update_or_create(
            item_id=item_id,
            criterion=criterion,
            rule=rule,
            defaults=dict(
                params={**result.params, **params},
                outcome=result.outcome,
                winner_id=result.winner,
                order=result.order,
                confidence=result.confidence,
                margin=result.margin,
                n_votes=result.n_votes,
            ),
        )
        if result.outcome == "both_bad" and not criterion:
            stats["both_bad"] += 1
            route_both_bad_to_sft(item=Item.objects.get(pk=item_id), actor=actor)
            continue
        if result.outcome == "tie":
            stats["ties"] += 1
        for pc in result.pairs:
            if pc.outcome != "win":
                continue  # ties, "both bad" and split votes give no pair
            loser = pc.b if pc.winner == pc.a else pc.a
            upsert_pair(item_id, criterion, pc.winner, loser, pc.confidence, abs(pc.margin), pc.n_votes)
        if not criterion and result.outcome == "win":
            improvement_pairs(item_id, improvements.get(item_id, []), result.confidence, result.n_votes)
    if discarded:
        Consensus.objects.filter(item_id__in=sorted(discarded)).delete()
    # Pairs no longer implied: those of this rule (or from an adjudication since sent back), and every
    # other pair of a discarded or adjudicated item (those answers are final under any rule).
    final_items = set(finals) | discarded
    stale = [
        p.pk
        for key, p in existing.items()
        if key not in keep and (p.rule in (rule, ADJUDICATION) or p.item_id in final_items)
    ]
    PreferencePair.objects.filter(pk__in=stale).update(is_stale=True)
    stats["harmful"] = len(harmful_majority)
    audit.record(
        actor=actor, project=project, verb="consensus.recomputed", object_type="project", rule=rule, **stats
    )
    return stats
