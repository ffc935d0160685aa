"""The vectorised two-response rules (preferences.consensus.pairwise, dawid_skene_batch) give, comparison
for comparison, exactly what the per-comparison reference gives (`consensus_for_comparison`,
`dawid_skene_consensus`): the same outcome, winner, order, n_votes and the same floats (== , not
approximately), on random votes with random weights; and a recompute on PostgreSQL (where the common
vote is read as scalars and takes the vectorised path) writes the rows the reference path writes."""

import json

import numpy as np
import pytest

from annotation.models import Judgment
from annotation.projects import services as project_services
from preferences import recompute, services
from preferences.consensus import (
    OUTCOME_NAMES,
    PairwiseVotes,
    Vote,
    consensus_for_comparison,
    dawid_skene_batch,
    dawid_skene_consensus,
    pairwise_consensus,
    weights_by_comparison,
)
from preferences.models import Consensus, PreferencePair
from tests.preferences.factories import judge, make_comparisons

SIDES = ("left", "right", "tie", "both_bad")


def random_votes(rng, n_comparisons, *, annotators=6, weights=True):
    """{comparison id: ([first, second], [Vote])}: 1..5 pairwise votes each, shown either way round."""
    out = {}
    for c in range(n_comparisons):
        first, second = 1000 + 2 * c, 1001 + 2 * c
        votes = []
        for annotator in rng.choice(annotators, size=rng.integers(1, 6), replace=False).tolist():
            left, right = (first, second) if rng.random() < 0.5 else (second, first)
            outcome = SIDES[rng.choice(4, p=[0.4, 0.35, 0.15, 0.1])]
            weight = float(rng.choice([0.0, rng.random() * 3, 1.0])) if weights else 1.0
            votes.append(
                Vote(comparison_id=c, annotator=annotator, left=left, right=right, outcome=outcome,
                     strength=int(rng.integers(0, 4)), weight=weight)
            )  # fmt: skip
        out[c] = ([first, second], votes)
    return out


def as_arrays(comparisons) -> PairwiseVotes:
    """The votes as `pairwise_consensus` takes them (side relative to the canonical first response)."""
    ids = list(comparisons)
    rows = []
    for k, c in enumerate(ids):
        (first, _), votes = comparisons[c]
        for v in votes:
            side = 2 if v.outcome == "tie" else 3 if v.outcome == "both_bad" else 0
            if side == 0 and v.ranking[0][0] != first:
                side = 1
            rows.append((k, v.annotator, side, v.strength, v.weight))
    k, annotator, side, strength, weight = (np.array(col) for col in zip(*rows, strict=True))
    return PairwiseVotes(
        ids=ids, first=np.array([comparisons[c][0][0] for c in ids]),
        second=np.array([comparisons[c][0][1] for c in ids]), comparison=k, annotator=annotator,
        side=side, strength=strength, weight=weight.astype(float),
    )  # fmt: skip


def as_reference(batch, k, *, outcome, winner, leader, confidence, margin, n_votes):
    """One comparison of a `PairwiseResult` in `ConsensusResult`'s terms."""
    first, second = batch.first[k].item(), batch.second[k].item()
    return {
        "outcome": OUTCOME_NAMES[outcome[k]],
        "winner": first if winner[k] == 0 else second if winner[k] == 1 else None,
        "order": [first, second] if leader[k] == 0 else [second, first],
        "confidence": confidence[k],
        "margin": margin[k],
        "n_votes": n_votes[k],
    }


def fields(result):
    keys = ("outcome", "winner", "order", "confidence", "margin", "n_votes")
    return {key: getattr(result, key) for key in keys}


def arrays_of(result):
    return {key: getattr(result, key).tolist() for key in ("outcome", "winner", "leader", "confidence",
                                                           "margin", "n_votes")}  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rule", ["majority", "weighted"])
@pytest.mark.parametrize("min_confidence", [0.0, 0.6])
def test_pairwise_consensus_equals_the_per_comparison_rule(seed, rule, min_confidence):
    rng = np.random.default_rng(seed)
    comparisons = random_votes(rng, 300)
    batch = as_arrays(comparisons)
    weight = batch.weight if rule == "weighted" else np.ones(len(batch.side))
    result = arrays_of(
        pairwise_consensus(batch.comparison, batch.side, batch.strength, weight, n=len(batch),
                           min_confidence=min_confidence)
    )  # fmt: skip
    params = weights_by_comparison(batch, weight)
    outcomes = set()
    for k, c in enumerate(batch.ids):
        shown, votes = comparisons[c]
        want = consensus_for_comparison(votes, rule=rule, responses=shown, min_confidence=min_confidence)
        assert as_reference(batch, k, **result) == fields(want), (c, votes)
        if rule == "weighted":
            assert params[k] == want.params["weights"]
            assert list(params[k]) == list(want.params["weights"])
        outcomes.add(want.outcome)
    assert outcomes == {"win", "tie", "both_bad", "none"} if not min_confidence else "none" in outcomes


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("min_confidence", [0.0, 0.7])
def test_dawid_skene_batch_equals_the_reference(seed, min_confidence):
    """Two-response comparisons as arrays, three-response ones as votes, gold answers, one fit."""
    rng = np.random.default_rng(100 + seed)
    comparisons = random_votes(rng, 200, annotators=8)
    for c in range(0, 200, 7):  # an annotator twice on one comparison: the later vote is the one fitted
        (first, second), votes = comparisons[c]
        votes.append(Vote(comparison_id=c, annotator=votes[0].annotator, left=second, right=first,
                          outcome=SIDES[(SIDES.index(votes[0].outcome) + 1) % 4], weight=votes[0].weight))  # fmt: skip
    three = {}
    for c in range(200, 230):  # three responses: only the reference path reads them
        shown = [5000 + 3 * c, 5001 + 3 * c, 5002 + 3 * c]
        votes = [
            Vote(comparison_id=c, annotator=a, ranking=[[x] for x in rng.permutation(shown).tolist()])
            for a in rng.choice(8, size=3, replace=False).tolist()
        ]
        three[c] = (shown, votes)
    gold = [
        Vote(comparison_id=c, annotator="gold", left=comparisons[c][0][0], right=comparisons[c][0][1],
             outcome="left")
        for c in range(0, 200, 17)
    ]  # fmt: skip
    order = rng.permutation(list(comparisons) + list(three)).tolist()  # the fit's order is its sums'
    everything = [v for c in order for v in (comparisons.get(c) or three[c])[1]]
    responses = {c: shown for c, (shown, _) in {**comparisons, **three}.items()}
    want = dawid_skene_consensus(everything, responses=responses, gold=gold, min_confidence=min_confidence)
    slow = [v for c in order if c in three for v in three[c][1]]
    batch = as_arrays(comparisons)
    got, fast = dawid_skene_batch(
        slow, batch, order=order, responses=responses, gold=gold, min_confidence=min_confidence
    )
    assert got == {key: want[key] for key in got} and len(got) == len(three)
    result = arrays_of(fast.result)
    weights = weights_by_comparison(batch, fast.weight)
    for k, c in enumerate(batch.ids):
        expected = want[(c, "")]
        assert as_reference(batch, k, **result) == fields(expected), c
        assert {**weights[k]} == expected.params["weights"]
        assert fast.fit_params == expected.params["dawid_skene"]
    outcomes = {OUTCOME_NAMES[o] for o in result["outcome"]}
    assert "win" in outcomes and ("none" in outcomes or not min_confidence)


# --------------------------------------------------------------------------- the recompute (PostgreSQL)


def snapshot(project) -> list:
    rows = Consensus.objects.filter(item__project=project).values_list(
        "id", "item_id", "criterion", "rule", "params", "outcome", "winner_id", "order", "confidence",
        "margin", "n_votes",
    )  # fmt: skip
    pairs = PreferencePair.objects.filter(project=project).values_list(
        "id", "item_id", "criterion", "chosen_id", "rejected_id", "confidence", "margin", "n_votes", "rule",
        "rubric_version_id", "status", "chosen_text_override", "is_stale", "chosen_harmful_flags",
        "chosen_harmful_majority",
    )  # fmt: skip
    return sorted(json.dumps(r, sort_keys=True) for r in [*rows, *pairs])


@pytest.mark.postgres
@pytest.mark.django_db
def test_recompute_writes_what_the_per_comparison_path_writes(users, django_user_model, monkeypatch):
    project = project_services.create_project(name="Vectorised", created_by=users["admin"], overlap=3)
    project_services.set_membership(project=project, actor=users["admin"], user=users["lead"], role="lead")
    people = [users["annotator"], users["annotator2"], django_user_model.objects.create_user("annotator3")]
    for person in people:
        project_services.set_membership(project=project, actor=users["admin"], user=person, role="annotator")
    make_comparisons(project, users["lead"], 12)
    rng = np.random.default_rng(7)
    for _ in range(12):
        for person in people:
            payload = {
                "choice": str(rng.choice(["A", "B", "tie", "both_bad"])),
                "strength": int(rng.integers(1, 4)),
            }
            if rng.random() < 0.1:
                payload["harmful"] = ["A"]  # read whole: the item takes the reference path
            judge(project, person, payload=payload)
    taken = []
    real = recompute.pairwise_votes
    monkeypatch.setattr(recompute, "pairwise_votes", lambda *a: taken.append(real(*a)) or taken[-1])
    weights = {people[0].pk: 0.37, people[1].pk: 2.9}  # the third votes with the median
    for rule in ("majority", "weighted", "dawid_skene"):
        services.recompute_consensus(project=project, actor=users["lead"], rule=rule, weights=weights)
        vectorised = snapshot(project)
        with monkeypatch.context() as m:
            m.setattr(recompute, "PAIRWISE_RULES", ())  # every comparison through the per-comparison rule
            services.recompute_consensus(project=project, actor=users["lead"], rule=rule, weights=weights)
        assert snapshot(project) == vectorised, rule
    assert Judgment.objects.filter(item__project=project, is_current=True).count() == 36
    assert all(batch is not None and len(batch) >= 6 for batch in taken)  # the vectorised path ran
