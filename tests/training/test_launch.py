"""Multi-GPU runs from a worker (training.pipeline.launch): the `accelerate launch` command it builds,
the progress and result it reads back from the launched pipeline, a cancel that ends the process group,
a failure that names the launcher's error output, the worker taking that path when TUNELOOP_GPUS > 1,
and (slow) the real `accelerate launch` of the pipeline on the tiny model."""

import json
import sys
import time
from pathlib import Path

import pytest

from tests.training.factories import sft_project_data, word_embedder
from training import runs, snapshots, tasks
from training.models import RunMetric, RunState
from training.pipeline import launch
from training.pipeline.run import rank_device

FAKE = """
import json, sys, time
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
config = json.load(open(args["--config"]))
rows = [json.loads(line) for line in open(args["--train"])]
print("some library's banner")
for step in (1, 2):
    print(json.dumps({"event": "log", "step": step, "max_steps": 2, "loss": 1.0 / step,
                      "metrics": {"loss": 1.0 / step, "grad_norm": 0.5}}), flush=True)
    if config.get("sleep"):
        time.sleep(config["sleep"])
out = __import__("pathlib").Path(config["output_dir"]) / "adapter"
out.mkdir(parents=True, exist_ok=True)
(out / "adapter_config.json").write_text("{}")
print(json.dumps({"event": "result", "status": "completed", "output_dir": config["output_dir"],
                  "adapter_dir": str(out), "metrics": {"loss": 0.5, "rows": len(rows)}, "history": [],
                  "global_step": 2, "versions": {"torch": "x"}, "config": config, "adapter_sha256": "f" * 64,
                  "device": {"device": "cuda", "processes": 2}}), flush=True)
"""


@pytest.fixture
def fake(tmp_path):
    script = tmp_path / "fake_pipeline.py"
    script.write_text(FAKE)
    return lambda *extra: [sys.executable, str(script), *extra]


def test_the_command_launches_the_pipeline_on_n_gpus(tmp_path):
    cmd = launch.accelerate_command(
        gpus=4, config=tmp_path / "run.json", train=tmp_path / "t.jsonl", eval_rows=tmp_path / "v.jsonl",
        model_cache="/cache",
    )  # fmt: skip
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "4" and "--multi_gpu" in cmd
    assert cmd[cmd.index("-m", 3) + 1] == "training.pipeline"
    assert cmd[cmd.index("--config") + 1] == str(tmp_path / "run.json")
    assert cmd[cmd.index("--eval") + 1] == str(tmp_path / "v.jsonl")
    assert cmd[cmd.index("--model-cache") + 1] == "/cache"
    one = launch.accelerate_command(gpus=1, config=tmp_path / "r", train=tmp_path / "t")
    assert "--multi_gpu" not in one and "--eval" not in one


def test_progress_and_the_result_come_back_from_the_launched_run(tmp_path, fake):
    events = []
    work = tmp_path / "work"
    cmd = fake("--config", str(work / "run.json"), "--train", str(work / "train.jsonl"))
    result = launch.run_launched(
        {"output_dir": str(tmp_path / "out")}, [{"a": 1}, {"a": 2}], None, gpus=2, workdir=work,
        on_progress=events.append, command=cmd, poll_seconds=0.1,
    )  # fmt: skip
    assert [(e["kind"], e["step"], e["metrics"]["loss"]) for e in events] == [
        ("log", 1, 1.0),
        ("log", 2, 0.5),
    ]
    assert result["status"] == "completed" and result["metrics"]["rows"] == 2
    assert Path(result["adapter_dir"], "adapter_config.json").exists()
    assert not (work / "val.jsonl").exists()


def test_a_stop_ends_the_launched_processes(tmp_path, fake):
    work = tmp_path / "work"
    cmd = fake("--config", str(work / "run.json"), "--train", str(work / "train.jsonl"))
    events = []
    began = time.monotonic()
    result = launch.run_launched(
        {"output_dir": str(tmp_path / "out"), "sleep": 60}, [{"a": 1}], None, gpus=2, workdir=work,
        on_progress=events.append, should_stop=lambda: bool(events), command=cmd, poll_seconds=0.1,
    )  # fmt: skip
    assert result == {"status": "cancelled"} and time.monotonic() - began < 30
    assert not (tmp_path / "out" / "adapter").exists()


def test_a_launch_that_fails_names_its_error_output(tmp_path):
    cmd = [sys.executable, "-c", "import sys; print('boom: no GPU', file=sys.stderr); sys.exit(1)"]
    with pytest.raises(launch.LaunchFailed, match="boom: no GPU"):
        launch.run_launched({}, [{"a": 1}], None, gpus=2, workdir=tmp_path, command=cmd, poll_seconds=0.1)


@pytest.mark.django_db
def test_a_worker_with_several_gpus_trains_through_accelerate(
    project, users, settings, tmp_path, fake, monkeypatch, django_capture_on_commit_callbacks
):
    settings.DATA_DIR = tmp_path
    settings.TUNELOOP_GPUS = 2
    built, real = [], launch.accelerate_command

    def command(**kwargs):
        built.append(real(**kwargs))
        return fake("--config", str(kwargs["config"]), "--train", str(kwargs["train"]))

    monkeypatch.setattr(launch, "accelerate_command", command)
    sft_project_data(project, users, n=6)
    snapshot = snapshots.build_snapshot(
        project=project,
        actor=users["lead"],
        kind="sft",
        filters={"val_fraction": 0.2},
        embedder=word_embedder,
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = runs.start_run(project=project, actor=users["lead"], snapshot=snapshot, config={"max_steps": 2})
    assert tasks.run_training_task(run.pk, run.attempt) == RunState.COMPLETED
    run.refresh_from_db()
    assert built and built[0][built[0].index("--num_processes") + 1] == "2"
    assert sorted(RunMetric.objects.filter(run=run, name="loss").values_list("step", flat=True)) == [1, 2]
    version = run.model_version
    assert version.adapter_sha256 == "f" * 64 and version.device["processes"] == 2


def test_the_real_launcher_runs_the_pipeline(tmp_path, tiny_model_dir):
    """`accelerate launch` with one CPU process (no GPU here): the command, the pipeline's lines and the
    result, end to end."""
    rows = [
        {"messages": [{"role": "user", "content": f"Say {w}."}], "response": f"{w} {w}."}
        for w in ("one", "two", "three", "four")
    ]
    config = {
        "method": "sft", "base_model": tiny_model_dir, "output_dir": str(tmp_path / "out"), "max_steps": 2,
        "per_device_train_batch_size": 2, "logging_steps": 1, "max_length": 64, "lora_r": 4, "lora_alpha": 8,
    }  # fmt: skip
    events = []
    result = launch.run_launched(
        config, [{"messages": r["messages"] + [{"role": "assistant", "content": r["response"]}]} for r in rows],
        None, gpus=1, workdir=tmp_path / "work", on_progress=events.append,
    )  # fmt: skip
    assert result["status"] == "completed" and result["global_step"] == 2
    assert (Path(result["adapter_dir"]) / "adapter_config.json").exists()
    assert [e["step"] for e in events if e["kind"] == "log"][:2] == [1, 2]
    assert json.loads((tmp_path / "work" / "run.json").read_text())["max_steps"] == 2


def test_each_launched_process_loads_its_model_onto_its_own_gpu(monkeypatch):

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert rank_device("cuda") == "cuda" and rank_device("cpu") == "cpu"
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert rank_device("cuda") == "cuda:2" and rank_device("cpu") == "cpu"
