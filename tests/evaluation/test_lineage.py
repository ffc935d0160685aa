"""Lineage (judgments -> rubric versions -> consensus rule and parameters -> snapshot -> run ->
adapter -> eval report -> promotions) and the model card written into the adapter folder: when a
version is registered (training.registry_links hook), evaluated, or promoted."""

import pytest
import yaml

from evaluation import lineage, promotion
from preferences.models import Consensus
from tests.conftest import make_items
from tests.evaluation.test_pages import report_for
from training import registry_links, worker
from training.models import DatasetSnapshot, ModelVersion, RunState, SnapshotRow, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered(project, users, tmp_path, django_capture_on_commit_callbacks):
    """A DPO run over a snapshot of one pair (3 judgments, rubric v1, Bradley-Terry with parameters),
    finished by the worker: the registry hook writes the card."""
    make_items(project, users["lead"], 1)
    item = project.items.first()
    Consensus.objects.create(item=item, rule="bradley_terry", params={"min_votes": 3}, outcome="win")
    project.dataset_license = "cc-by-4.0"
    project.save()
    snapshot = DatasetSnapshot.objects.create(project=project, kind="dpo", name="s", content_hash="c" * 64,
                                              train_count=1)  # fmt: skip
    SnapshotRow.objects.create(
        snapshot=snapshot, split="train", position=0, data={"prompt": "Q?", "chosen": "a", "rejected": "b"},
        provenance={"source": "preferences", "item_id": item.pk, "judgment_ids": [11, 12, 13],
                    "rubric_versions": [1], "consensus_rule": "bradley_terry"},
    )  # fmt: skip
    run = TrainingRun.objects.create(project=project, snapshot=snapshot, method="dpo", state=RunState.RUNNING,
                                     config={"beta": 0.1, "base_model": "tiny/base"})  # fmt: skip
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    result = {"status": "completed", "adapter_dir": str(adapter), "config": {"base_model": "tiny/base", "beta": 0.1},
              "library_versions": {"torch": "2.5", "trl": "0.12"}}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        worker.finish_run(run_id=run.pk, attempt=1, result=result)
    return ModelVersion.objects.get(run=run)


def header(text):
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_hooks_are_installed():
    assert lineage.write_model_card_quietly in registry_links.REGISTERED
    assert lineage.registry_links in registry_links.LINKS


def test_lineage_reads_every_step(registered, users):
    info = lineage.lineage(registered)
    assert info["judgments"] == 3 and info["rubric_versions"] == [1]
    assert info["consensus"] == {
        "rules": ["bradley_terry"],
        "params": [{"rule": "bradley_terry", "params": {"min_votes": 3}}],
    }
    assert info["snapshot"]["content_hash"] == "c" * 64 and info["run"]["config"]["beta"] == 0.1
    assert info["adapter"]["sha256"] == registered.adapter_sha256 and info["eval"] is None
    assert info["environment"]["libraries"]["trl"] == "0.12" and info["promotions"] == []


def test_card_written_on_register_then_rewritten_after_promotion(
    registered, users, django_capture_on_commit_callbacks
):
    card_path = registered.adapter_path + "/README.md"
    text = open(card_path, encoding="utf-8").read()
    meta = header(text)
    assert (
        meta["base_model"] == "tiny/base"
        and meta["library_name"] == "peft"
        and meta["license"] == "cc-by-4.0"
    )
    assert "dpo" in meta["tags"] and meta["tuneloop"]["snapshot_sha256"] == "c" * 64
    assert meta["tuneloop"]["adapter_sha256"] == registered.adapter_sha256
    assert "Judgments: 3" in text and "bradley_terry parameters" in text and "Not evaluated yet." in text
    report_for(registered)
    with django_capture_on_commit_callbacks(execute=True):
        promotion.promote(version=registered, actor=users["lead"], override_reason="Ship it, pending humans")
    text = open(card_path, encoding="utf-8").read()
    assert "held-out preference accuracy 0.900" in text and "flagged" in text
    assert "Promoted by lead" in text and "override: Ship it, pending humans" in text


def test_card_download_matches_and_missing_folder_is_skipped(registered, client, users):
    client.force_login(users["lead"])
    response = client.get(f"/models/{registered.pk}/model-card/")
    assert response.status_code == 200 and "library_name: peft" in response.content.decode()
    registered.adapter_path = "/nonexistent/adapter"
    assert lineage.write_model_card(registered) is None


def test_evaluate_command_queues_and_waits(project, users, monkeypatch, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    from evaluation import tasks
    from evaluation.models import EvalExample, EvalRun, EvalSet
    from tests.evaluation.factories import version

    settings.TUNELOOP_EMBEDDER = "tests.training.factories.word_embedder"
    v = version(project)
    s = EvalSet.objects.create(project=project, name="s", source="imported", size=1)
    EvalExample.objects.create(eval_set=s, position=0, messages=[{"role": "user", "content": "Hi"}])

    def finish_at_once(run):  # stands in for a worker
        report = {"summary": {"model": {"preference": {"rate": 0.75}}}}
        EvalRun.objects.filter(pk=run.pk).update(state="completed", progress=1.0, report=report)

    monkeypatch.setattr(tasks, "queue_eval_run", finish_at_once)
    out = StringIO()
    call_command("evaluate", project.pk, "--model-version", v.pk, "--eval-set", s.pk, "--set", "max_new_tokens=8",
                 "--wait", "--poll", "0.01", stdout=out)  # fmt: skip
    text = out.getvalue()
    assert "queued" in text and "accuracy: 0.750" in text
    assert EvalRun.objects.get().config == {"max_new_tokens": 8}
    with pytest.raises(CommandError, match="config.nope"):
        call_command("evaluate", project.pk, "--model-version", v.pk, "--eval-set", s.pk, "--set", "nope=1")
