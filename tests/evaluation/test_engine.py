"""The suites on the tiny model, with known outcomes: a LoRA trained by DPO to prefer a marker
answer scores ~100% held-out preference accuracy; a deliberately damaged model loses on a forgetting
suite the base answers perfectly; and a whole eval run through the Celery task, resumable."""

import pytest

from evaluation.metrics import engine
from training.pipeline import TrainConfig, run_training


def user(text):
    return {"role": "user", "content": text}


MARKER = "The capital of France is Paris."
TRAIN = [
    {"prompt": [user(f"Tell me about France, question {i}?")], "chosen": [{"role": "assistant", "content": MARKER}],
     "rejected": [{"role": "assistant", "content": f"I do not know {i}."}]}
    for i in range(8)
]  # fmt: skip
HELD_OUT = [
    {"messages": [user(f"Something else about France, number {i}?")], "chosen": MARKER, "rejected": f"I do not know {i + 20}.",
     "reference": MARKER, "group": f"g{i % 2}"}
    for i in range(6)
]  # fmt: skip


@pytest.fixture(scope="module")
def marker_adapter(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("dpo")
    cfg = TrainConfig(
        method="dpo", base_model=tiny_model_dir, output_dir=str(out), max_steps=12, per_device_train_batch_size=4,
        save_steps=100, learning_rate=2e-2, max_length=64,
    )  # fmt: skip
    result = run_training(cfg, TRAIN)
    assert result.status == "completed"
    return result.adapter_dir


def test_marker_trained_model_prefers_chosen_on_held_out_pairs(tiny_model_dir, marker_adapter):
    arms = {"model": engine.Arm.load(tiny_model_dir, marker_adapter, device="cpu"),
            "base": engine.Arm.load(tiny_model_dir, device="cpu")}  # fmt: skip
    spec = engine.Spec(examples=HELD_OUT)
    results = {a: engine._pref_logprobs(arm, spec) for a, arm in arms.items()}
    summary = engine.suites.preference_accuracy(
        results["model"]["chosen"],
        results["model"]["rejected"],
        results["base"]["chosen"],
        results["base"]["rejected"],
    )
    assert summary["rate"] >= 5 / 6 and summary["mean_margin"] > 0
    assert summary["chosen_logprob"] > summary["ref_chosen_logprob"]  # the marker got likelier


def test_forgetting_suite_detects_a_damaged_model(tiny_model_dir):
    import torch

    base = engine.Arm.load(tiny_model_dir, device="cpu")
    damaged = engine.Arm.load(tiny_model_dir, device="cpu")
    items = [dict(it) for it in engine.forgetting_items()[:40]]
    probe = engine._forgetting(base, engine.Spec(examples=[], forgetting=items))
    for item, pick in zip(items, probe["picks"], strict=True):
        item["answer"] = pick  # the base answers this suite perfectly by construction
    spec = engine.Spec(examples=[], forgetting=items, tolerance=2.0)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in damaged.model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    results = engine.run_suites(
        spec, {"model": damaged, "base": base}, done={"model:safety": {}, "base:safety": {}}
    )
    before, after = results["base:forgetting"]["rate"], results["model:forgetting"]["rate"]
    assert before == 1.0 and after < 0.9
    assert engine.suites.forgetting_change(after, before, tolerance=2.0)["flag"]


@pytest.mark.django_db
def test_eval_run_through_the_task_then_resume_skips_done_suites(
    tiny_model_dir, marker_adapter, project, users, settings
):
    import json

    from evaluation import report as reports
    from evaluation import runs, sets, tasks, worker
    from evaluation.models import EvalRun
    from tests.evaluation.factories import snapshot_with, version
    from tests.training.factories import word_embedder

    settings.TUNELOOP_EMBEDDER = "tests.training.factories.word_embedder"
    v = version(project, snapshot=snapshot_with(project, ["Tell me about France, question 0?"]),
                adapter_path=marker_adapter, base_model=tiny_model_dir)  # fmt: skip
    text = "\n".join(json.dumps({"prompt": e["messages"][0]["content"], "chosen": e["chosen"], "rejected": e["rejected"],
                                 "reference": e["reference"], "group": e["group"]}) for e in HELD_OUT)  # fmt: skip
    text += "\n" + json.dumps({"prompt": "Tell me about France, question 0?"})
    eval_set = sets.import_eval_set(project=project, actor=users["lead"], text=text)
    cfg = {"forgetting_limit": 12, "safety_limit": 6, "max_new_tokens": 8}
    with pytest.raises(Exception) as refused:
        runs.start_eval_run(
            project=project,
            actor=users["lead"],
            version=v,
            eval_set=eval_set,
            config=cfg,
            embed=word_embedder,
        )
    assert "eval_set" in refused.value.errors and "exact" in refused.value.errors["eval_set"][0]
    run = runs.start_eval_run(project=project, actor=users["lead"], version=v, eval_set=eval_set, on_leak="flag",
                              config=cfg, embed=word_embedder)  # fmt: skip
    assert run.leakage["flagged"] and run.leakage["exact"] == 1
    # first attempt: the worker is told to stop after two suites -> cancelled, those two kept
    calls = {"n": 0}
    original = worker.EVALS.heartbeat

    def stop_after_two(**kw):
        calls["n"] += 1
        return calls["n"] > 2 or original(**kw)

    worker.EVALS.heartbeat = stop_after_two
    settings.TUNELOOP_CANCEL_POLL_SECONDS = 0
    try:
        assert tasks.run_eval_task.apply(args=[run.pk, run.attempt]).get() == "cancelled"
    finally:
        worker.EVALS.heartbeat = original
    run.refresh_from_db()
    kept = set(run.report["results"])
    assert 1 <= len(kept) < 15
    run = runs.resume_eval_run(run=run, actor=users["lead"])
    assert tasks.run_eval_task.apply(args=[run.pk, run.attempt]).get() == "completed"
    run = EvalRun.objects.get(pk=run.pk)
    assert set(run.report["results"]) >= kept and len(run.report["results"]) == 15
    summary = run.report["summary"]
    assert reports.validate(summary) == []
    assert summary["model"]["preference"]["rate"] >= 5 / 6
    assert summary["model"]["consistency"]["n"] == 2 and summary["base"]["perplexity"] > 0
    v.refresh_from_db()
    assert v.eval_report["schema"] == reports.SCHEMA
