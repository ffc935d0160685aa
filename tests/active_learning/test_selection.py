"""Selection: budget, near-duplicates, clusters, random as a control, the queue's front, the hidden
reason, the margin strategy's comparisons, only leads select; quality model retraining; priorities."""

import numpy as np
import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.active_learning import quality, scores, scoring, selecting, selection, selectors, tasks
from annotation.active_learning.models import ActiveLearningSettings, ProductionSample, SampleScore, ScoreKind
from annotation.core.errors import Forbidden
from annotation.kinds import registry
from annotation.kinds.task import build_task
from annotation.models import Item
from annotation.queue import services as queue_services
from tests.active_learning.conftest import TOPICS, ingest_rows, sample_rows
from tests.conftest import GOOD_SCORES, make_items

pytestmark = pytest.mark.django_db


def ready(project, users, n=40, **kw):
    ingest_rows(project, users["lead"], sample_rows(n, **kw))
    scores.embed_pending(project)
    rng = np.random.default_rng(0)
    for s in ProductionSample.objects.filter(project=project):
        s.entropy = float(rng.random())
        s.save(update_fields=["entropy"])
    scores.update_priorities(project)


def api_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_pure_priority_formula():
    p = scoring.priorities({"entropy": [0.1, 0.5, 0.9], "quality": [0.5, 0.99, None], "feedback": [0, 0, 1]})
    assert np.allclose(p, [(0 + 1 + 0) / 3, (0.5 + 0.02 + 0) / 3, (1 + 1) / 2])
    assert np.allclose(scoring.percentile_ranks([3, 1, 2, 2]), [1.0, 0.0, 0.5, 0.5])
    only = scoring.priorities({"entropy": [1.0, 2.0]}, {"entropy": 1.0})
    assert list(only) == [0.0, 1.0]


def test_selection_respects_budget_and_creates_front_of_queue_items(project, users):
    ready(project, users)
    make_items(project, users["lead"], 3, priority=5)
    batch = selecting.select(project=project, actor=users["lead"], strategy="uncertainty", budget=7)
    assert batch.n_selected == 7 and batch.n_items == 7
    items = Item.objects.filter(metadata__active_learning__batch=batch.pk)
    assert items.count() == 7 and all(i.kind == "sft" and i.priority == 1000 for i in items)
    picked = ProductionSample.objects.filter(selected_batch=batch)
    others = ProductionSample.objects.filter(project=project, selected_batch__isnull=True)
    assert min(p.priority for p in picked) >= max(o.priority for o in others) - 1e-9
    assignment = queue_services.next_assignment(project=project, user=users["annotator"])
    assert assignment.item.metadata.get("active_learning")  # an active-learning item comes first
    again = selecting.select(project=project, actor=users["lead"], strategy="uncertainty", budget=1000)
    assert not set(again.samples.values_list("pk", flat=True)) & set(picked.values_list("pk", flat=True))


def test_reason_is_shown_to_leads_and_hidden_from_annotators(project, users, client):
    ready(project, users, n=10)
    selecting.select(project=project, actor=users["lead"], strategy="uncertainty", budget=2)
    item = Item.objects.filter(metadata__has_key="active_learning").first()
    reason = item.metadata["active_learning"]["reason"]
    assert reason.startswith("uncertainty: priority")
    assignment = queue_services.next_assignment(project=project, user=users["annotator"])
    assert assignment.item_id in set(
        Item.objects.filter(metadata__has_key="active_learning").values_list("pk", flat=True)
    )
    task = build_task(assignment)
    assert "active_learning" not in str(
        {k: v for k, v in task.items() if k not in ("item", "assignment", "project")}
    )
    api = api_for(users["annotator2"])
    body = api.get(f"/api/projects/{project.pk}/next/").content.decode()
    assert "priority" not in body and "uncertainty" not in body and "active_learning" not in body
    client.force_login(users["annotator"])
    html = client.get(f"/projects/{project.pk}/review/").content.decode()
    assert "uncertainty: priority" not in html and "active_learning" not in html
    client.force_login(users["lead"])
    assert "uncertainty: priority" in client.get(f"/projects/{project.pk}/items/").content.decode()


def test_near_duplicates_of_reviewed_items_and_selected_samples_are_skipped(project, users):
    rows = sample_rows(12)
    ingest_rows(project, users["lead"], rows)
    # an item with exactly the first sample's prompt and output (already in front of reviewers)
    from annotation.importing import services as import_services
    from annotation.importing.parse import parse_items

    parsed = parse_items(
        f'{{"prompt": "{rows[0]["prompt"]}", "response": "{rows[0]["output"]}"}}', fmt="jsonl"
    )
    import_services.import_items(project=project, actor=users["lead"], records=parsed.records)
    scores.embed_pending(project)
    first = ProductionSample.objects.get(project=project, prompt=rows[0]["prompt"])
    first.entropy = 100.0
    first.save()
    scores.update_priorities(project)
    batch = selecting.select(project=project, actor=users["lead"], strategy="uncertainty", budget=3)
    assert first.pk not in set(batch.samples.values_list("pk", flat=True))
    X = np.eye(4)[[0, 0, 1, 2, 3]] + 0.001
    picks = selection.choose("uncertainty", budget=5, embeddings=X, priority=[5, 4, 3, 2, 1])
    assert [i for i, _ in picks] == [0, 2, 3, 4]  # the second copy of row 0 is a near-duplicate


def test_diversity_covers_clusters_and_random_is_a_real_control(project, users):
    rng = np.random.default_rng(1)
    centres = np.eye(8)[:4] * 5
    X = np.vstack([c + rng.normal(0, 0.3, (50, 8)) for c in centres])
    cluster = np.repeat(np.arange(4), 50)
    priority = np.where(cluster == 0, 1.0, 0.0) + rng.random(200) * 0.1  # cluster 0 is most uncertain
    div = selection.choose("diversity", budget=4, embeddings=X, priority=priority, duplicate_threshold=0.999)
    assert sorted(cluster[[i for i, _ in div]]) == [0, 1, 2, 3]
    unc = selection.choose(
        "uncertainty", budget=4, embeddings=X, priority=priority, duplicate_threshold=0.999
    )
    assert set(cluster[[i for i, _ in unc]]) == {0}
    mix = selection.choose(
        "mix", budget=4, embeddings=X, priority=priority, duplicate_threshold=0.999, pool_factor=50
    )
    assert len(set(cluster[[i for i, _ in mix]])) >= 3
    draws = [
        [
            i
            for i, _ in selection.choose(
                "random", budget=20, embeddings=X, priority=priority, seed=s, duplicate_threshold=0.999
            )
        ]
        for s in range(20)
    ]
    assert len({tuple(d) for d in draws}) == 20  # the seed matters
    share_top = np.mean([np.mean(cluster[d] == 0) for d in draws])
    assert 0.15 < share_top < 0.35  # uniform: ~1/4 from the most uncertain cluster, not all of it
    labels, _ = selection.kmeans(X, 4, seed=0)
    assert len({(int(a), int(b)) for a, b in zip(labels, cluster, strict=True)}) == 4


def test_margin_strategy_creates_pair_items(project, users):
    ready(project, users, n=6)
    for i, s in enumerate(ProductionSample.objects.filter(project=project)):
        SampleScore.objects.create(
            sample=s, kind=ScoreKind.MARGIN, model_version=scores.current_model(project), value=0.01 * i,
            details={"responses": [f"first {i}", f"second {i}"], "rewards": [0.2, 0.1 + i], "method": "mean_logprob"},
        )  # fmt: skip
    batch = selecting.select(
        project=project, actor=users["lead"], strategy="uncertainty", budget=3, output="margin_pair"
    )
    items = list(Item.objects.filter(metadata__active_learning__batch=batch.pk).prefetch_related("responses"))
    pair = registry.listing_responses()
    assert len(items) == 3 and all(i.kind == pair and i.responses.count() == 2 for i in items)
    assert all(i.metadata["active_learning"]["model_preferred_position"] in (0, 1) for i in items)


def test_only_leads_select(project, users):
    ready(project, users, n=5)
    with pytest.raises(Forbidden):
        selecting.select(project=project, actor=users["annotator"], strategy="random", budget=2)
    url = f"/api/projects/{project.pk}/selections/"
    assert (
        api_for(users["annotator"]).post(url, {"strategy": "random", "budget": 2}, format="json").status_code
        == 403
    )
    assert (
        api_for(users["outsider"]).post(url, {"strategy": "random", "budget": 2}, format="json").status_code
        == 404
    )
    for path in ("samples/", "coverage/", "quality-models/", "selections/"):
        assert api_for(users["annotator"]).get(f"/api/projects/{project.pk}/{path}").status_code == 403
    lead = api_for(users["lead"])
    assert lead.post(url, {"strategy": "random", "budget": 2}, format="json").status_code == 201
    assert lead.post(url, {"strategy": "nope", "budget": 2}, format="json").status_code == 400
    assert len(lead.get(url).json()) == 1


@pytest.mark.slow  # trains the scikit-learn quality model
def test_quality_model_retrains_after_n_decisions(project, users):
    project.overlap = 1
    project.save()
    ActiveLearningSettings.objects.create(
        project=project, retrain_every=12, weights={}, duplicate_threshold=0.95
    )
    ready(project, users, n=8)
    good, bad = TOPICS["cooking"].split(), TOPICS["finance"].split()
    from annotation.importing import services as import_services
    from annotation.importing.parse import parse_items

    lines = [
        f'{{"prompt": "q{i}", "response": "{" ".join((good if i % 2 else bad)[: 3 + i % 4])} {i}"}}'
        for i in range(24)
    ]
    import_services.import_items(
        project=project, actor=users["lead"], records=parse_items("\n".join(lines)).records
    )

    def decide(n):
        for _ in range(n):
            a = queue_services.next_assignment(project=project, user=users["annotator"])
            text = a.item.responses.first().text
            decision = "accept" if text.split()[0] in good else "reject"
            queue_services.submit_judgment(
                assignment=a, user=users["annotator"], decision=decision, scores=GOOD_SCORES
            )

    decide(11)
    assert not quality.due(project) and quality.maybe_retrain(project) is None
    decide(1)
    assert quality.due(project)
    first = quality.maybe_retrain(project)
    assert first is not None and first.n_labels == 12 and first.n_decisions == 12
    assert ProductionSample.objects.filter(project=project, quality__isnull=False).count() == 8
    assert quality.maybe_retrain(project) is None  # nothing new
    decide(12)
    second = quality.maybe_retrain(project)
    assert second.n_labels == 24 and second.heldout_accuracy is not None and second.heldout_accuracy >= 0.6


def test_explorer_and_coverage_pages(project, users, client):
    ready(project, users, n=30)
    selecting.select(project=project, actor=users["lead"], strategy="diversity", budget=4)
    client.force_login(users["lead"])
    page = client.get(f"/projects/{project.pk}/production/?colour=cluster&priority_min=0")
    assert page.status_code == 200 and b"chart-map" in page.content and b"Batches" in page.content
    assert client.post(f"/projects/{project.pk}/coverage/").status_code == 302
    report = project.coverage_reports.first()
    sizes = [c["size"] for c in report.data["clusters"]]
    assert sum(sizes) == 30 and report.data["clusters"][0]["examples"]
    assert client.get(f"/projects/{project.pk}/coverage/").status_code == 200
    client.force_login(users["annotator"])
    assert client.get(f"/projects/{project.pk}/production/").status_code == 403
    assert client.get(f"/projects/{project.pk}/coverage/").status_code == 403
    assert selectors.batch_outcomes(project)[0]["reviewed"] == 0


def test_scoring_shows_the_backlog_live_instead_of_a_queued_banner(project, users, client, monkeypatch):
    ingest_rows(project, users["lead"], sample_rows(3))
    monkeypatch.setattr(tasks, "queue_scoring", lambda *args, **kwargs: None)  # no worker here
    client.force_login(users["lead"])
    page = client.post(f"/projects/{project.pk}/production/score/", follow=True).content.decode()
    scoring = reverse("annotation:production-scoring", args=[project.pk])
    assert 'class="messages"' not in page and "Scoring queued" not in page
    assert f'hx-get="{scoring}"' in page and "0 / 3 samples scored" in page
    for sample in project.production_samples.all():
        SampleScore.objects.create(
            sample=sample, kind=ScoreKind.UNCERTAINTY, model_version=scores.current_model(project)
        )
    done = client.get(scoring, HTTP_HX_REQUEST="true").content.decode()
    assert "3 / 3 samples scored" in done and "hx-get" not in done and 'id="scoring-state">scored<' in done
    assert f'hx-get="{scoring}"' not in client.get(f"/projects/{project.pk}/production/").content.decode()
