"""`python -m training.pipeline` (what `accelerate launch -m training.pipeline` runs on GPU hosts)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(tmp_path, config, rows):
    (tmp_path / "run.json").write_text(json.dumps(config))
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return subprocess.run(
        [sys.executable, "-m", "training.pipeline", "--config", "run.json", "--train", "train.jsonl"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_sft_from_snapshot_rows_prints_progress_and_saves_an_adapter(tmp_path, tiny_model_dir):
    rows = [
        {"messages": [{"role": "user", "content": f"Say {w}."}], "response": f"{w} {w}."}
        for w in ("one", "two", "three", "four")
    ]
    config = {
        "method": "sft", "base_model": tiny_model_dir, "output_dir": str(tmp_path / "out"), "max_steps": 2,
        "per_device_train_batch_size": 2, "logging_steps": 1, "max_length": 64, "lora_r": 4, "lora_alpha": 8,
    }  # fmt: skip
    done = run_cli(tmp_path, config, rows)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [e["step"] for e in events if e["event"] == "log"][:2] == [1, 2]
    result = events[-1]
    assert result["status"] == "completed"
    assert (Path(result["adapter_dir"]) / "adapter_config.json").exists()


@pytest.mark.slow
def test_invalid_config_exits_2_with_field_messages(tmp_path, tiny_model_dir):
    config = {"method": "dpo", "base_model": tiny_model_dir, "output_dir": str(tmp_path), "beta": -1}
    row = {"messages": [{"role": "user", "content": "x"}], "chosen": "good", "rejected": "bad"}
    done = run_cli(tmp_path, config, [row])
    assert done.returncode == 2
    assert "beta" in json.loads(done.stderr.strip().splitlines()[-1])["errors"]


@pytest.mark.slow
def test_bad_rows_exit_2_naming_the_row(tmp_path, tiny_model_dir):
    config = {"method": "dpo", "base_model": tiny_model_dir, "output_dir": str(tmp_path)}
    done = run_cli(tmp_path, config, [{"messages": [{"role": "user", "content": "x"}], "response": "y"}])
    assert done.returncode == 2
    assert "row 1" in json.loads(done.stderr.strip().splitlines()[-1])["errors"]
