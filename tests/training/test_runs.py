"""Training runs in-process on the tiny model: validation before queueing, SFT and DPO end to end
through the task function, cancellation, interrupted detection and resume from a checkpoint."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from annotation.core.errors import Conflict, Forbidden, InvalidInput
from tests.training.factories import make_pairs, sft_project_data, word_embedder
from training import runs, snapshots, tasks, worker
from training.models import DatasetSnapshot, ModelVersion, RunMetric, RunState, SnapshotRow, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def tiny_config(tiny_model_dir, **extra):
    return {
        "base_model": tiny_model_dir,
        "max_steps": 4,
        "per_device_train_batch_size": 2,
        "logging_steps": 1,
        "save_steps": 2,
        "max_length": 64,
        "lora_r": 4,
        "lora_alpha": 8,
        **extra,
    }


def sft_snapshot(project, users, n=6):
    sft_project_data(project, users, n=n)
    return snapshots.build_snapshot(
        project=project,
        actor=users["lead"],
        kind="sft",
        filters={"val_fraction": 0.2},
        embedder=word_embedder,
    )


def dpo_snapshot(project, users, n=6):
    make_pairs(project, users["lead"], [f"Which is better {i}?" for i in range(n)])
    return snapshots.build_snapshot(
        project=project, actor=users["lead"], kind="dpo", filters={"val_fraction": 0}, embedder=word_embedder
    )


def start(project, users, snapshot, config, capture):
    with capture(execute=False) as callbacks:
        run = runs.start_run(project=project, actor=users["lead"], snapshot=snapshot, config=config)
    assert len(callbacks) == 1  # enqueued on commit, exactly once
    return run


def assert_loadable(version, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(base, version.adapter_path)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([[1, 2, 3]]))
    assert out.logits.shape[-1] == base.config.vocab_size
    assert len(version.adapter_sha256) == 64


@pytest.mark.slow
def test_bad_config_is_refused_before_anything_is_queued(
    project, users, tiny_model_dir, django_capture_on_commit_callbacks
):
    snapshot = sft_snapshot(project, users)
    bad = tiny_config(tiny_model_dir, learning_rate=-1, lora_r=0, max_length=4, bogus=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(InvalidInput) as exc:
        runs.start_run(project=project, actor=users["lead"], snapshot=snapshot, config=bad)
    assert {"learning_rate", "lora_r", "max_length", "bogus"} <= set(exc.value.errors)
    assert exc.value.errors["bogus"] == ["Unknown or reserved field."]
    with django_capture_on_commit_callbacks(execute=False) as more, pytest.raises(InvalidInput) as exc:
        runs.start_run(
            project=project,
            actor=users["lead"],
            snapshot=snapshot,
            method="dpo",
            config=tiny_config(tiny_model_dir),
        )
    assert "method" in exc.value.errors
    with pytest.raises(InvalidInput) as exc:
        runs.start_run(
            project=project, actor=users["lead"], snapshot=snapshot,
            config=tiny_config(tiny_model_dir, init_model_version=999),
        )  # fmt: skip
    assert "init_model_version" in exc.value.errors
    with pytest.raises(Forbidden):
        runs.start_run(project=project, actor=users["annotator"], snapshot=snapshot, config={})
    assert callbacks == [] and more == []
    assert not TrainingRun.objects.exists()


@pytest.mark.slow
def test_invalid_rows_are_refused_with_row_numbers(
    project, users, tiny_model_dir, django_capture_on_commit_callbacks
):
    snapshot = DatasetSnapshot.objects.create(project=project, kind="sft", name="bad", content_hash="0" * 64)
    SnapshotRow.objects.create(
        snapshot=snapshot,
        split="train",
        position=0,
        data={"messages": [{"role": "wizard", "content": "x"}], "response": "y"},
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(InvalidInput) as exc:
        runs.start_run(
            project=project, actor=users["lead"], snapshot=snapshot, config=tiny_config(tiny_model_dir)
        )
    assert "row 1" in " ".join(exc.value.errors["snapshot"])
    assert callbacks == [] and not TrainingRun.objects.exists()


@pytest.mark.slow
def test_invalid_validation_rows_are_refused_too(
    project, users, tiny_model_dir, django_capture_on_commit_callbacks
):
    snapshot = DatasetSnapshot.objects.create(project=project, kind="sft", name="bad", content_hash="1" * 64)
    good = {"messages": [{"role": "user", "content": "x"}], "response": "y"}
    SnapshotRow.objects.create(snapshot=snapshot, split="train", position=0, data=good)
    SnapshotRow.objects.create(
        snapshot=snapshot, split="validation", position=0, data={"messages": [], "response": "y"}
    )
    with django_capture_on_commit_callbacks(execute=False), pytest.raises(InvalidInput) as exc:
        runs.start_run(
            project=project, actor=users["lead"], snapshot=snapshot, config=tiny_config(tiny_model_dir)
        )
    assert any(m.startswith("validation ") for m in exc.value.errors["snapshot"])
    assert not TrainingRun.objects.exists()


@pytest.mark.slow
def test_qlora_is_queued_from_a_web_host_without_a_gpu_and_the_worker_checks_its_own(
    project, users, tiny_model_dir, django_capture_on_commit_callbacks, monkeypatch
):
    """The production layout has no GPU on the web host: QLoRA must not be refused there. The
    worker that runs it checks CUDA and bitsandbytes on its own machine and fails with the reason."""
    from training.pipeline import config as pipeline_config

    monkeypatch.setattr(pipeline_config, "cuda_available", lambda: False)
    snapshot = sft_snapshot(project, users)
    run = start(
        project,
        users,
        snapshot,
        tiny_config(tiny_model_dir, adapter="qlora"),
        django_capture_on_commit_callbacks,
    )
    assert run.state == RunState.QUEUED and run.config["adapter"] == "qlora"
    assert tasks.run_training_task(run.pk, run.attempt) == RunState.FAILED
    run.refresh_from_db()
    assert "qlora needs a CUDA GPU" in run.error


@pytest.mark.slow
def test_sft_then_dpo_end_to_end(project, users, tiny_model_dir, django_capture_on_commit_callbacks):
    snapshot = sft_snapshot(project, users)
    run = start(project, users, snapshot, tiny_config(tiny_model_dir), django_capture_on_commit_callbacks)
    assert run.state == RunState.QUEUED and run.output_dir.endswith(f"runs/{run.pk}")
    assert tasks.run_training_task(run.pk, run.attempt) == RunState.COMPLETED
    run.refresh_from_db()
    assert (run.state, run.step, run.max_steps) == (RunState.COMPLETED, 4, 4)
    assert run.started_at and run.finished_at and run.heartbeat_at and "completed" in run.log_tail
    losses = RunMetric.objects.filter(run=run, name="loss").values_list("step", flat=True)
    assert sorted(losses) == [1, 2, 3, 4]
    sft = run.model_version
    assert sft.base_model == tiny_model_dir and sft.snapshot == snapshot and sft.method == "sft"
    assert sft.library_versions.get("transformers") and sft.config["max_steps"] == 4
    assert sft.library_versions.get("python") and sft.device.get("device") == "cpu"
    assert_loadable(sft, tiny_model_dir)
    # a task for an older attempt (a stale message) does nothing
    assert tasks.run_training_task(run.pk, run.attempt - 1) == "skipped"

    dsnap = dpo_snapshot(project, users)
    drun = start(
        project, users, dsnap, tiny_config(tiny_model_dir, init_model_version=sft.pk, beta=0.2),
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert drun.init_from == sft and drun.config["init_adapter"] == sft.adapter_path
    assert tasks.run_training_task(drun.pk, drun.attempt) == RunState.COMPLETED
    drun.refresh_from_db()
    names = set(RunMetric.objects.filter(run=drun).values_list("name", flat=True))
    assert {"loss", "rewards/margins", "rewards/accuracies"} <= names
    dpo = ModelVersion.objects.get(run=drun)
    assert dpo.method == "dpo" and dpo.config["beta"] == 0.2
    assert_loadable(dpo, tiny_model_dir)
    assert ModelVersion.objects.filter(project=project).count() == 2


@pytest.mark.slow
def test_cancel_a_queued_run_and_a_running_one_then_resume_from_its_checkpoint(
    project, users, tiny_model_dir, django_capture_on_commit_callbacks
):
    snapshot = sft_snapshot(project, users)
    queued = start(project, users, snapshot, tiny_config(tiny_model_dir), django_capture_on_commit_callbacks)
    runs.cancel_run(run=queued, actor=users["lead"])
    assert TrainingRun.objects.get(pk=queued.pk).state == RunState.CANCELLED
    assert tasks.run_training_task(queued.pk, queued.attempt) == "skipped"
    with pytest.raises(Conflict):
        runs.cancel_run(run=queued, actor=users["lead"])

    run = start(project, users, snapshot, tiny_config(tiny_model_dir), django_capture_on_commit_callbacks)
    claimed = worker.mark_running(run_id=run.pk, attempt=run.attempt, hostname="w1@test")
    runs.cancel_run(run=run, actor=users["lead"])  # asked while running: stops at the next check
    assert worker.execute(claimed) == RunState.CANCELLED
    run.refresh_from_db()
    assert run.step == 1 and not ModelVersion.objects.filter(run=run).exists()
    assert (Path(run.output_dir) / "checkpoint-1").is_dir()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        runs.resume_run(run=run, actor=users["lead"])
    assert len(callbacks) == 1
    run.refresh_from_db()
    assert (run.state, run.attempt, run.config["resume_from_checkpoint"]) == (RunState.QUEUED, 2, True)
    assert tasks.run_training_task(run.pk, 2) == RunState.COMPLETED
    run.refresh_from_db()
    # continued from checkpoint-1: step 1 was logged once, by the first attempt
    steps = list(RunMetric.objects.filter(run=run, name="loss").order_by("id").values_list("step", flat=True))
    assert steps == [1, 2, 3, 4]
    assert "resuming from the last checkpoint" in run.log_tail
    assert ModelVersion.objects.filter(run=run).exists()


@pytest.mark.slow
def test_stale_runs_are_marked_interrupted_and_resume_from_the_last_checkpoint(
    project, users, tiny_model_dir, django_capture_on_commit_callbacks
):
    snapshot = sft_snapshot(project, users)
    run = start(
        project, users, snapshot, tiny_config(tiny_model_dir, max_steps=6), django_capture_on_commit_callbacks
    )
    claimed = worker.mark_running(run_id=run.pk, attempt=run.attempt, hostname="gone@test")
    runs.cancel_run(run=run, actor=users["lead"])
    worker.execute(claimed)  # leaves checkpoint-1 behind, as a worker that died after step 1 would
    # ...now pretend the worker died while running: the database still says running.
    TrainingRun.objects.filter(pk=run.pk).update(
        state=RunState.RUNNING, cancel_requested=False, heartbeat_at=timezone.now() - timedelta(minutes=30)
    )
    fresh = start(project, users, snapshot, tiny_config(tiny_model_dir), django_capture_on_commit_callbacks)
    worker.mark_running(run_id=fresh.pk, attempt=fresh.attempt, hostname="alive@test")

    assert worker.mark_interrupted_runs(older_than=timedelta(minutes=10)) == [run.pk]
    assert TrainingRun.objects.get(pk=fresh.pk).state == RunState.RUNNING  # its heartbeat is recent
    # a worker restarting under its old name interrupts what it was running
    assert worker.mark_interrupted_runs(hostname="alive@test") == [fresh.pk]
    run.refresh_from_db()
    assert run.state == RunState.INTERRUPTED and "heartbeat" in run.error
    with pytest.raises(Conflict):
        runs.cancel_run(run=run, actor=users["lead"])

    with django_capture_on_commit_callbacks(execute=False):
        runs.resume_run(run=run, actor=users["lead"])
    assert tasks.run_training_task(run.pk, 2) == RunState.COMPLETED
    steps = list(RunMetric.objects.filter(run=run, name="loss").order_by("id").values_list("step", flat=True))
    assert steps == [1, 2, 3, 4, 5, 6]
    with pytest.raises(Conflict):
        runs.resume_run(run=run, actor=users["lead"])


@pytest.mark.slow
def test_a_training_error_fails_the_run_with_the_message(
    project, users, tiny_model_dir, django_capture_on_commit_callbacks, tmp_path
):
    snapshot = sft_snapshot(project, users)
    run = start(project, users, snapshot, tiny_config(tiny_model_dir), django_capture_on_commit_callbacks)
    # the base model disappears between queueing and running
    TrainingRun.objects.filter(pk=run.pk).update(
        config={**run.config, "base_model": str(tmp_path / "missing")}
    )
    assert tasks.run_training_task(run.pk, run.attempt) == RunState.FAILED
    run.refresh_from_db()
    assert run.state == RunState.FAILED and run.error and run.finished_at
    assert not ModelVersion.objects.exists()


@pytest.mark.slow
def test_train_command_builds_queues_and_reports_field_errors(
    project, users, tiny_model_dir, django_capture_on_commit_callbacks
):
    from io import StringIO

    from django.core.management import CommandError, call_command

    sft_project_data(project, users, n=4)
    args = [
        str(project.pk),
        "--method",
        "sft",
        "--build",
        "--filters",
        '{"near_dup_threshold": 1, "val_fraction": 0}',
    ]
    with pytest.raises(CommandError) as exc:
        call_command("train", *args, "--set", "learning_rate=-1", "--set", f"base_model={tiny_model_dir}")
    assert "learning_rate" in str(exc.value)
    assert not TrainingRun.objects.exists()
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command(
            "train",
            *args,
            "--max-steps",
            "2",
            "--set",
            f"base_model={tiny_model_dir}",
            "--set",
            "lora_r=4",
            stdout=out,
        )
    run = TrainingRun.objects.get()
    assert len(callbacks) == 1 and f"Run #{run.pk} queued" in out.getvalue()
    assert tasks.run_training_task(run.pk, run.attempt) == RunState.COMPLETED
    snapshot_id = run.snapshot_id
    with django_capture_on_commit_callbacks(execute=False):
        call_command(
            "train",
            str(project.pk),
            "--snapshot",
            str(snapshot_id),
            "--set",
            f"base_model={tiny_model_dir}",
            stdout=out,
        )
    assert TrainingRun.objects.count() == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # real commits: the run is queued when start_run commits
@pytest.mark.parametrize("base_ok", [True, False], ids=["completes", "fails"])
def test_train_command_wait_follows_the_run_to_its_end(project, users, tiny_model_dir, tmp_path, base_ok):
    """--wait prints the run's progress until it ends; a run that fails makes the command fail."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    from config.celery import app

    sft_project_data(project, users, n=4)
    base = tiny_model_dir if base_ok else tmp_path / "no-such-model-dir"
    if not base_ok:  # passes validation (a path-like id), fails when the worker loads it
        base.mkdir()
    out = StringIO()
    args = ["--method", "sft", "--build", "--filters", '{"near_dup_threshold": 1, "val_fraction": 0}']
    args += [
        "--max-steps",
        "2",
        "--set",
        f"base_model={base}",
        "--set",
        "lora_r=4",
        "--wait",
        "--timeout",
        "30",
    ]
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the queued task runs in this process as soon as it is queued
    try:
        if base_ok:
            call_command("train", str(project.pk), *args, stdout=out)
        else:
            with pytest.raises(CommandError) as exc:
                call_command("train", str(project.pk), *args, stdout=out)
    finally:
        app.conf.task_always_eager = eager
    run = TrainingRun.objects.get()
    if base_ok:
        assert run.state == RunState.COMPLETED
        assert f"completed step 2/{run.max_steps}" in out.getvalue()
        assert f"Run #{run.pk} completed." in out.getvalue()
    else:
        assert run.state == RunState.FAILED
        assert f"Run #{run.pk} ended failed" in str(exc.value)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # the heartbeat thread has its own connection: real commits
@pytest.mark.parametrize("pulse", [True, False], ids=["with-pulse", "without"])
def test_the_pulse_keeps_a_run_alive_through_a_long_stretch_without_steps(project, users, settings, pulse):
    """Loading a 7B model or a long evaluation calls no should_stop for minutes; without the pulse
    thread the stale-run sweep would mark a healthy run interrupted."""
    import contextlib
    import time

    settings.TUNELOOP_RUN_STALE_SECONDS = 1  # the pulse beats every 0.25 s
    snapshot = DatasetSnapshot.objects.create(project=project, kind="sft", name="s", content_hash="2" * 64)
    run = TrainingRun.objects.create(
        project=project, snapshot=snapshot, method="sft", state=RunState.RUNNING,
        heartbeat_at=timezone.now(), created_by=users["lead"],
    )  # fmt: skip
    beat = worker._Pulse(run.pk, run.attempt, worker.pulse_seconds()) if pulse else contextlib.nullcontext()
    with beat:
        time.sleep(1.6)  # the pipeline is busy and silent
        interrupted = worker.mark_interrupted_runs()
    assert (run.pk in interrupted) is (not pulse)
    run.refresh_from_db()
    assert run.state == (RunState.RUNNING if pulse else RunState.INTERRUPTED)
