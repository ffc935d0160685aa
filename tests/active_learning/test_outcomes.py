"""Each batch's outcome once reviewed, from real judgments through the queue services (accept rate
of SFT reviews; how often reviewers chose the response the model did not prefer), and the
production output against a fresh generation (versus_fresh) with a tiny model."""

import pytest

from annotation.active_learning import scores, selecting, selectors, tasks
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
