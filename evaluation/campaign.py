"""Blind human comparison: the generations of the evaluated model and of what it is compared against
on the eval prompts become comparison items in the project's usual queue (the many-responses kind of
annotation.kinds.registry; canonical positions shuffled with a seeded RNG, and the queue randomises
the display order per assignment; which response is which model is only in `Response.model_name`
and the item's metadata, never in the task). `win_rate` reads the current judgments on those items:
the share of wins (ties half) with a Wilson 95% interval, and the Bradley-Terry win rate with its
bootstrap interval from preferences.consensus."""

import hashlib
import json
import random

from django.db import transaction

from annotation.core import audit
from annotation.core.errors import Conflict
from annotation.kinds import registry
from annotation.models import Item, Judgment, Response
from annotation.queue import lifecycle
from preferences import consensus

from .access import require_evaluate
from .metrics.stats import wilson
from .models import EvalRun

MODEL, OTHER = "evaluated", "compared"


@transaction.atomic
def create_campaign(*, run: EvalRun, actor, seed: int = 0) -> list[int]:
    """One comparison item per eval prompt where both models answered; returns the item ids."""
    require_evaluate(actor, run.project)
    if (run.report or {}).get("campaign"):
        raise Conflict("This run's blind comparison exists already; refresh its win rate instead.")
    results = (run.report or {}).get("results") or {}
    mine, theirs = results.get("model:generations"), results.get("base:generations")
    if not mine or not theirs:
        raise Conflict("The run has no generations of both models yet.")
    kind = registry.listing_responses()
    rng = random.Random(seed)
    version, against = run.model_version, run.against
    names = {MODEL: (version.name, str(version.pk)),
             OTHER: ((against.name, str(against.pk)) if against else (version.base_model, "base"))}  # fmt: skip
    rows, responses = [], []
    for example, a, b in zip(run.eval_set.examples.order_by("position"), mine, theirs, strict=False):
        if not a or not b or a.strip() == b.strip():
            continue
        order = [(MODEL, a), (OTHER, b)]
        rng.shuffle(order)
        digest = hashlib.sha256(json.dumps([run.pk, example.pk, a, b]).encode()).hexdigest()
        rows.append(
            dict(kind=kind, messages=example.messages, content_hash=digest, source=f"eval run {run.pk}",
                 metadata={"evaluation": {"run": run.pk, "example": example.pk, "slots": [o[0] for o in order]}})
        )  # fmt: skip
        responses.append(order)
    items = lifecycle.create_items(run.project, rows)
    Response.objects.bulk_create(
        [
            Response(
                item=item,
                position=pos,
                text=text,
                model_name=names[who][0],
                model_version=names[who][1],
                generation_params={"decoding": "greedy", "evaluation": who},
            )  # fmt: skip
            for item, order in zip(items, responses, strict=True)
            for pos, (who, text) in enumerate(order)
        ]
    )
    report = dict(run.report or {})
    report["campaign"] = {"items": [i.pk for i in items], "seed": seed}
    EvalRun.objects.filter(pk=run.pk).update(report=report)
    run.report = report
    audit.record(actor=actor, project=run.project, verb="eval.campaign_created", obj=run, items=len(items))
    return [i.pk for i in items]


def win_rate(run: EvalRun, *, n_boot: int = 500, seed: int = 0) -> dict | None:
    """Win rate of the evaluated model against the other one from the campaign's judgments."""
    item_ids = ((run.report or {}).get("campaign") or {}).get("items") or []
    if not item_ids:
        return None
    who = {
        r["id"]: r["generation_params"].get("evaluation")
        for r in Response.objects.filter(item_id__in=item_ids).values("id", "generation_params")
    }
    outcomes, wins, n = [], 0.0, 0
    judged = Judgment.objects.filter(item_id__in=item_ids, is_current=True).values_list("payload", flat=True)
    for payload in judged:
        if not payload or payload.get("outcome") == "both_bad" or "ranking" not in payload:
            continue
        for pair in consensus.ranking_to_pairs(payload["ranking"]):
            a, b = who.get(pair.winner), who.get(pair.loser)
            if {a, b} != {MODEL, OTHER}:
                continue
            score = 0.5 if pair.tie else (1.0 if a == MODEL else 0.0)
            outcomes.append((0, 1, score))
            wins += score
            n += 1
    if not n:
        return {
            "judgments": 0,
            "items": len(item_ids),
            "win_rate": None,
            "win_rate_low": None,
            "win_rate_high": None,
        }
    low, high = wilson(wins, n)
    bt = consensus.bt_with_bootstrap(outcomes, n_items=2, baseline=1, n_boot=n_boot, seed=seed)
    return {
        "judgments": n, "items": len(item_ids), "win_rate": wins / n, "win_rate_low": low, "win_rate_high": high,
        "interval": "wilson 95%", "bt_win_rate": float(bt.win_rate[0]),
        "bt_low": float(bt.win_rate_ci[0][0]), "bt_high": float(bt.win_rate_ci[0][1]),
    }  # fmt: skip


@transaction.atomic
def refresh_human(run: EvalRun) -> dict | None:
    """Store the current win rate in the run's report and the version's eval report."""
    result = win_rate(run)
    run = EvalRun.objects.select_for_update().get(pk=run.pk)
    report = dict(run.report or {})
    report["human"] = result
    if "summary" in report:
        report["summary"] = {**report["summary"], "human": result}
        type(run.model_version).objects.filter(pk=run.model_version_id).update(eval_report=report["summary"])
    EvalRun.objects.filter(pk=run.pk).update(report=report)
    run.report = report
    return result


def campaign_items(run) -> list[Item]:
    ids = ((run.report or {}).get("campaign") or {}).get("items") or []
    return list(Item.objects.filter(pk__in=ids))
