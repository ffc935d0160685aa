"""Eval sets (import, reviewed items never trained on, held-out production samples) and the
leakage check against a version's training snapshot."""

import json

import pytest

from annotation.core.errors import Forbidden
from annotation.importing.parse import ImportFailed
from evaluation import sets
from evaluation.metrics import leakage
from evaluation.parse import parse_eval_jsonl
from tests.evaluation.factories import snapshot_with, version
from tests.training.factories import word_embedder

pytestmark = pytest.mark.django_db


def jsonl(*rows):
    return "\n".join(json.dumps(r) for r in rows)


def test_parse_reports_every_bad_line_and_imports_nothing():
    text = jsonl({"prompt": "ok"}, {"prompt": ""}, {"prompt": "x", "chosen": "c"}) + "\n{not json"
    with pytest.raises(ImportFailed) as info:
        parse_eval_jsonl(text)
    where = {(e.line, e.field) for e in info.value.errors}
    assert where == {(2, "prompt"), (3, "rejected"), (4, "")}


def test_parse_keeps_references_groups_and_pairs():
    rows = parse_eval_jsonl(
        jsonl(
            {"prompt": "a", "reference": "r", "group": "g"},
            {"messages": [{"role": "user", "content": "b"}], "chosen": "c", "rejected": "d"},
        )
    )
    assert rows[0]["messages"] == [{"role": "user", "content": "a"}] and rows[0]["group"] == "g"
    assert rows[1]["chosen"] == "c" and rows[1]["reference"] == ""


def test_import_is_all_or_nothing_and_lead_only(project, users):
    with pytest.raises(ImportFailed):
        sets.import_eval_set(project=project, actor=users["lead"], text=jsonl({"prompt": "a"}, {"nope": 1}))
    assert not project.eval_sets.exists()
    with pytest.raises(Forbidden):
        sets.import_eval_set(project=project, actor=users["annotator"], text=jsonl({"prompt": "a"}))
    s = sets.import_eval_set(
        project=project, actor=users["lead"], text=jsonl({"prompt": "a"}, {"prompt": "b"})
    )
    assert s.size == 2 and [e.position for e in s.examples.all()] == [0, 1]


def test_leakage_finds_exact_and_near_duplicates(project, users):
    snap = snapshot_with(project, ["What is the capital of France?", "Write a poem about cats and dogs"])
    v = version(project, snapshot=snap)
    s = sets.import_eval_set(
        project=project, actor=users["lead"],
        text=jsonl({"prompt": "What is the capital of France?"}, {"prompt": "write a poem about dogs and cats"},
                   {"prompt": "Explain quantum tunnelling to a child"}),
    )  # fmt: skip
    report = sets.check_leakage(s, v, embed=word_embedder, threshold=0.9)
    assert report["checked"] and report["exact"] == 1 and report["near"] == 1
    kinds = {r["position"]: (r["kind"], r["row_position"]) for r in report["rows"]}
    assert kinds == {0: ("exact", 0), 1: ("near", 1)}
    assert report["rows"][1]["train_prompt"] == "Write a poem about cats and dogs"


def test_leakage_pure_prefers_exact_and_respects_threshold():
    found = leakage.find_leaks(
        ["k1", "k2"],
        ["alpha beta", "gamma delta"],
        ["k1"],
        ["alpha beta"],
        embed=word_embedder,
        threshold=0.99,
    )
    assert found == [{"eval_index": 0, "train_index": 0, "kind": "exact", "cosine": 1.0}]


def test_reviewed_items_exclude_those_in_snapshots(project, users):
    from tests.training.factories import sft_project_data

    project.agreement_routing = True
    project.save()
    sft_project_data(project, users, n=3)
    approved = list(project.items.filter(state="approved").order_by("id"))
    assert len(approved) == 3
    snap = snapshot_with(project, ["x"])
    row = snap.rows.first()
    from training.models import SnapshotRow

    SnapshotRow.objects.create(
        snapshot=snap, split="train", position=5, data=row.data, provenance={"item_id": approved[0].pk}
    )
    s = sets.create_from_reviewed(project=project, actor=users["lead"])
    ids = [e.provenance["item_id"] for e in s.examples.all()]
    assert ids == [approved[1].pk, approved[2].pk]
    assert all(e.reference for e in s.examples.all())


def test_production_samples_held_out(project, users):
    from annotation.active_learning.models import ProductionSample

    for i in range(3):
        ProductionSample.objects.create(
            project=project, messages=[{"role": "user", "content": f"q{i}"}], prompt=f"q{i}", output="o",
            content_hash=str(i) * 64,
        )  # fmt: skip
    s = sets.create_from_production(project=project, actor=users["lead"], limit=2)
    assert s.size == 2 and s.source == "production"
