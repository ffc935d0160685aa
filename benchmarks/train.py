"""Training throughput, like with like: plain TRL with its defaults, then one setting changed at a
time until plain TRL runs with our settings, then our pipeline with those same settings.

    .venv/bin/python -m benchmarks.train [--method dpo|sft] [--model smollm2-135m-instruct]
        [--rows 32] [--steps 6] [--batch 4] [--max-length 512] [--json results.json]

Every rung trains a LoRA adapter on the same rows (synthetic: a helpful answer of varying length vs
a curt one, so SFT packing has something to pack) for the same number of optimizer steps, from the
same base model (loaded through `llm`, so the bundled SmolLM2 works offline and `--model` takes any
Hugging Face id or local path), in its own child process (peak memory is its own).

The ladder (each rung changes exactly one setting from the rung above; `ladder()` builds it):

  CPU, DPO or SFT: TRL defaults -> gradient checkpointing off -> bf16 autocast off -> LoRA on
  q_proj/v_proj instead of all-linear (= plain TRL with our settings) -> training.pipeline.
  CUDA, adds: -> Liger kernels (when installed) and, for SFT, -> packing; bf16 stays on (the
  pipeline's CUDA plan uses it too).

Constants of the harness, the same on every rung and not part of the comparison: the rows, steps,
batch, seed 42 (set before the adapter is initialised), LoRA r 16 / alpha 32 / dropout 0.05 (TRL's
`ModelConfig` defaults and ours), `max_length` (TRL's default differs between SFT and DPO; fixed so that packing
packs to the same length), the learning rate (TRL's default for the config class, passed to the
pipeline too, so that the last two rungs must reach the same loss: a check that the comparison is
like with like), no checkpoints saved, logging every step. The last plain-TRL rung and the
pipeline must show the same settings column; their ratio is the pipeline's own overhead or gain.

Figures: tokens/s = non-padding input tokens counted by the trainer over its `train_runtime` (model
loading and dataset preparation are outside); peak memory is `ru_maxrss` of the child on CPU,
`torch.cuda.max_memory_allocated` on CUDA.
"""

from __future__ import annotations

import argparse
import dataclasses
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
OUR_TARGETS = ["q_proj", "v_proj"]
# LoRA rank, alpha and dropout: TRL's ModelConfig defaults, which are also the pipeline's (a harness constant)
LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05}


def synthetic_rows(n: int, method: str) -> list[dict]:
    """Conversational rows; the good answer repeats 1-6 times so row lengths vary (packing matters)."""
    rows = []
    for i in range(n):
        topic, good = TOPICS[i % len(TOPICS)]
        prompt = [{"role": "user", "content": f"Please {topic}. (request {i})"}]
        chosen = [{"role": "assistant", "content": " ".join([good] * (1 + i % 6))}]
        if method == "sft":
            rows.append({"messages": prompt + chosen})
        else:
            rows.append(
                {
                    "prompt": prompt,
                    "chosen": chosen,
                    "rejected": [{"role": "assistant", "content": REJECTED[i % 4]}],
                }
            )
    return rows


@dataclasses.dataclass
class Rung:
    name: str
    side: str  # "trl" or "pipeline"
    settings: dict  # only the settings this ladder varies; None = the config class's default


def ladder(method: str, cuda: bool, liger: bool) -> list[Rung]:
    """TRL defaults first, then one change per rung; the pipeline last with the final settings."""
    rungs = [Rung("TRL defaults", "trl", {})]

    def step(name: str, **change) -> None:
        rungs.append(Rung(name, "trl", rungs[-1].settings | change))

    step("+ gradient checkpointing off", gradient_checkpointing=False)
    if not cuda:
        step("+ bf16 autocast off", bf16=False)
    step("+ LoRA q_proj/v_proj", lora=OUR_TARGETS)
    if cuda and method == "sft":
        step("+ packing", packing=True)
    if cuda and liger:
        step("+ Liger kernels", use_liger_kernel=True)
    rungs.append(Rung("training.pipeline (same settings)", "pipeline", dict(rungs[-1].settings)))
    return rungs


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


def _config_class(method: str):
    from trl import DPOConfig, SFTConfig

    return SFTConfig if method == "sft" else DPOConfig


def trl_default_lr(method: str) -> float:
    return _config_class(method).__dataclass_fields__["learning_rate"].default


def _gc_field(config_cls) -> str:
    # transformers 5.x renamed gradient_checkpointing to activation_checkpointing (the old name warns)
    return (
        "activation_checkpointing"
        if "activation_checkpointing" in config_cls.__dataclass_fields__
        else ("gradient_checkpointing")
    )


def run_trl(args, rows, out: str, settings: dict) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import set_seed

    from llm import load_model
    from training.pipeline.data import trainer_rows

    config_cls = _config_class(args.method)
    cuda = torch.cuda.is_available()
    kwargs = dict(
        output_dir=out,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch,
        max_length=args.max_length,
        seed=42,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        include_num_input_tokens_seen="non_padding",  # measurement only
        disable_tqdm=True,
        # the defaults' bf16=True refuses to start on a CPU-only machine unless use_cpu is set
        use_cpu=not cuda,
    )
    gc_name = _gc_field(config_cls)
    if settings.get("gradient_checkpointing") is not None:
        kwargs[gc_name] = settings["gradient_checkpointing"]
    for name in ("bf16", "packing", "use_liger_kernel"):
        if settings.get(name) is not None:
            kwargs[name] = settings[name]
    config = config_cls(**kwargs)
    set_seed(42)  # as the pipeline does, before the adapter's random initialisation
    dtype = torch.bfloat16 if cuda and config.bf16 else torch.float32
    model, tokenizer = load_model(args.model, device="cuda" if cuda else "cpu", dtype=dtype)
    trainer_cls = _trainer_class(args.method)
    trainer = trainer_cls(
        model=model,
        args=config,
        # the columns the pipeline hands TRL (SFT: prompt/completion, the loss on the answer only)
        train_dataset=Dataset.from_list(trainer_rows(args.method, rows)),
        processing_class=tokenizer,
        peft_config=LoraConfig(
            target_modules=settings.get("lora", "all-linear"), task_type="CAUSAL_LM", **LORA
        ),
    )
    output = trainer.train()
    return _stats(
        trainer,
        output,
        {
            "gradient_checkpointing": bool(getattr(config, gc_name)),
            "bf16": bool(config.bf16),
            "lora": settings.get("lora", "all-linear"),
            "packing": bool(getattr(config, "packing", False)),
            "use_liger_kernel": bool(config.use_liger_kernel),
            "learning_rate": config.learning_rate,
        },
    )


def _trainer_class(method: str):
    from trl import DPOTrainer, SFTTrainer

    return SFTTrainer if method == "sft" else DPOTrainer


def _stats(trainer, output, settings: dict) -> dict:
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "train_runtime": output.metrics["train_runtime"],
        "tokens": int(trainer.state.num_input_tokens_seen or 0),
        "steps": trainer.state.global_step,
        "loss": losses[-1] if losses else output.metrics.get("train_loss"),
        "settings": settings,
    }


def run_pipeline(args, rows, out: str, settings: dict) -> dict:
    from training.pipeline import TrainConfig, run_training

    cfg = TrainConfig(
        method=args.method,
        base_model=args.model,
        output_dir=out,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch,
        max_length=args.max_length,
        learning_rate=trl_default_lr(args.method),  # a harness constant (see the module docstring)
        lora_target_modules=settings.get("lora", "all-linear"),
        lora_r=LORA["r"],
        lora_alpha=LORA["lora_alpha"],
        lora_dropout=LORA["lora_dropout"],
        gradient_checkpointing=settings.get("gradient_checkpointing"),
        bf16=settings.get("bf16"),
        packing=settings.get("packing") if args.method == "sft" else None,
        save_steps=args.steps + 1,  # no mid-run checkpoint; the final adapter is still written
        logging_steps=1,
    )
    result = run_training(cfg, rows)
    losses = [h["loss"] for h in result.history if "loss" in h]
    device = result.device
    return {
        "train_runtime": result.train_runtime,
        "tokens": result.tokens_seen,
        "steps": result.global_step,
        "loss": losses[-1] if losses else None,
        "settings": {
            "gradient_checkpointing": device["gradient_checkpointing"],
            "bf16": device["bf16"],
            "lora": cfg.lora_target_modules,
            "packing": device["packing"],
            "use_liger_kernel": device["use_liger_kernel"],
            "learning_rate": cfg.learning_rate,
        },
    }


def child(args) -> None:
    settings = json.loads(args.settings)
    rows = synthetic_rows(args.rows, args.method)
    with tempfile.TemporaryDirectory(prefix=f"bench-train-{args.only}-") as out:
        started = time.monotonic()
        stats = (run_pipeline if args.only == "pipeline" else run_trl)(args, rows, out, settings)
        stats["wall"] = time.monotonic() - started
    stats["peak_mib"] = peak_memory_mib()
    stats["device"] = device_name()
    print("RESULT " + json.dumps(stats, default=str), flush=True)


def _short(settings: dict) -> str:
    lora = settings["lora"]
    lora = "/".join(lora) if isinstance(lora, list) else lora
    flags = [
        f"gc {'on' if settings['gradient_checkpointing'] else 'off'}",
        f"bf16 {'on' if settings['bf16'] else 'off'}",
        f"LoRA {lora}",
    ]
    if settings.get("packing"):
        flags.append("packing")
    if settings.get("use_liger_kernel"):
        flags.append("liger")
    return ", ".join(flags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=["dpo", "sft"], default="dpo")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--only", choices=["pipeline", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--settings", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        child(args)
        return

    import importlib.util

    import torch

    from llm import resolve_model

    args.model = resolve_model(args.model)  # convert the bundled GGUF once, before timing anything
    cuda = torch.cuda.is_available()
    rungs = ladder(args.method, cuda, liger=importlib.util.find_spec("liger_kernel") is not None)
    results = []
    for rung in rungs:
        cmd = [sys.executable, "-m", "benchmarks.train", "--only", rung.side, "--method", args.method]
        cmd += ["--model", args.model, "--rows", str(args.rows), "--steps", str(args.steps)]
        cmd += ["--batch", str(args.batch), "--max-length", str(args.max_length)]
        cmd += ["--settings", json.dumps(rung.settings)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            sys.exit(f"{rung.name} failed:\n{proc.stderr[-4000:]}")
        results.append({"rung": rung.name} | json.loads(line[len("RESULT ") :]))
        print(f"  done: {rung.name} ({results[-1]['wall']:.0f} s)", file=sys.stderr, flush=True)
    report(args, results)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"args": vars(args), "results": results}, indent=2, default=str)
        )


def report(args, results: list[dict]) -> None:
    print(f"device: {results[0]['device']}")
    print(
        f"model: {args.model}  method: {args.method}  rows: {args.rows}  steps: {args.steps}  "
        f"batch: {args.batch}  max_length: {args.max_length}  lr: {results[0]['settings']['learning_rate']}"
    )
    print(
        f"{'rung':36} {'s/step':>7} {'tokens/s':>9} {'vs prev':>7} {'vs TRL':>7} {'peak MiB':>9} {'loss':>8}  settings"
    )
    base = prev = None
    for r in results:
        tps = r["tokens"] / r["train_runtime"]
        base = base or tps
        vs_prev = f"{tps / prev:6.2f}x" if prev else "      -"
        print(
            f"{r['rung']:36} {r['train_runtime'] / r['steps']:7.2f} {tps:9.1f} {vs_prev:>7} {tps / base:6.2f}x"
            f" {r['peak_mib']:9.0f} {r['loss'] if r['loss'] is not None else float('nan'):8.5f}  {_short(r['settings'])}"
        )
        prev = tps
    plain, ours = results[-2], results[-1]
    same = plain["settings"] == ours["settings"]
    print(
        f"pipeline vs plain TRL with the same settings: {ours['tokens'] / ours['train_runtime'] / (plain['tokens'] / plain['train_runtime']):.2f}x"
        f" (settings {'identical' if same else 'DIFFER: ' + str(plain['settings']) + ' vs ' + str(ours['settings'])};"
        f" final losses {plain['loss']:.5f} vs {ours['loss']:.5f})"
    )


if __name__ == "__main__":
    main()
