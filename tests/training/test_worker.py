"""Real Celery workers on Redis and the PostgreSQL test database run training on the tiny model.

- a worker thread (celery.contrib.testing) on the `celery` and `gpu` queues runs an SFT and a DPO
  run end to end;
- a worker subprocess is killed with SIGKILL mid-run: the run is marked interrupted when a worker
  starts again under that name, and resuming continues from the last checkpoint.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from annotation.models import AuditEvent
from config.celery import app
from tests.training.factories import make_pairs, sft_project_data, word_embedder
from training import runs, snapshots
from training.models import ModelVersion, RunMetric, RunState, TrainingRun
from training.pipeline.run import last_complete_checkpoint

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
QUEUES = ["celery", "gpu"]


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    _purge()


def _purge():
    with app.connection_for_write() as conn:
        for queue in QUEUES:
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - a queue that does not exist yet has nothing to purge
                pass


def _test_database_url():
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def wait_for(predicate, timeout, what, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{log.read_text()}" if log else ""))


def config(tiny_model_dir, **extra):
    return {
        "base_model": tiny_model_dir, "max_steps": 4, "per_device_train_batch_size": 2, "logging_steps": 1,
        "save_steps": 2, "max_length": 64, "lora_r": 4, "lora_alpha": 8, **extra,
    }  # fmt: skip


def assert_loadable(version, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), version.adapter_path
    )
    with torch.no_grad():
        assert model(input_ids=torch.tensor([[1, 2, 3]])).logits.shape[1] == 3


def finished(run_id):
    run = TrainingRun.objects.get(pk=run_id)
    return run if run.state not in (RunState.QUEUED, RunState.RUNNING) else None


def test_worker_thread_runs_sft_and_dpo(project, users, tiny_model_dir):
    from celery.contrib.testing.worker import start_worker

    sft_project_data(project, users, n=6)
    sft_snap = snapshots.build_snapshot(
        project=project,
        actor=users["lead"],
        kind="sft",
        filters={"val_fraction": 0.2},
        embedder=word_embedder,
    )
    make_pairs(project, users["lead"], [f"Which is better {i}?" for i in range(6)])
    dpo_snap = snapshots.build_snapshot(
        project=project, actor=users["lead"], kind="dpo", filters={"val_fraction": 0}, embedder=word_embedder
    )
    with start_worker(app, queues=QUEUES, pool="solo", perform_ping_check=False, shutdown_timeout=60):
        run = runs.start_run(
            project=project, actor=users["lead"], snapshot=sft_snap, config=config(tiny_model_dir)
        )
        run = wait_for(lambda: finished(run.pk), 240, "the SFT run")
        assert run.state == RunState.COMPLETED, run.error
        sft = ModelVersion.objects.get(run=run)
        drun = runs.start_run(
            project=project, actor=users["lead"], snapshot=dpo_snap,
            config=config(tiny_model_dir, init_model_version=sft.pk),
        )  # fmt: skip
        drun = wait_for(lambda: finished(drun.pk), 240, "the DPO run")
        assert drun.state == RunState.COMPLETED, drun.error
    assert run.worker_hostname and run.celery_task_id
    assert sorted(RunMetric.objects.filter(run=run, name="loss").values_list("step", flat=True)) == [
        1,
        2,
        3,
        4,
    ]
    assert RunMetric.objects.filter(run=drun, name="rewards/margins").count() >= 4
    assert_loadable(sft, tiny_model_dir)
    assert_loadable(ModelVersion.objects.get(run=drun), tiny_model_dir)


class WorkerProcess:
    def __init__(self, node, log, data_dir):
        env = {
            **os.environ, "DATABASE_URL": _test_database_url(), "DJANGO_SETTINGS_MODULE": "config.settings",
            "TUNELOOP_DATA_DIR": str(data_dir),
        }  # fmt: skip
        self.node, self.log = node, log
        celery = Path(sys.executable).with_name("celery")
        with open(log, "a") as out:
            self.proc = subprocess.Popen(
                [str(celery), "-A", "config", "worker", "-Q", ",".join(QUEUES), "-n", node, "--pool", "solo",
                 "--concurrency", "1", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def test_a_killed_worker_leaves_an_interrupted_run_that_resumes_from_its_checkpoint(
    project, users, tiny_model_dir, tmp_path
):
    sft_project_data(project, users, n=8)
    snap = snapshots.build_snapshot(
        project=project, actor=users["lead"], kind="sft", filters={"val_fraction": 0}, embedder=word_embedder
    )
    node = f"kill-{uuid.uuid4().hex[:8]}@localhost"
    log = tmp_path / "worker.log"
    first = WorkerProcess(node, log, tmp_path)
    second = None
    try:
        run = runs.start_run(
            project=project, actor=users["lead"], snapshot=snap,
            config=config(tiny_model_dir, max_steps=200, save_steps=3),
        )  # fmt: skip
        out = Path(run.output_dir)

        def checkpointed():
            row = TrainingRun.objects.filter(pk=run.pk).values("state", "step").first()
            assert row["state"] in (RunState.QUEUED, RunState.RUNNING), (row, log.read_text())
            return row["step"] >= 4 and any(out.glob("checkpoint-*"))

        wait_for(checkpointed, 240, "a checkpoint", log)
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(10)
        run.refresh_from_db()
        assert run.state == RunState.RUNNING and run.worker_hostname == node
        killed_at = run.step
        assert killed_at < 200

        # The worker comes back under its name: what it was running died with it.
        second = WorkerProcess(node, log, tmp_path)
        wait_for(
            lambda: TrainingRun.objects.get(pk=run.pk).state == RunState.INTERRUPTED, 120, "interrupted", log
        )
        # the checkpoint resume must use: the newest one written to the end (the kill may have
        # landed while a later checkpoint-N directory was being written)
        complete = last_complete_checkpoint(out)
        assert complete is not None
        last_checkpoint = int(Path(complete).name.split("-")[1])
        assert 0 < last_checkpoint <= killed_at
        before = RunMetric.objects.filter(run=run).order_by("-id").values_list("id", flat=True).first()

        runs.resume_run(run=TrainingRun.objects.get(pk=run.pk), actor=users["lead"])
        run = wait_for(lambda: finished(run.pk), 300, "the resumed run", log)
        assert run.state == RunState.COMPLETED, run.error
        resumed = RunMetric.objects.filter(run=run, name="loss", id__gt=before).order_by("id")
        assert resumed.first().step == last_checkpoint + 1  # continued, not restarted
        assert resumed.last().step == 200
        assert run.attempt == 2
        assert AuditEvent.objects.filter(verb="run.interrupted", object_id=str(run.pk)).exists()
        assert ModelVersion.objects.filter(run=run).exists()
    finally:
        first.stop()
        if second is not None:
            second.stop()
