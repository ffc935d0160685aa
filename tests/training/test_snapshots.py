"""Dataset snapshots: sources, filters, dedupe, PII, split, provenance, immutability, empty refusal."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from annotation.core.errors import Forbidden, InvalidInput
from annotation.models import ItemState
from preferences.models import PairStatus, PreferencePair
from tests.training.factories import import_sft, judge_all, make_pairs, sft_project_data, word_embedder
from training import snapshots
from training.models import DatasetSnapshot, Immutable, SnapshotRow

pytestmark = pytest.mark.django_db


def build(project, users, kind="sft", **filters):
    filters.setdefault("near_dup_threshold", 0.95)
    return snapshots.build_snapshot(
        project=project, actor=users["lead"], kind=kind, filters=filters, embedder=word_embedder
    )


def rows_of(snapshot, split=None):
    qs = SnapshotRow.objects.filter(snapshot=snapshot)
    if split:
        qs = qs.filter(split=split)
    return list(qs.order_by("split", "position"))


def test_sft_snapshot_takes_approved_items_with_gold_answers_and_provenance(project, users):
    def decide(item, who):
        if item.prompt_text == "Question 1?" and who == "annotator2":
            return {"decision": "reject"}  # disagreement: not approved
        if item.prompt_text == "Question 2?" and who == "annotator":
            return {"decision": "edit", "edited_text": "A much better answer 2."}
        return {}

    sft_project_data(project, users, n=5, decide=decide)
    snapshot = build(project, users, val_fraction=0)
    rows = rows_of(snapshot)
    answers = {r.data["messages"][-1]["content"]: r.data["response"] for r in rows}
    assert "Question 1?" not in answers
    assert answers["Question 2?"] == "A much better answer 2."
    assert answers["Question 0?"] == "Answer 0."
    assert snapshot.train_count == 4 and snapshot.val_count == 0
    assert snapshot.quality_report["dropped"] == {"not_approved": 1}
    for row in rows:
        p = row.provenance
        assert p["item_id"] and p["response_ids"] and len(p["judgment_ids"]) == 2
        # user ids, never usernames (exports pseudonymise them)
        assert p["annotators"] == sorted([users["annotator"].pk, users["annotator2"].pk])
        assert p["consensus_rule"] and p["rubric_versions"] is not None
    edited = next(r for r in rows if r.data["response"].startswith("A much"))
    assert edited.provenance["gold_from"] == "edit" and edited.provenance["edit_judgment_id"]
    assert len(snapshot.content_hash) == 64


def test_an_item_approved_by_a_lead_counts_even_with_a_reject(project, users):
    sft_project_data(
        project, users, n=2, decide=lambda item, who: {"decision": "reject"} if who == "annotator" else {}
    )
    with pytest.raises(InvalidInput):  # disputed, nothing approved yet
        build(project, users, val_fraction=0)
    project.items.filter(messages__0__content="Question 0?").update(state=ItemState.APPROVED)
    snapshot = build(project, users, val_fraction=0)
    assert [r.data["response"] for r in rows_of(snapshot)] == ["Answer 0."]
    # ...unless the lead asks for full agreement
    with pytest.raises(InvalidInput):
        build(project, users, val_fraction=0, min_agreement=1.0)


def test_flag_rubric_and_date_filters(project, users):
    sft_project_data(
        project,
        users,
        n=4,
        decide=lambda item, who: {"flags": ["unsafe"]} if item.prompt_text == "Question 3?" else {},
    )
    default = build(project, users, val_fraction=0)  # pii and unsafe are excluded by default
    assert default.train_count == 3 and default.quality_report["dropped"] == {"flag:unsafe": 1}
    assert build(project, users, val_fraction=0, exclude_flags=[]).train_count == 4
    assert build(project, users, val_fraction=0, rubric_version=1).train_count == 3
    with pytest.raises(InvalidInput) as exc:
        build(project, users, val_fraction=0, rubric_version=7)
    assert "rubric version" in exc.value.message
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    with pytest.raises(InvalidInput):
        build(project, users, val_fraction=0, date_from=tomorrow)
    assert build(project, users, val_fraction=0, date_to=tomorrow).train_count == 3


def test_bad_filters_are_field_errors(project, users):
    with pytest.raises(InvalidInput) as exc:
        build(project, users, min_agreement=2, exclude_flags=["nope"], date_from="yesterday", bogus=1)
    assert set(exc.value.errors) == {"min_agreement", "exclude_flags", "date_from", "bogus"}
    with pytest.raises(InvalidInput) as exc:
        build(project, users, kind="dpo", replay_fraction=0.2)
    assert "replay_fraction" in exc.value.errors


def test_empty_snapshot_is_refused_and_nothing_is_written(project, users):
    with pytest.raises(InvalidInput) as exc:
        build(project, users)
    assert "No rows" in exc.value.message and "filters" in exc.value.errors
    assert not DatasetSnapshot.objects.exists()


def test_only_leads_build(project, users):
    sft_project_data(project, users, n=2)
    with pytest.raises(Forbidden):
        snapshots.build_snapshot(
            project=project, actor=users["annotator"], kind="sft", embedder=word_embedder
        )


def test_snapshot_and_rows_are_immutable(project, users):
    sft_project_data(project, users, n=3)
    snapshot = build(project, users, val_fraction=0)
    snapshot.name = "renamed"
    with pytest.raises(Immutable):
        snapshot.save()
    row = rows_of(snapshot)[0]
    row.data = {"messages": [], "response": "tampered"}
    with pytest.raises(Immutable):
        row.save()
    snapshot.refresh_from_db()
    assert snapshot.name != "renamed"


def test_exact_and_near_duplicates_are_dropped(project, users):
    import_sft(
        project,
        users["lead"],
        [
            ("What is the capital of France?", "Paris."),
            ("What is the capital of France?", "It is Paris."),  # edited below into an exact copy
            ("what is the CAPITAL of france", "Paris is the capital."),  # near duplicate prompt
            ("How do I boil an egg?", "Boil it for eight minutes."),
        ],
    )

    def decide(item, who):
        if item.responses.first().text == "It is Paris.":
            return {"decision": "edit", "edited_text": "Paris."}
        return {}

    judge_all(project, users, decide)
    snapshot = build(project, users, val_fraction=0)
    report = snapshot.quality_report
    assert report["duplicates"]["exact"] == 1 and report["duplicates"]["near"] == 1
    assert report["dropped"] == {"exact_duplicate": 1, "near_duplicate": 1}
    assert sorted(r.data["response"] for r in rows_of(snapshot)) == ["Boil it for eight minutes.", "Paris."]
    assert report["duplicates"]["near_examples"][0]["cosine"] >= 0.95
    # A threshold of 1.0 turns near-dedupe off; dedupe=False keeps exact copies too.
    assert build(project, users, val_fraction=0, near_dup_threshold=1.0).train_count == 3
    assert build(project, users, val_fraction=0, dedupe=False).train_count == 4


def test_pii_is_reported_redacted_or_dropped(project, users):
    import_sft(
        project,
        users["lead"],
        [("Who do I mail?", "Write to jane.doe@example.com today."), ("Say hi", "Hello!")],
    )
    judge_all(project, users)
    kept = build(project, users, val_fraction=0)
    assert kept.quality_report["pii"] == {"rows": 1, "kinds": {"email": 1}, "action": "kept"}
    assert any("jane.doe@example.com" in r.data["response"] for r in rows_of(kept))
    assert kept.quality_report["pipeline"]["pii"]["email"] == 1

    redacted = build(project, users, val_fraction=0, redact_pii=True)
    texts = [r.data["response"] for r in rows_of(redacted)]
    assert "Write to [EMAIL] today." in texts and not any("@" in t for t in texts)
    assert next(r for r in rows_of(redacted) if "[EMAIL]" in r.data["response"]).provenance["pii_redacted"]

    dropped = build(project, users, val_fraction=0, drop_pii=True)
    assert dropped.train_count == 1 and dropped.quality_report["dropped"] == {"pii": 1}


def test_dpo_snapshot_filters_and_provenance(project, users):
    approved = make_pairs(project, users["lead"], [f"Prompt {i}?" for i in range(4)], confidence=0.9)
    make_pairs(project, users["lead"], ["Low?"], confidence=0.3)
    make_pairs(project, users["lead"], ["Cand high?"], status=PairStatus.CANDIDATE, confidence=0.95)
    harmful = make_pairs(
        project, users["lead"], ["Cand harmful?"], status=PairStatus.CANDIDATE, confidence=0.95
    )
    PreferencePair.objects.filter(pk=harmful[0].pk).update(
        chosen_harmful_flags=2, chosen_harmful_majority=True
    )
    make_pairs(project, users["lead"], ["Cand low?"], status=PairStatus.CANDIDATE, confidence=0.5)
    make_pairs(project, users["lead"], ["Excluded?"], status=PairStatus.EXCLUDED)
    approved[0].chosen_text_override = "An edited chosen answer."
    approved[0].decided_by = users["lead"]
    approved[0].decided_at = timezone.now()
    approved[0].save()

    snap = build(project, users, "dpo", val_fraction=0)
    prompts = {r.data["messages"][-1]["content"] for r in rows_of(snap)}
    assert prompts == {"Prompt 0?", "Prompt 1?", "Prompt 2?", "Prompt 3?", "Low?"}
    row0 = next(r for r in rows_of(snap) if r.data["messages"][-1]["content"] == "Prompt 0?")
    assert row0.data["chosen"] == "An edited chosen answer." and row0.data["rejected"] == "bad 0"
    assert row0.provenance["pair_id"] == approved[0].pk and row0.provenance["chosen_edited"] is True
    assert row0.provenance["response_ids"] == [approved[0].chosen_id, approved[0].rejected_id]
    assert row0.provenance["decided_by"] == users["lead"].pk and row0.provenance["decided_at"]
    assert row0.provenance["adjudication_ids"] == []  # no lead settled a disagreement on it

    assert build(project, users, "dpo", val_fraction=0, min_confidence=0.5).train_count == 4
    with_candidates = build(project, users, "dpo", val_fraction=0, include_candidates=True)
    prompts = {r.data["messages"][-1]["content"] for r in rows_of(with_candidates)}
    assert "Cand high?" in prompts and "Cand low?" not in prompts and "Excluded?" not in prompts
    assert "Cand harmful?" not in prompts  # most of its judges reported the chosen response harmful
    with pytest.raises(InvalidInput):
        build(project, users, "dpo", criterion="helpfulness")


def test_split_keeps_every_prompt_on_one_side(project, users):
    prompts = [f"Prompt {i}?" for i in range(12)]
    make_pairs(project, users["lead"], prompts, criterion="")
    # a second pair on every item, for another criterion: the same prompt twice
    for pair in list(project.preference_pairs.all()):
        pair.pk, pair.criterion = None, "helpfulness"
        pair.chosen, pair.rejected = pair.rejected, pair.chosen  # a different row, the same prompt
        pair.save()
    snap = build(project, users, "dpo", criterion="*", val_fraction=0.25, seed=3)
    train = {r.provenance["item_id"] for r in rows_of(snap, "train")}
    val = {r.provenance["item_id"] for r in rows_of(snap, "validation")}
    assert train and val and not train & val
    assert snap.train_count + snap.val_count == 24 and snap.val_count >= 6
    assert snap.quality_report["prompt_leakage"] == 0
    assert snap.quality_report["splits"] == {
        "train": snap.train_count,
        "validation": snap.val_count,
        "replay": 0,
    }
    # the same seed gives the same split (and hash); another seed another split
    again = build(project, users, "dpo", criterion="*", val_fraction=0.25, seed=3)
    assert again.content_hash == snap.content_hash
    assert {r.provenance["item_id"] for r in rows_of(again, "validation")} == val


def test_replay_share_is_mixed_into_train_only(project, users):
    sft_project_data(project, users, n=6)
    snap = build(project, users, val_fraction=0.2, replay_fraction=0.5)
    replay = [r for r in rows_of(snap, "train") if r.provenance["source"] == "replay"]
    own = [r for r in rows_of(snap, "train") if r.provenance["source"] == "annotation"]
    assert len(replay) == len(own) > 0
    assert all(r.provenance["line"] >= 1 and r.data["response"] for r in replay)
    assert all(r.provenance["source"] == "annotation" for r in rows_of(snap, "validation"))
    assert snap.quality_report["splits"]["replay"] == len(replay)


def test_jsonl_download_streams_every_row(project, users):
    import json

    sft_project_data(project, users, n=4)
    snap = build(project, users, val_fraction=0.25)
    lines = [json.loads(line) for line in snapshots.snapshot_jsonl(snap)]
    assert len(lines) == snap.total_count
    assert {"split", "messages", "response", "provenance"} <= set(lines[0])


@pytest.mark.slow
def test_near_duplicates_with_the_real_minilm(project, users, settings):
    settings.TUNELOOP_EMBEDDER = "llm.embeddings.minilm_embedder"
    import_sft(
        project,
        users["lead"],
        [
            ("How do I boil an egg?", "Eight minutes in boiling water."),
            ("How can I boil an egg?", "Boil it for eight minutes."),
            ("What is the capital of Italy?", "Rome."),
        ],
    )
    judge_all(project, users)
    snap = snapshots.build_snapshot(
        project=project,
        actor=users["lead"],
        kind="sft",
        filters={"val_fraction": 0, "near_dup_threshold": 0.9},
    )
    assert snap.quality_report["duplicates"]["near"] == 1
    assert sorted(r.data["response"] for r in rows_of(snap)) == ["Eight minutes in boiling water.", "Rome."]


def test_final_answers_decide_routed_rejects_lead_edits_and_gold_items(project, users):
    from annotation.projects import services as project_services
    from annotation.quality import adjudication

    project_services.update_project(project=project, actor=users["admin"], agreement_routing=True)
    # Question 0: both accept -> approved; Question 1: both reject -> approved, final answer "reject";
    # Question 2: accept vs reject -> disputed, then the lead writes the gold answer.
    verdicts = {"Question 1?": "reject", "Question 2?": None}

    def decide(item, who):
        verdict = verdicts.get(item.prompt_text, "accept")
        if verdict is None:
            verdict = "accept" if who == "annotator" else "reject"
        return {"decision": verdict}

    sft_project_data(project, users, n=3, decide=decide)
    states = dict(project.items.values_list("messages__0__content", "state"))
    assert states == {"Question 0?": "approved", "Question 1?": "approved", "Question 2?": "disputed"}
    disputed = project.items.get(state=ItemState.DISPUTED)
    adjudication.adjudicate(
        item=disputed,
        lead=users["lead"],
        decision="edit_gold",
        reason="Both miss the point.",
        category="annotator_error",
        final={"decision": "edit", "text": "The lead's gold answer."},
    )
    import_sft(project, users["lead"], [("Gold question?", "Gold answer.")])
    gold = project.items.get(messages__0__content="Gold question?")
    gold.is_gold, gold.state = True, ItemState.APPROVED
    gold.save()

    snapshot = build(project, users, val_fraction=0)
    answers = {r.data["messages"][-1]["content"]: r.data["response"] for r in rows_of(snapshot)}
    assert answers == {"Question 0?": "Answer 0.", "Question 2?": "The lead's gold answer."}
    assert snapshot.quality_report["dropped"] == {"not_approved": 1}
