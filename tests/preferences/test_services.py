"""Preference write paths: blind display order, slot -> response mapping, improvements, rushed
judgments, a lead's adjudication deciding the pairs, and "report harmful" counts.

Consensus into curated pairs (ties, both bad, a lead's decisions surviving recompute, who may curate,
the weighted and Bradley-Terry rules) is in test_services_consensus.py; the `cmp` fixture is in
tests/preferences/conftest.py.
"""

import json

import pytest

from annotation.core.errors import InvalidInput
from annotation.importing import services as import_services
from annotation.models import Item, Judgment, Response
from annotation.projects import services as project_services
from annotation.queue import services as queue_services
from preferences.models import Consensus, PairStatus, PreferencePair
from preferences.services import recompute_consensus, set_pair_status, shown_responses
from tests.preferences.factories import (
    both_prefer_a_overall_and_b_for_honesty,
    judge,
    lease,
    make_cmp_project,
    make_comparisons,
    response_model,
)

pytestmark = pytest.mark.django_db


def test_display_order_is_random_per_assignment_and_stored(users, cmp):
    make_comparisons(cmp, users["lead"], 30)
    seen = set()
    for _ in range(30):
        a = lease(cmp, users["annotator"])
        canonical = list(a.item.responses.order_by("position").values_list("id", flat=True))
        assert sorted(a.display_order) == sorted(canonical)
        again = lease(cmp, users["annotator"])  # resume: same lease, same stored order
        assert again.pk == a.pk and again.display_order == a.display_order
        seen.add(tuple(a.display_order) == tuple(canonical))
        queue_services.skip_assignment(assignment=a, user=users["annotator"])
    assert seen == {True, False}  # both orders occurred (chance of failing: 2 ** -29)


def test_each_annotator_gets_their_own_order(users, cmp):
    make_comparisons(cmp, users["lead"], 20)
    differs = False
    for _ in range(20):
        a1, a2 = lease(cmp, users["annotator"]), lease(cmp, users["annotator2"])
        assert a1.item_id == a2.item_id
        differs |= a1.display_order != a2.display_order
        queue_services.skip_assignment(assignment=a1, user=users["annotator"])
        queue_services.skip_assignment(assignment=a2, user=users["annotator2"])
    assert differs


@pytest.mark.parametrize("token", ["A", "left", "a", 0])
def test_choice_of_the_left_slot_names_the_response_shown_left(users, cmp, token):
    make_comparisons(cmp, users["lead"], 12)
    for _ in range(12):  # over both display orders
        a = lease(cmp, users["annotator"])
        j = queue_services.submit_judgment(
            assignment=a, user=users["annotator"], payload={"choice": token, "strength": "clearly"}
        )
        left, right = a.display_order
        assert j.payload["winner"] == left and j.payload["winner_slot"] == 0
        assert j.payload["ranking"] == [[left], [right]] and j.payload["strength"] == 2
        assert j.payload["display_order"] == a.display_order


def test_right_and_b_name_the_second_slot(users, cmp):
    make_comparisons(cmp, users["lead"], 2)
    for token in ("right", "B"):
        a = lease(cmp, users["annotator"])
        j = queue_services.submit_judgment(
            assignment=a, user=users["annotator"], payload={"choice": token, "strength": 1}
        )
        assert j.payload["winner"] == a.display_order[1]


def test_invalid_payloads_name_the_field(users, cmp):
    make_comparisons(cmp, users["lead"], 1)
    a = lease(cmp, users["annotator"])
    with pytest.raises(InvalidInput) as exc:
        queue_services.submit_judgment(
            assignment=a, user=users["annotator"], payload={"choice": "C", "strength": 1}
        )
    assert "choice" in exc.value.errors
    with pytest.raises(InvalidInput) as exc:
        queue_services.submit_judgment(
            assignment=a, user=users["annotator"], payload={"choice": "tie", "criteria": {"nope": "A"}}
        )
    assert "criteria.nope" in exc.value.errors
    assert not Judgment.objects.exists()


def test_comparison_submit_does_not_require_the_sft_scores(users, project):
    """The shared `project` fixture's rubric has required likert/binary criteria (SFT scores); a
    comparison answers criteria as A / B / tie in its payload and must not need those scores."""
    make_comparisons(project, users["lead"], 1)
    a = lease(project, users["annotator"])
    j = queue_services.submit_judgment(assignment=a, user=users["annotator"], payload={"choice": "tie"})
    assert j.payload["outcome"] == "tie"


def test_rationale_required_by_the_project(users):
    p = make_cmp_project(users, require_rationale=True, name="Strict")
    make_comparisons(p, users["lead"], 1)
    a = lease(p, users["annotator"])
    with pytest.raises(InvalidInput) as exc:
        queue_services.submit_judgment(assignment=a, user=users["annotator"], payload={"choice": "tie"})
    assert "comment" in exc.value.errors
    queue_services.submit_judgment(
        assignment=a, user=users["annotator"], payload={"choice": "tie"}, comment="same"
    )


def test_improved_text_becomes_a_response_never_shown_later(users, cmp):
    make_comparisons(cmp, users["lead"], 1)
    a, j = judge(
        cmp, users["annotator"], payload={"choice": "B", "strength": 3, "improved_text": "Best.\r\n"}
    )
    improved = Response.objects.get(pk=j.payload["improved_response"])
    assert improved.text == "Best." and improved.author == users["annotator"]
    assert improved.generation_params["of"] == a.display_order[1]
    assert sorted(shown_responses(a.item).values_list("id", flat=True)) == sorted(a.display_order)
    later = lease(cmp, users["annotator2"])
    assert later.item_id == a.item_id
    assert improved.pk not in later.display_order
    assert sorted(later.display_order) == sorted(a.display_order)


def test_judgments_faster_than_the_project_minimum_are_flagged_rushed(users):
    from annotation.importing.parse import parse_items
    from annotation.projects import selectors as project_selectors
    from annotation.queue import services as queue_services

    project = project_services.create_project(name="Rush", created_by=users["admin"], min_seconds_per_item=10)
    project_services.set_membership(
        project=project, actor=users["admin"], user=users["annotator"], role="annotator"
    )
    lines = "\n".join(
        json.dumps(
            {
                "prompt": f"P{i}",
                "responses": [{"text": f"x{i}", "model": "a"}, {"text": f"y{i}", "model": "b"}],
            }
        )
        for i in range(2)
    )
    import_services.import_items(
        project=project, actor=users["admin"], records=parse_items(lines, kind="comparison").records
    )
    fast = queue_services.next_assignment(project=project, user=users["annotator"], kind="comparison")
    j1 = queue_services.submit_judgment(
        assignment=fast, user=users["annotator"], payload={"choice": "A", "strength": 1}, duration_seconds=3
    )
    slow = queue_services.next_assignment(project=project, user=users["annotator"], kind="comparison")
    j2 = queue_services.submit_judgment(
        assignment=slow, user=users["annotator"], payload={"choice": "tie"}, duration_seconds=12
    )
    assert (j1.rushed, j2.rushed) == (True, False)
    stats = {r["username"]: r for r in project_selectors.annotator_stats(project)}
    assert stats["annotator1"]["rushed"] == 1


# --- a lead's adjudication is final for preference datasets -----------------------------------------


def settle(item, users, decision, **kwargs):
    from annotation.quality import adjudication

    return adjudication.adjudicate(
        item=item, lead=users["lead"], decision=decision, reason="Lead's call.", category="other", **kwargs
    )


def model_response(item, model):
    return item.responses.get(model_name=model, shown=True)


@pytest.fixture
def agreed(users, cmp):
    """One comparison both annotators judged "model-a, clearly better", with its consensus pair."""
    make_comparisons(cmp, users["lead"], 1)
    a, _ = judge(cmp, users["annotator"], prefer="model-a")
    judge(cmp, users["annotator2"], prefer="model-a")
    recompute_consensus(project=cmp, actor=users["lead"])
    return Item.objects.get(pk=a.item_id)


def live_pairs(project, criterion=""):
    return PreferencePair.objects.filter(project=project, criterion=criterion, is_stale=False)


def test_an_overridden_winner_decides_the_pair(users, cmp, agreed):
    old = PreferencePair.objects.get(project=cmp)
    assert old.chosen.model_name == "model-a"
    done = settle(agreed, users, "override", final={"winner": model_response(agreed, "model-b").pk})
    stats = recompute_consensus(project=cmp, actor=users["lead"])
    assert stats["adjudicated"] == 1 and stats["pairs"] == 1
    pair = live_pairs(cmp).get()
    assert (pair.chosen.model_name, pair.rejected.model_name) == ("model-b", "model-a")
    assert pair.rule == "adjudication" and pair.confidence == 1.0 and pair.margin == 3.0
    assert pair.n_votes == 2  # the judgments the lead overruled
    old.refresh_from_db()
    assert old.is_stale
    consensus = Consensus.objects.get(item=agreed, criterion="", rule="majority")
    assert consensus.winner == pair.chosen and consensus.confidence == 1.0
    assert consensus.params["source"] == "adjudication" and consensus.params["adjudication"] == done.pk
    assert consensus.params["decision"] == "override"
    assert consensus.params["votes"]["winner"] == old.chosen_id  # what the votes said, for the record
    # the same answer under the other rule: the lead's word is final whatever the rule
    recompute_consensus(project=cmp, actor=users["lead"], rule="weighted", weights={})
    assert live_pairs(cmp).get().chosen.model_name == "model-b"


def test_a_picked_judgment_decides_the_pair_with_its_strength(users, cmp):
    make_comparisons(cmp, users["lead"], 1)
    judge(cmp, users["annotator"], prefer="model-a")
    a, picked = judge(cmp, users["annotator2"], prefer="model-b")
    settle(a.item, users, "pick", judgment_id=picked.pk)
    recompute_consensus(project=cmp, actor=users["lead"])
    pair = live_pairs(cmp).get()
    assert pair.chosen.model_name == "model-b" and pair.rule == "adjudication"
    assert pair.confidence == 1.0 and pair.margin == 2.0  # the picked judgment said "clearly better"


@pytest.mark.parametrize("outcome", ["tie", "both_bad"])
def test_a_final_tie_or_both_bad_gives_no_pair(users, cmp, agreed, outcome):
    settle(agreed, users, "override", final={"outcome": outcome})
    stats = recompute_consensus(project=cmp, actor=users["lead"])
    assert stats["pairs"] == 0 and not live_pairs(cmp).exists()
    assert PreferencePair.objects.get(project=cmp).is_stale
    sft = Item.objects.filter(project=cmp, kind="sft")
    if outcome == "both_bad":
        assert stats["both_bad"] == 1 and sft.get().metadata["comparison_item"] == agreed.pk
    else:
        assert stats["ties"] == 1 and not sft.exists()


def test_votes_saying_both_bad_do_not_route_an_item_the_lead_settled(users, cmp):
    make_comparisons(cmp, users["lead"], 1)
    a, _ = judge(cmp, users["annotator"], payload={"choice": "both_bad"})
    judge(cmp, users["annotator2"], payload={"choice": "both_bad"})
    settle(a.item, users, "override", final={"winner": model_response(a.item, "model-a").pk})
    stats = recompute_consensus(project=cmp, actor=users["lead"])
    assert stats["both_bad"] == 0 and not Item.objects.filter(project=cmp, kind="sft").exists()
    assert live_pairs(cmp).get().chosen.model_name == "model-a"


def test_edit_gold_text_becomes_the_chosen_text(users, cmp, agreed):
    winner = model_response(agreed, "model-a")
    settle(agreed, users, "edit_gold", final={"winner": winner.pk, "text": "The lead's gold answer."})
    recompute_consensus(project=cmp, actor=users["lead"])
    pair = live_pairs(cmp).get()
    assert pair.chosen == winner and pair.chosen_text == "The lead's gold answer."
    assert pair.rule == "adjudication"


def test_edit_gold_keeps_a_leads_edit_of_the_pair_and_fills_the_others(users, cmp, agreed):
    make_comparisons(cmp, users["lead"], 1, start=1)
    a, _ = judge(cmp, users["annotator"], prefer="model-a")
    judge(cmp, users["annotator2"], prefer="model-a")
    recompute_consensus(project=cmp, actor=users["lead"])
    edited = PreferencePair.objects.get(item=agreed)
    set_pair_status(pair=edited, actor=users["lead"], status="candidate", chosen_text="The lead's edit.")
    for item, text in ((agreed, "Gold one."), (Item.objects.get(pk=a.item_id), "Gold two.")):
        settle(item, users, "edit_gold", final={"winner": model_response(item, "model-a").pk, "text": text})
    recompute_consensus(project=cmp, actor=users["lead"])
    texts = dict(live_pairs(cmp).values_list("item_id", "chosen_text_override"))
    assert texts == {agreed.pk: "The lead's edit.", a.item_id: "Gold two."}


def test_an_nway_final_ranking_gives_every_strict_pair(users):
    p = make_cmp_project(users, overlap=1, name="Three")
    make_comparisons(p, users["lead"], 1, models=("m1", "m2", "m3"))
    a, _ = judge(p, users["annotator"], payload={"ranking": "A>B>C"})
    ids = {r.model_name: r.pk for r in a.item.responses.all()}
    settle(a.item, users, "override", final={"ranking": [[ids["m3"]], [ids["m1"], ids["m2"]]]})
    recompute_consensus(project=p, actor=users["lead"])
    got = sorted((x.chosen.model_name, x.rejected.model_name) for x in live_pairs(p))
    assert got == [("m3", "m1"), ("m3", "m2")]


def test_discarded_items_lose_their_pairs_and_consensus(users, cmp, agreed):
    pair = PreferencePair.objects.get(project=cmp)
    set_pair_status(pair=pair, actor=users["lead"], status="approved")
    settle(agreed, users, "discard")
    stats = recompute_consensus(project=cmp, actor=users["lead"])
    assert stats == {
        "comparisons": 0, "pairs": 0, "both_bad": 0, "ties": 0, "adjudicated": 0, "discarded": 1,
        "harmful": 0,
    }  # fmt: skip
    pair.refresh_from_db()
    assert pair.is_stale and pair.status == "approved"  # the lead's decision is kept, the pair is out
    assert not Consensus.objects.filter(item=agreed).exists()
    assert not live_pairs(cmp).exists()


def test_lead_decisions_on_pairs_survive_an_adjudication(users, cmp, agreed):
    pair = PreferencePair.objects.get(project=cmp)
    set_pair_status(pair=pair, actor=users["lead"], status="excluded")
    settle(agreed, users, "override", final={"winner": pair.chosen_id})  # the same answer as the votes
    recompute_consensus(project=cmp, actor=users["lead"])
    pair.refresh_from_db()
    assert pair.status == "excluded" and pair.rule == "adjudication" and not pair.is_stale


def test_sending_an_adjudicated_item_back_returns_it_to_the_votes(users, cmp, agreed):
    settle(agreed, users, "override", final={"winner": model_response(agreed, "model-b").pk})
    recompute_consensus(project=cmp, actor=users["lead"])
    settle(agreed, users, "more", more=1)
    recompute_consensus(project=cmp, actor=users["lead"])
    pair = live_pairs(cmp).get()
    assert pair.chosen.model_name == "model-a" and pair.rule == "majority" and pair.confidence == 1.0
    assert PreferencePair.objects.get(project=cmp, chosen__model_name="model-b").is_stale


def test_per_criterion_pairs_still_follow_the_votes_of_a_settled_item(users, cmp):
    make_comparisons(cmp, users["lead"], 1)
    item = both_prefer_a_overall_and_b_for_honesty(cmp, users)
    settle(item, users, "override", final={"winner": model_response(item, "model-b").pk})
    recompute_consensus(project=cmp, actor=users["lead"])
    assert live_pairs(cmp).get().chosen.model_name == "model-b"
    honesty = live_pairs(cmp, "honesty").get()
    assert honesty.chosen.model_name == "model-b" and honesty.rule == "majority"


# --- "report harmful" counts --------------------------------------------------------------------------


def test_harmful_reports_are_counted_on_the_pairs_chosen_side(users, cmp):
    make_comparisons(cmp, users["lead"], 3)
    # item 1: both judges report the winner harmful; item 2: one of two does; item 3: only the loser
    judge(cmp, users["annotator"], prefer="model-a", harmful=["model-a"])
    judge(cmp, users["annotator2"], prefer="model-a", harmful=["model-a", "model-b"])
    judge(cmp, users["annotator"], prefer="model-a", harmful=["model-a"])
    judge(cmp, users["annotator2"], prefer="model-a")
    judge(cmp, users["annotator"], prefer="model-a", harmful=["model-b"])
    judge(cmp, users["annotator2"], prefer="model-a", harmful=["model-b"])
    stats = recompute_consensus(project=cmp, actor=users["lead"])
    assert stats["pairs"] == 3 and stats["harmful"] == 1
    pairs = list(PreferencePair.objects.filter(project=cmp).order_by("item_id"))
    assert [(p.chosen_harmful_flags, p.chosen_harmful_majority) for p in pairs] == [
        (2, True),
        (1, False),
        (0, False),
    ]
    assert all(p.status == PairStatus.CANDIDATE for p in pairs)  # never approved automatically
    # a lead may still approve one explicitly; the audit trail says what they knew
    set_pair_status(pair=pairs[0], actor=users["lead"], status="approved")
    from annotation.models import AuditEvent

    event = AuditEvent.objects.filter(verb="pair.curated").latest("id")
    assert event.data["chosen_harmful_flags"] == 2 and event.data["chosen_harmful_majority"] is True
    # flags follow the judgments: after a recompute, the approval is kept and the counts refreshed
    recompute_consensus(project=cmp, actor=users["lead"])
    pairs[0].refresh_from_db()
    assert pairs[0].status == "approved" and pairs[0].chosen_harmful_flags == 2


def test_harmful_reports_count_on_an_adjudicated_pair_too(users, cmp):
    make_comparisons(cmp, users["lead"], 1)
    a, _ = judge(cmp, users["annotator"], prefer="model-a", harmful=["model-b"])
    judge(cmp, users["annotator2"], prefer="model-a", harmful=["model-b"])
    settle(a.item, users, "override", final={"winner": model_response(a.item, "model-b").pk})
    stats = recompute_consensus(project=cmp, actor=users["lead"])
    pair = live_pairs(cmp).get()
    assert pair.chosen.model_name == "model-b" and pair.chosen_harmful_flags == 2
    assert pair.chosen_harmful_majority and stats["harmful"] == 1


# --- "improve the better response" ------------------------------------------------------------------


def test_an_improved_text_becomes_the_chosen_side_of_a_pair(users, cmp):
    make_comparisons(cmp, users["lead"], 1)
    a = lease(cmp, users["annotator"])
    names = [response_model(r) for r in a.display_order]
    better = "AB"[names.index("model-a")]
    queue_services.submit_judgment(
        assignment=a,
        user=users["annotator"],
        payload={"choice": better, "strength": 2, "improved_text": "An even better answer."},
    )
    judge(cmp, users["annotator2"], prefer="model-a")
    stats = recompute_consensus(project=cmp, actor=users["lead"])
    assert stats["pairs"] == 2
    improved = Response.objects.get(item=a.item, shown=False)
    pair = PreferencePair.objects.get(project=cmp, chosen=improved)
    assert pair.chosen_text == "An even better answer." and pair.chosen.model_name == "human"
    assert pair.rejected.model_name == "model-b"  # it beats what its author ranked below the base
    assert pair.margin == 3.0 and pair.confidence == 1.0 and pair.criterion == ""
    assert pair.status == PairStatus.CANDIDATE and not pair.is_stale
    model_pair = PreferencePair.objects.get(project=cmp, chosen__model_name="model-a")
    assert model_pair.rejected.model_name == "model-b"


def test_after_an_adjudication_only_improvements_of_the_final_winner_count(users, cmp):
    make_comparisons(cmp, users["lead"], 1)
    for user, model in (("annotator", "model-a"), ("annotator2", "model-b")):
        a = lease(cmp, users[user])
        slot = "AB"[[response_model(r) for r in a.display_order].index(model)]
        queue_services.submit_judgment(
            assignment=a,
            user=users[user],
            payload={"choice": slot, "strength": 1, "improved_text": f"Better than {model}."},
        )
    settle(a.item, users, "override", final={"winner": model_response(a.item, "model-b").pk})
    recompute_consensus(project=cmp, actor=users["lead"])
    got = sorted((p.chosen_text, p.rejected.model_name, p.rule) for p in live_pairs(cmp))
    assert got == [
        ("Answer 0 variant 1.", "model-a", "adjudication"),
        ("Better than model-b.", "model-a", "adjudication"),
    ]
