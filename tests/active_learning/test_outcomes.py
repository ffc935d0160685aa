"""Each batch's outcome once reviewed, from real judgments through the queue services (accept rate
of SFT reviews; how often reviewers chose the response the model did not prefer), and the
production output against a fresh generation (versus_fresh) and the implicit-reward margin with tiny
models; coverage lists what the dataset misses first."""

import numpy as np
import pytest

from annotation.active_learning import scores, selecting, selection, selectors, tasks
from annotation.active_learning.models import ProductionSample, SampleScore, ScoreKind, SelectionBatch
from annotation.kinds import registry
from annotation.models import Item
from annotation.queue import services as queue_services
from tests.active_learning.test_selection import api_for, ready
from tests.conftest import GOOD_SCORES
from tests.preferences.factories import make_cmp_project

pytestmark = pytest.mark.django_db


def outcome_of(project, batch):
    return next(o for o in selectors.batch_outcomes(project) if o["batch"].pk == batch.pk)


def test_review_batch_accept_rate_from_real_judgments(project, users):
    project.overlap = 1
    project.save()
    ready(project, users, n=10)
    batch = selecting.select(project=project, actor=users["lead"], strategy="uncertainty", budget=4)
    other = selecting.select(project=project, actor=users["lead"], strategy="random", budget=2, seed=3)
    assert outcome_of(project, batch) | {"batch": None} == {
        "batch": None, "reviewed": 0, "decided": 0, "accept_rate": None, "flip_rate": None,
    }  # fmt: skip
    decisions = iter(["accept", "reject", "accept", "accept"])
    for _ in range(4):
        a = queue_services.next_assignment(project=project, user=users["annotator"])
        assert a.item.metadata["active_learning"]["batch"] == batch.pk  # the front of the queue
        queue_services.submit_judgment(
            assignment=a, user=users["annotator"], decision=next(decisions), scores=GOOD_SCORES
        )
    done = outcome_of(project, batch)
    assert done["reviewed"] == 4 and done["decided"] == 4
    assert done["accept_rate"] == 0.75 and done["flip_rate"] is None
    assert outcome_of(project, other)["reviewed"] == 0  # another batch's items are counted apart
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    assert a.item.metadata["active_learning"]["batch"] == other.pk
    queue_services.submit_judgment(
        assignment=a, user=users["annotator"], decision="reject", scores=GOOD_SCORES
    )
    assert outcome_of(project, other)["accept_rate"] == 0.0
    listed = api_for(users["lead"]).get(f"/api/projects/{project.pk}/selections/").json()
    by_id = {row["batch"]["id"]: row for row in listed}
    assert by_id[batch.pk]["accept_rate"] == 0.75 and by_id[other.pk]["reviewed"] == 1


def test_pair_batch_flip_rate_from_real_judgments(users):
    cmp = make_cmp_project(users, overlap=1, name="AL pairs")
    ready(cmp, users, n=6)
    version = scores.current_model(cmp)
    for i, s in enumerate(ProductionSample.objects.filter(project=cmp).order_by("id")):
        SampleScore.objects.create(
            sample=s, kind=ScoreKind.MARGIN, model_version=version, value=0.01 * i,
            details={"responses": [f"first {i}", f"second {i}"], "rewards": [1.0, 0.0] if i % 2 else [0.0, 1.0],
                     "method": "mean_logprob"},
        )  # fmt: skip
    batch = selecting.select(
        project=cmp, actor=users["lead"], strategy="uncertainty", budget=4, output="margin_pair"
    )
    assert batch.n_items == 4 and outcome_of(cmp, batch)["flip_rate"] is None
    flips = iter([True, False, False, True])  # reviewers disagree with the model on two of four
    expected = []
    for _ in range(4):
        a = queue_services.next_assignment(
            project=cmp, user=users["annotator"], kind=registry.listing_responses()
        )
        preferred = a.item.metadata["active_learning"]["model_preferred_position"]
        position = {r.pk: r.position for r in a.item.responses.all()}
        flip = next(flips)
        target = 1 - preferred if flip else preferred
        chosen = next(pk for pk in a.display_order if position[pk] == target)
        slot = "AB"[list(a.display_order).index(chosen)]
        queue_services.submit_judgment(
            assignment=a, user=users["annotator"], payload={"choice": slot, "strength": 2}
        )
        expected.append(flip)
    done = outcome_of(cmp, batch)
    assert done["reviewed"] == 4 and done["decided"] == 4
    assert done["flip_rate"] == sum(expected) / 4 == 0.5 and done["accept_rate"] is None
    assert all(
        (i.resolution or {}).get("winner")
        for i in Item.objects.filter(metadata__active_learning__batch=batch.pk)
    )


def test_versus_fresh_creates_comparisons_with_a_fresh_generation(project, users, tiny_model_dir, settings):
    settings.TUNELOOP_AL_ITEM_PRIORITY = 777
    project.base_model = str(tiny_model_dir)
    project.save()
    ready(project, users, n=8)
    batch = selecting.select(
        project=project, actor=users["lead"], strategy="uncertainty", budget=3, output="versus_fresh"
    )
    assert selecting.needs_generation(batch) and batch.n_selected == 3
    assert not Item.objects.filter(metadata__active_learning__batch=batch.pk).exists()  # the worker's job
    assert tasks.materialize_batch(batch.pk) == 3
    batch.refresh_from_db()
    assert batch.state == SelectionBatch.State.DONE and batch.n_items == 3
    samples = list(
        ProductionSample.objects.filter(selected_batch=batch).select_related("item").order_by("id")
    )
    fresh = selecting.fresh_generations(project, samples)  # greedy: the same text again
    model = scores.current_model(project)
    for sample, text in zip(samples, fresh, strict=True):
        item = sample.item
        assert item is not None and item.kind == registry.listing_responses() and item.priority == 777
        own, new = item.responses.order_by("position")
        assert (own.text, own.model_name) == (sample.output, "v1")
        assert (new.text, new.model_name) == (text, model) and new.generation_params == {"decoding": "greedy"}
        assert item.messages == sample.messages
        meta = item.metadata["active_learning"]
        assert meta["batch"] == batch.pk and meta["model_preferred_position"] == 0 and meta["why"]
    assert tasks.materialize_batch(batch.pk) == 0  # every sample has its item: nothing made twice
    assert Item.objects.filter(metadata__active_learning__batch=batch.pk).count() == 3


def test_margin_by_implicit_reward_then_pairs_from_the_sampled_responses(
    project, users, tiny_model_dir, tmp_path
):
    from llm import load_model, response_stats  # deferred: torch only in this slow test
    from tests.fixtures.tiny_models import build_tiny_model

    project.base_model = str(tiny_model_dir)
    project.current_model_path = str(build_tiny_model(tmp_path / "promoted", seed=1))
    project.save()
    ready(project, users, n=4)
    assert tasks.score_margin(project.pk) == 4
    rows = list(
        SampleScore.objects.filter(kind=ScoreKind.MARGIN).select_related("sample").order_by("sample_id")
    )
    assert {r.details["method"] for r in rows} == {"implicit_reward"}
    assert {r.model_version for r in rows} == {scores.current_model(project)}
    policy, ref = load_model(project.current_model_path), load_model(str(tiny_model_dir))
    for row in rows:
        convs = [row.sample.messages] * 2
        pol = [lp for lp, _ in response_stats(*policy, convs, row.details["responses"])]
        base = [lp for lp, _ in response_stats(*ref, convs, row.details["responses"])]
        expected = [p - b for p, b in zip(pol, base, strict=True)]  # DPO's implicit reward (beta 1)
        assert row.details["rewards"] == pytest.approx(expected, abs=1e-4)
        assert row.value == pytest.approx(abs(expected[0] - expected[1]), abs=1e-4) == row.sample.margin
    assert tasks.score_margin(project.pk) == 0  # the same version: never recomputed
    batch = selecting.select(
        project=project, actor=users["lead"], strategy="uncertainty", budget=2, output="margin_pair"
    )
    items = Item.objects.filter(metadata__active_learning__batch=batch.pk)
    assert items.count() == 2
    by_sample = {r.sample_id: r for r in rows}
    for item in items:
        sample = item.production_samples.get()
        texts = list(item.responses.order_by("position").values_list("text", flat=True))
        assert (
            texts == by_sample[sample.pk].details["responses"] and item.kind == registry.listing_responses()
        )
        rewards = by_sample[sample.pk].details["rewards"]
        assert item.metadata["active_learning"]["model_preferred_position"] == int(rewards[1] > rewards[0])


def test_coverage_lists_the_clusters_the_dataset_misses_first():
    rng = np.random.default_rng(2)
    centres = np.eye(6)[:3] * 5
    sizes = (60, 40, 20)  # the biggest cluster is the one training data misses
    X = np.vstack([c + rng.normal(0, 0.2, (n, 6)) for c, n in zip(centres, sizes, strict=True)])
    training = np.vstack([centres[1] + rng.normal(0, 0.2, (5, 6)), centres[2] + rng.normal(0, 0.2, (5, 6))])
    reviewed = np.vstack([training, centres[0] + rng.normal(0, 0.2, (2, 6))])
    report = selection.coverage(X, {"reviewed": reviewed, "training": training}, k=3, threshold=0.9)
    assert [r["size"] for r in report] == [60, 40, 20]  # uncovered first, then by size
    first, *rest = report
    assert first["training"] == 0.0 and first["training_count"] == 0 and first["reviewed"] > 0.9
    assert all(r["training"] > 0.9 and r["training_count"] == 5 for r in rest)
    assert sorted(i for r in report for i in r["members"]) == list(range(120))
