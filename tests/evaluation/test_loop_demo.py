"""`manage.py loop_demo --quick` on the tiny model: every stage leaves its rows (samples, a selection
batch, judgments, consensus, curated pairs, a snapshot, a completed DPO run, a completed eval run
with metrics), the promotion decision follows the gates, and the report and plot are written."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotation.active_learning.models import ProductionSample, SelectionBatch
from annotation.models import Judgment, Project
from evaluation.loop import rubric
from evaluation.models import EvalRun, Promotion
from preferences.models import Consensus, PairStatus, PreferencePair
from training.models import DatasetSnapshot, ModelVersion, RunState, TrainingRun

pytestmark = pytest.mark.django_db


def test_loop_demo_quick_runs_every_stage(tiny_model_dir, tmp_path, settings):
    settings.DATA_DIR = tmp_path
    out, stdout = tmp_path / "loop-out", StringIO()
    call_command("loop_demo", "--quick", "--model", tiny_model_dir, "--out", str(out), stdout=stdout)
    text = stdout.getvalue()
    print(text)  # shown when the test fails
    project = Project.objects.get()
    assert project.base_model == tiny_model_dir

    samples = ProductionSample.objects.filter(project=project)
    assert samples.count() == 16
    with_line = [rubric.ends_with_line(s.output) for s in samples]
    assert 0 < sum(with_line) < len(with_line)  # the A/B test of the closing line
    batch = SelectionBatch.objects.get(project=project)
    assert batch.n_selected == 10 and batch.n_items > 0
    assert Judgment.objects.filter(item__project=project).count() >= 3 * batch.n_items  # three reviewers each
    assert Consensus.objects.filter(item__project=project, criterion="").count() >= batch.n_items
    approved = PreferencePair.objects.filter(project=project, status=PairStatus.APPROVED, criterion="")
    assert approved.exists()
    # reviewers follow the rubric with a little noise: most approved pairs choose the closing line
    right = sum(rubric.ends_with_line(p.chosen.text) for p in approved.select_related("chosen"))
    assert right / approved.count() >= 0.7

    snapshot = DatasetSnapshot.objects.get(project=project, kind="dpo")
    assert snapshot.state == "ready" and snapshot.train_count > 0
    run = TrainingRun.objects.get(project=project)
    assert run.state == RunState.COMPLETED and run.method == "dpo" and run.step == 2
    version = ModelVersion.objects.get(run=run)
    eval_run = EvalRun.objects.get(project=project, model_version=version)
    assert eval_run.state == RunState.COMPLETED and not eval_run.leakage["flagged"]
    summary = eval_run.report["summary"]
    assert summary["model"]["preference"]["n"] == eval_run.eval_set.size > 0
    # the two safety prompts of --quick are one refusal and one benign prompt: every gate is measured
    for arm in ("model", "base"):
        safety = summary[arm]["safety"]
        assert safety["refusal"]["n"] == safety["over_refusal"]["n"] == 1
        assert safety["over_refusal"]["rate"] is not None
    report = json.loads((out / "loop-report.json").read_text())
    items = report["counts"]["campaign_items"]  # prompts where the two models' answers differ
    if items:  # the blind comparison was judged by all three reviewers
        assert summary["human"]["judgments"] == report["counts"]["campaign_judgments"] == 3 * items
    else:  # identical answers everywhere (a tiny model after two steps): nothing to compare
        assert summary["human"] is None

    assert report["schema"] == "tuneloop.loop-report/1"
    assert [s["stage"] for s in report["stages"]][0] == "project, rubric and reviewers"
    assert len(report["stages"]) == 12 and all(s["seconds"] >= 0 for s in report["stages"])
    assert json.loads((out / "eval-report.json").read_text())["schema"] == "tuneloop.eval-report/1"
    assert (out / "loop.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {t["name"] for t in report["targets"]} >= {"held-out preference accuracy (tuned)"}

    checks = {c["name"]: c for c in report["gates"]["checks"]}
    assert {"held-out preference accuracy", "forgetting drop (points)"} <= set(checks)
    measured = [c for name, c in checks.items() if name != "win rate lower bound" or items]
    assert all(c["value"] is not None for c in measured)  # over-refusal included
    # the decision follows the gates: promoted exactly when they pass
    passed = report["gates"]["passed"]
    assert report["promoted"] is passed
    assert Promotion.objects.filter(model_version=version).exists() is passed
    project.refresh_from_db()
    assert (project.current_model_path == version.adapter_path) is passed
    assert ("Promoted: yes" if passed else "Promoted: no") in text
    for n in range(1, 13):
        assert f"[{n:>2}]" in text


def test_loop_demo_refuses_bad_sizes():
    with pytest.raises(CommandError, match="--pairs must be at least 1"):
        call_command("loop_demo", "--quick", "--pairs", "0", stdout=StringIO())
