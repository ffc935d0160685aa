"""Consensus into curated pairs: confidence and margin, ties, both bad, a lead's decisions surviving
recompute, per-criterion pairs, who may curate, and the weighted and Bradley-Terry rules.

Split from test_services.py; the `cmp` fixture is in tests/preferences/conftest.py.
"""

import pytest

from annotation.core.errors import Forbidden, InvalidInput
from annotation.models import Item
from preferences.models import Consensus, PairStatus, PreferencePair
from preferences.services import recompute_consensus, set_pair_status
from tests.preferences.factories import (
    both_prefer_a_overall_and_b_for_honesty,
    judge,
    make_comparisons,
)

pytestmark = pytest.mark.django_db


# --- consensus and curated pairs ------------------------------------------------------------------


def test_recompute_creates_pairs_with_confidence_and_margin(users, cmp):
    make_comparisons(cmp, users["lead"], 2)
    for _ in range(2):
        judge(cmp, users["annotator"], prefer="model-a")
        judge(cmp, users["annotator2"], prefer="model-a")
    stats = recompute_consensus(project=cmp, actor=users["lead"])
    assert stats["comparisons"] == 2 and stats["pairs"] == 2
    pairs = list(PreferencePair.objects.filter(project=cmp))
    assert len(pairs) == 2
    for pair in pairs:
        assert pair.chosen.model_name == "model-a" and pair.rejected.model_name == "model-b"
        assert pair.confidence == 1.0 and pair.margin > 0 and pair.n_votes == 2
        assert pair.status == PairStatus.CANDIDATE and pair.rubric_version.number == 1
    assert Consensus.objects.filter(item__project=cmp, criterion="", outcome="win").count() == 2


def test_ties_give_no_pair_and_split_votes_none_either(users, cmp):
    make_comparisons(cmp, users["lead"], 2)
    # item 1: both say tie; item 2: one each way
    judge(cmp, users["annotator"], payload={"choice": "tie"})
    judge(cmp, users["annotator2"], payload={"choice": "tie"})
    judge(cmp, users["annotator"], prefer="model-a")
    judge(cmp, users["annotator2"], prefer="model-b")
    stats = recompute_consensus(project=cmp, actor=users["lead"])
    assert stats["ties"] >= 1
    assert not PreferencePair.objects.filter(project=cmp).exists()


def test_both_bad_routes_the_prompt_to_sft_review(users, cmp):
    make_comparisons(cmp, users["lead"], 1)
    a, _ = judge(cmp, users["annotator"], payload={"choice": "both_bad"})
    judge(cmp, users["annotator2"], payload={"choice": "both bad"})
    stats = recompute_consensus(project=cmp, actor=users["lead"])
    assert stats["both_bad"] == 1 and stats["pairs"] == 0
    sft = Item.objects.get(project=cmp, kind="sft")
    assert sft.messages == a.item.messages and sft.metadata["comparison_item"] == a.item_id
    assert sft.responses.count() == 1
    recompute_consensus(project=cmp, actor=users["lead"])  # idempotent: no second SFT item
    assert Item.objects.filter(project=cmp, kind="sft").count() == 1


def test_lead_decisions_survive_recompute(users, cmp):
    make_comparisons(cmp, users["lead"], 2)
    for _ in range(2):
        judge(cmp, users["annotator"], prefer="model-a")
        judge(cmp, users["annotator2"], prefer="model-a")
    recompute_consensus(project=cmp, actor=users["lead"])
    approved, excluded = PreferencePair.objects.filter(project=cmp).order_by("id")
    set_pair_status(pair=approved, actor=users["lead"], status="approved", chosen_text="Edited chosen.")
    set_pair_status(pair=excluded, actor=users["lead"], status="excluded")
    recompute_consensus(project=cmp, actor=users["lead"], rule="majority")
    approved.refresh_from_db()
    excluded.refresh_from_db()
    assert approved.status == "approved" and approved.chosen_text == "Edited chosen."
    assert excluded.status == "excluded"
    assert PreferencePair.objects.filter(project=cmp).count() == 2


def test_criteria_preferences_make_their_own_pairs(users, cmp):
    make_comparisons(cmp, users["lead"], 1)
    both_prefer_a_overall_and_b_for_honesty(cmp, users)
    recompute_consensus(project=cmp, actor=users["lead"])
    overall = PreferencePair.objects.get(project=cmp, criterion="")
    honesty = PreferencePair.objects.get(project=cmp, criterion="honesty")
    assert overall.chosen.model_name == "model-a" and honesty.chosen.model_name == "model-b"


def test_annotators_cannot_curate(users, cmp):
    make_comparisons(cmp, users["lead"], 1)
    judge(cmp, users["annotator"], prefer="model-a")
    with pytest.raises(Forbidden):
        recompute_consensus(project=cmp, actor=users["annotator"])
    recompute_consensus(project=cmp, actor=users["lead"])
    pair = PreferencePair.objects.get(project=cmp)
    for who in ("annotator", "outsider"):
        with pytest.raises(Forbidden):
            set_pair_status(pair=pair, actor=users[who], status="approved")
    pair.refresh_from_db()
    assert pair.status == "candidate"
    with pytest.raises(InvalidInput):
        set_pair_status(pair=pair, actor=users["lead"], status="maybe")


def test_an_annotator_without_a_reliability_estimate_votes_with_the_median_weight(users):
    """Dawid-Skene weights are log-likelihood ratios (0..10): an unseen annotator at 1.0 would be all but
    ignored; one the report saw with few judgments has a (small) estimate of its own."""
    from preferences.models import PreferencePair
    from preferences.services import recompute_consensus
    from tests.preferences.factories import judge, make_cmp_project, make_comparisons

    p = make_cmp_project(users, overlap=2, name="Weights")
    make_comparisons(p, users["lead"], 1)
    judge(p, users["annotator"], prefer="model-a")
    judge(p, users["lead"], prefer="model-b")  # the lead has no estimate
    weights = {users["annotator"].pk: 8.0, users["annotator2"].pk: 2.0}
    recompute_consensus(project=p, actor=users["lead"], rule="weighted", weights=weights)
    # 8 vs 8 (the median of 2 and 8, upper): a split, no pair; at 8 vs 1 model-a won with 0.89
    assert not PreferencePair.objects.filter(project=p, criterion="", is_stale=False).exists()


def test_recompute_with_the_bradley_terry_rule_on_three_way_comparisons(users):
    from annotation.queue import services as queue_services
    from preferences.models import Consensus, PreferencePair
    from preferences.services import recompute_consensus
    from tests.preferences.factories import make_cmp_project, make_comparisons, response_model

    p = make_cmp_project(users, overlap=2, name="BT rule")
    make_comparisons(p, users["lead"], 1, models=("m1", "m2", "m3"))
    for who, wanted in (("annotator", ("m1", "m2", "m3")), ("annotator2", ("m1", "m3", "m2"))):
        a = queue_services.next_assignment(project=p, user=users[who], kind="comparison")
        slots = {response_model(rid): "ABC"[k] for k, rid in enumerate(a.display_order)}
        ranking = ">".join(slots[m] for m in wanted)
        queue_services.submit_judgment(
            assignment=a, user=users[who], payload={"ranking": ranking}, comment="x"
        )
    stats = recompute_consensus(project=p, actor=users["lead"], rule="bradley_terry")
    consensus = Consensus.objects.get(rule="bradley_terry", criterion="")
    assert stats["comparisons"] == 1 and consensus.params["order_by"] == ["bradley_terry"]
    assert consensus.outcome == "win" and response_model(consensus.winner_id) == "m1"
    chosen = {
        (response_model(pair.chosen_id), response_model(pair.rejected_id))
        for pair in PreferencePair.objects.filter(project=p, rule="bradley_terry", criterion="")
    }
    assert ("m1", "m2") in chosen and ("m1", "m3") in chosen  # both put m1 first; m2 vs m3 is split


def test_recompute_with_the_dawid_skene_rule_follows_the_posterior_and_gold(users):
    """One fit over the project's comparisons; a gold answer is clamped even against every vote."""
    from annotation.quality.adjudication import set_gold
    from tests.preferences.factories import judge, make_cmp_project, make_comparisons

    p = make_cmp_project(users, overlap=2, name="DS rule")
    make_comparisons(p, users["lead"], 4)
    for _ in range(4):
        judge(p, users["annotator"], prefer="model-a")
        judge(p, users["annotator2"], prefer="model-a")
    item = Item.objects.filter(project=p, kind="comparison").order_by("id").first()
    b = item.responses.get(model_name="model-b")
    set_gold(item=item, actor=users["lead"], answer={"winner": b.pk})
    recompute_consensus(project=p, actor=users["lead"], rule="dawid_skene")
    rows = Consensus.objects.filter(item__project=p, rule="dawid_skene", criterion="")
    assert rows.count() == 4
    anchored = rows.get(item=item)
    assert anchored.winner_id == b.pk and anchored.confidence == 1.0
    assert anchored.params["dawid_skene"]["gold_items"] == 1
    for row in rows.exclude(item=item):
        # answers that never depend on the truth (model-a, even on the gold item) weigh nothing: the
        # class prior (here, from the one known answer) decides
        assert row.outcome == "win" and row.winner_id is not None and 0.5 < row.confidence <= 1.0
        assert set(row.params["weights"].values()) == {0.0}
    pairs = PreferencePair.objects.filter(project=p, rule="dawid_skene", criterion="", is_stale=False)
    assert pairs.count() == 4 and pairs.get(item=item).chosen_id == b.pk
