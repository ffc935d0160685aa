"""A multi-GPU run from a worker: the same pipeline under `accelerate launch`, one process per GPU.

The GPU worker (training.worker.execute) calls `run_launched` when TUNELOOP_GPUS > 1: it writes the
run's config and rows to files in `workdir`, starts

    python -m accelerate.commands.launch --multi_gpu --num_machines 1 --num_processes N \
        -m training.pipeline --config run.json --train train.jsonl [--eval val.jsonl] [--model-cache DIR]

(`accelerate_command`), turns the main process's JSON lines into progress events for `on_progress`
and returns the result line as a dict (what `registry.register_model_version` reads). A cancel
(`should_stop()` true) ends the whole process group: ranks of a distributed run cannot stop one by one
without the others waiting forever, so the run keeps its last checkpoint (save_steps) and resumes from
it. No Django: the caller passes the settings.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class LaunchFailed(RuntimeError):
    """The launched run exited without a result (its exit code and the end of its error output)."""


def accelerate_command(
    *, gpus: int, config: Path, train: Path, eval_rows: Path | None = None, model_cache: str | None = None
) -> list[str]:
    """The command line of a run over `gpus` GPUs of this machine (the first `gpus` visible ones)."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_machines", "1"]
    cmd += ["--num_processes", str(int(gpus))]
    if gpus > 1:
        cmd.append("--multi_gpu")
    cmd += ["-m", "training.pipeline", "--config", str(config), "--train", str(train)]
    if eval_rows is not None:
        cmd += ["--eval", str(eval_rows)]
    if model_cache:
        cmd += ["--model-cache", str(model_cache)]
    return cmd


def _write_jsonl(path: Path, rows) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _read_lines(stream, lines: queue.Queue):
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_launched(
    config: dict,
    train_rows: list[dict],
    eval_rows: list[dict] | None,
    *,
    gpus: int,
    workdir: Path,
    on_progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    model_cache: str | None = None,
    poll_seconds: float = 1.0,
    command: list[str] | None = None,
) -> dict:
    """Run under `accelerate launch`; the result dict ({"status": "completed", "adapter_dir", ...}) or
    {"status": "cancelled"} after a stop. Raises LaunchFailed when it exits without a result.
    `command` replaces the launcher (tests)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "run.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    train_path = _write_jsonl(workdir / "train.jsonl", train_rows)
    eval_path = _write_jsonl(workdir / "val.jsonl", eval_rows) if eval_rows else None
    cmd = command or accelerate_command(
        gpus=gpus, config=config_path, train=train_path, eval_rows=eval_path, model_cache=model_cache
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    errors_path = workdir / "stderr.log"
    with errors_path.open("wb") as errors:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors, text=True, start_new_session=True
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
        result = None
        while True:
            if should_stop is not None and should_stop():
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                return {"status": "cancelled"}
            try:
                line = lines.get(timeout=poll_seconds)
            except queue.Empty:
                continue
            if line is None:
                break
            event = _event(line)
            if event is None:
                continue
            if event.get("event") == "result":
                result = {k: v for k, v in event.items() if k != "event"}
            elif on_progress is not None:
                on_progress(event)
        code = proc.wait()
    if code != 0 or result is None:
        tail = errors_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise LaunchFailed(f"accelerate launch exited with {code} and no result:\n{tail}")
    return result


def _event(line: str) -> dict | None:
    """A progress line of `python -m training.pipeline` as ProgressEvent's fields (`kind`, `step`,
    ..., `metrics`), or the result line; None for anything else a library printed."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or "event" not in data:
        return None
    if data["event"] == "result":
        return data
    return {**{k: v for k, v in data.items() if k != "event"}, "kind": data["event"]}
