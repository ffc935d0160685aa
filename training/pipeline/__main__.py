"""Run one training job from files, without Django: the entry point for GPU hosts and `accelerate`.

    python -m training.pipeline --config run.json --train train.jsonl [--eval val.jsonl]
    accelerate launch --num_processes 4 -m training.pipeline --config run.json --train train.jsonl

(A GPU worker with TUNELOOP_GPUS > 1 runs the second form itself: training.pipeline.launch.)

`run.json` holds TrainConfig fields (method, base_model, output_dir, ...). Rows are JSONL in the
snapshot download format ({"messages", "response"} for SFT, {"messages", "chosen", "rejected"} for
DPO) or already in TRL's format. Progress is printed as one JSON object per line (by the main process
only under `accelerate launch`), the last one the result with every TrainResult field; the exit code is 0
when the run completed, 2 when the config or the data is invalid, 3 when it was cancelled.
"""

import argparse
import dataclasses
import json
import os
import sys

from .config import ConfigError, TrainConfig
from .data import jsonable, to_trl_dpo, to_trl_sft
from .run import run_training


def read_rows(path: str, method: str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    keys = {"messages", "chosen", "rejected"} if method == "dpo" else {"messages", "response"}
    if rows and all(isinstance(r, dict) and keys <= set(r) for r in rows):
        return to_trl_dpo(rows) if method == "dpo" else to_trl_sft(rows)
    return rows  # TRL's own format, or malformed: run_training validates and names the rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="JSON file of TrainConfig fields")
    parser.add_argument("--train", required=True, help="training rows, JSONL")
    parser.add_argument("--eval", help="validation rows, JSONL")
    parser.add_argument("--model-cache", help="where a bundled base model is converted")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as handle:
        settings = json.load(handle)
    try:
        cfg = TrainConfig.from_dict(settings)
        train = read_rows(args.train, cfg.method)
        evaluation = read_rows(args.eval, cfg.method) if args.eval else None
        result = run_training(
            cfg,
            train,
            evaluation,
            on_progress=lambda event: _say(
                {"event": event.kind, **_numbers(event), "metrics": event.metrics}
            ),
            model_cache=args.model_cache,
        )
    except ConfigError as exc:
        print(json.dumps({"error": "invalid", "errors": exc.errors}), file=sys.stderr)
        return 2
    _say({"event": "result", **jsonable(dataclasses.asdict(result))})
    return 0 if result.status == "completed" else 3


def _say(line: dict) -> None:
    """One JSON line on stdout, from the main process only (every rank runs this under accelerate)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(jsonable(line)), flush=True)


def _numbers(event) -> dict:
    return {k: v for k, v in vars(event).items() if isinstance(v, int | float | str) and k != "kind"}


if __name__ == "__main__":
    sys.exit(main())
