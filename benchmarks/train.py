"""DPO throughput: our pipeline vs plain TRL with its defaults, same job, same machine, one run.

    .venv/bin/python -m benchmarks.train [--model smollm2-135m-instruct] [--pairs 32] [--steps 6] [--batch 4]

Both sides train a LoRA adapter with DPO on the same synthetic preference pairs for the same number
of optimizer steps from the same base model (loaded through `llm`, so the bundled SmolLM2 works
offline). The baseline is what a TRL example gives without tuning: `DPOConfig` defaults (gradient
checkpointing on, bf16 autocast, lr 1e-6, ...; on a CPU-only machine `use_cpu=True`, without which
the bf16 default refuses to start) and `LoraConfig(target_modules="all-linear")`. Ours is
`training.pipeline.run_training` with its device plan (on CPU: fp32, no checkpointing, LoRA on q/v).

Each side runs in its own child process so peak memory is its own: CPU peak RSS from
`resource.getrusage` (ru_maxrss), CUDA `torch.cuda.max_memory_allocated`. Tokens are non-padding
input tokens (chosen + rejected) as counted by the trainer; time is the trainer's train_runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder would come first on sys.path and benchmarks/queue.py would shadow the
# standard library's queue (torch imports it).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

TOPICS = [
    ("boil an egg", "Put it in boiling water for eight minutes, then cool it in cold water."),
    ("sort a list in Python", "Use sorted(items) for a new list or items.sort() to sort in place."),
    ("explain photosynthesis", "Plants use light, water and carbon dioxide to make sugar and oxygen."),
    ("name the capital of Spain", "Madrid is the capital of Spain."),
    ("convert Celsius to Fahrenheit", "Multiply by 9/5 and add 32: 100 C is 212 F."),
    ("write a polite reminder", "Hi Sam, a gentle reminder that the report is due on Friday. Thanks!"),
    ("explain what a CPU cache is", "A small fast memory near the CPU that keeps recently used data."),
    ("summarise the water cycle", "Water evaporates, condenses into clouds and falls back as rain."),
]
REJECTED = ["I don't know.", "Figure it out yourself.", "That is not something I can talk about.", "Maybe."]


def synthetic_pairs(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        topic, good = TOPICS[i % len(TOPICS)]
        rows.append(
            {
                "prompt": [{"role": "user", "content": f"Please {topic}. (request {i})"}],
                "chosen": [{"role": "assistant", "content": good}],
                "rejected": [{"role": "assistant", "content": REJECTED[i % len(REJECTED)]}],
            }
        )
    return rows


def peak_memory_mib() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({os.cpu_count()} cores, torch threads {torch.get_num_threads()})"


def run_ours(args, rows, out: str) -> dict:
    from training.pipeline import TrainConfig, run_training

    cfg = TrainConfig(
        method="dpo",
        base_model=args.model,
        output_dir=out,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch,
        save_steps=args.steps + 1,  # no mid-run checkpoint; the final adapter is still written
        logging_steps=1,
    )
    result = run_training(cfg, rows)
    return {
        "train_runtime": result.train_runtime,
        "tokens": result.tokens_seen,
        "steps": result.global_step,
        "settings": {k: result.device[k] for k in ("bf16", "gradient_checkpointing", "use_liger_kernel")}
        | {"lora_target_modules": cfg.lora_target_modules, "loss": result.metrics.get("loss")},
    }


def run_trl_defaults(args, rows, out: str) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    from llm import load_model

    model, tokenizer = load_model(args.model, dtype=torch.float32)
    config = DPOConfig(
        output_dir=out,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch,
        report_to="none",
        save_strategy="no",
        include_num_input_tokens_seen="non_padding",  # measurement only
        disable_tqdm=True,
        # the defaults' bf16=True refuses to start on a CPU-only machine unless use_cpu is set
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = DPOTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=LoraConfig(target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    output = trainer.train()
    loss = next((h["loss"] for h in reversed(trainer.state.log_history) if "loss" in h), None)
    return {
        "train_runtime": output.metrics["train_runtime"],
        "tokens": trainer.state.num_input_tokens_seen,
        "steps": trainer.state.global_step,
        "settings": {
            "bf16": config.bf16,
            "gradient_checkpointing": config.gradient_checkpointing,
            "lora_target_modules": "all-linear",
            "loss": loss if loss is not None else output.metrics.get("train_loss"),
        },
    }


def child(args) -> None:
    rows = synthetic_pairs(args.pairs)
    with tempfile.TemporaryDirectory(prefix=f"bench-train-{args.only}-") as out:
        started = time.monotonic()
        stats = (run_ours if args.only == "ours" else run_trl_defaults)(args, rows, out)
        stats["wall"] = time.monotonic() - started
    stats["peak_mib"] = peak_memory_mib()
    stats["device"] = device_name()
    print("RESULT " + json.dumps(stats, default=str), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--only", choices=["ours", "trl"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        child(args)
        return

    from llm import resolve_model

    args.model = resolve_model(args.model)  # convert the bundled GGUF once, before timing anything
    results = {}
    for side in ("ours", "trl"):
        cmd = [sys.executable, "-m", "benchmarks.train", "--only", side, "--model", args.model]
        cmd += ["--pairs", str(args.pairs), "--steps", str(args.steps), "--batch", str(args.batch)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            sys.exit(f"{side} failed:\n{proc.stderr[-4000:]}")
        results[side] = json.loads(line[len("RESULT ") :])

    print(f"device: {results['ours']['device']}")
    print(f"model: {args.model}  pairs: {args.pairs}  steps: {args.steps}  batch: {args.batch}  (DPO, LoRA)")
    header = f"{'':34} {'s/step':>8} {'tokens/s':>9} {'peak MiB':>9} {'tokens':>7}  settings"
    print(header)
    names = {"ours": "training.pipeline", "trl": "TRL defaults (baseline)"}
    for side in ("ours", "trl"):
        r = results[side]
        print(
            f"{names[side]:34} {r['train_runtime'] / r['steps']:8.2f} {r['tokens'] / r['train_runtime']:9.1f}"
            f" {r['peak_mib']:9.0f} {r['tokens']:7d}  {r['settings']}"
        )
    ours, base = results["ours"], results["trl"]
    speedup = (ours["tokens"] / ours["train_runtime"]) / (base["tokens"] / base["train_runtime"])
    print(f"throughput: {speedup:.2f}x the baseline; peak memory {ours['peak_mib'] / base['peak_mib']:.2f}x")


if __name__ == "__main__":
    main()
