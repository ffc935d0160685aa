"""`run_training`: one SFT or DPO run, read like a TRL example script.

    cfg = validate_config(cfg)                 # 1. config
    plan = plan_device(cfg)                    # 2. precision and throughput options for this machine
    model, tokenizer, peft_config, ref = load(cfg, plan)   # 3. base model (+ adapter)
    trainer = build_trainer(...)               # 4. TRL SFTTrainer / DPOTrainer, configured, with our callback
    trainer.train(resume_from_checkpoint=...)  # 5. train (checkpoints every save_steps)
    save + hash                                # 6. the adapter (or full model) and a TrainResult

TRL's trainers are configured, never subclassed; progress and cancellation go through
`progress.ProgressCallback`. The base model loads through `llm` (offline, the bundled model included).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from llm import load_model, load_tokenizer, resolve_model

from .config import ConfigError, TrainConfig, validate_config
from .data import trainer_rows, validate_rows
from .events import ProgressEvent

WEIGHT_SUFFIXES = (".safetensors", ".bin")
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass
class TrainResult:
    """What a run produced. `adapter_dir` holds the LoRA adapter (adapter_model.safetensors) or, for
    adapter="full", the whole model; both include the tokenizer. `adapter_sha256` hashes its weight
    files (names and bytes). `history` is the trainer's log history (resumed runs include the earlier
    part); `metrics` the last values of every series plus the train summary and any final eval."""

    status: str  # "completed" | "cancelled"
    output_dir: str
    adapter_dir: str
    metrics: dict[str, float]
    history: list[dict]
    train_runtime: float
    tokens_seen: int
    global_step: int
    versions: dict[str, str]
    config: dict[str, Any]
    adapter_sha256: str
    device: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class DevicePlan:
    """Precision and throughput choices for the machine at hand (recorded in TrainResult.device)."""

    device: str
    device_name: str
    bf16: bool
    fp16: bool
    gradient_checkpointing: bool
    packing: bool
    use_liger_kernel: bool
    dataloader_num_workers: int
    reasons: list[str] = field(default_factory=list)


def library_versions() -> dict[str, str]:
    """Python and the libraries a run depends on; the optional GPU ones only when installed."""

    required = ("torch", "transformers", "trl", "peft", "accelerate", "datasets")
    out = {"python": platform.python_version()}
    for name in (*required, "bitsandbytes", "liger-kernel"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            if name in required:  # pragma: no cover - a declared dependency
                out[name] = ""
    return out


def estimate_training_bytes(cfg: TrainConfig, *, n_params: int, hidden: int, layers: int, bf16: bool) -> int:
    """Rough peak memory without gradient checkpointing: weights, full-tuning grads + AdamW states, and
    activations at ~34 bytes per token per hidden unit per layer (Korthikanti et al. 2022, SDPA, half
    precision; doubled in fp32). DPO runs chosen and rejected together, so twice the tokens."""
    weight_bytes = 0.5 if cfg.adapter == "qlora" else (2 if bf16 else 4)
    total = n_params * weight_bytes
    if cfg.adapter == "full":
        total += n_params * (weight_bytes + 8)
    tokens = cfg.per_device_train_batch_size * cfg.max_length * (2 if cfg.method == "dpo" else 1)
    total += tokens * hidden * layers * (34 if bf16 else 68)
    return int(total)


def rank_device(device: str) -> str:
    """Under a multi-GPU `accelerate launch` each process loads its model onto its own GPU
    (LOCAL_RANK), not every copy onto the first one."""
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device


def plan_device(cfg: TrainConfig, model_config=None, n_params: int | None = None) -> DevicePlan:
    """CUDA: bf16 when supported (else fp16), SFT packing, Liger kernels when installed, gradient
    checkpointing only when the estimate exceeds 70% of GPU memory. CPU: fp32, no checkpointing,
    no packing, dataloader workers 0. Explicit cfg values (not None) always win."""
    import torch  # deferred: heavy optional dependency (torch)

    reasons: list[str] = []
    if torch.cuda.is_available():
        bf16_ok = torch.cuda.is_bf16_supported()
        bf16 = bf16_ok if cfg.bf16 is None else bool(cfg.bf16)
        fp16 = not bf16 and cfg.bf16 is None and cfg.adapter != "full"
        gc = cfg.gradient_checkpointing
        if gc is None:
            gc = False
            if model_config is not None and n_params:
                need = estimate_training_bytes(
                    cfg,
                    n_params=n_params,
                    hidden=getattr(model_config, "hidden_size", 4096),
                    layers=getattr(model_config, "num_hidden_layers", 32),
                    bf16=bf16 or fp16,
                )
                total = torch.cuda.get_device_properties(0).total_memory
                gc = need > 0.7 * total
                reasons.append(
                    f"estimated {need / 2**30:.1f} GiB of {total / 2**30:.1f} GiB: "
                    f"gradient checkpointing {'on' if gc else 'off'}"
                )
        packing = cfg.method == "sft" if cfg.packing is None else bool(cfg.packing)
        liger = importlib.util.find_spec("liger_kernel") is not None
        return DevicePlan(
            device="cuda",
            device_name=torch.cuda.get_device_name(0),
            bf16=bf16,
            fp16=fp16,
            gradient_checkpointing=bool(gc),
            packing=packing and cfg.method == "sft",
            use_liger_kernel=liger,
            dataloader_num_workers=min(4, max(0, (os.cpu_count() or 1) // 2)),
            reasons=reasons,
        )
    return DevicePlan(
        device="cpu",
        device_name="cpu",
        bf16=bool(cfg.bf16),
        fp16=False,
        gradient_checkpointing=bool(cfg.gradient_checkpointing),
        packing=bool(cfg.packing) and cfg.method == "sft",
        use_liger_kernel=False,
        dataloader_num_workers=0,
        reasons=["no CUDA: fp32, no gradient checkpointing, no packing"],
    )


def _peft_config(cfg: TrainConfig):
    from peft import LoraConfig  # deferred: heavy optional dependency (peft)

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )


def load(cfg: TrainConfig, plan: DevicePlan, *, model_cache: str | os.PathLike | None = None):
    """Return (model, tokenizer, peft_config or None, ref_model or None). `model_cache` is where the
    bundled model is converted (llm's default when None).

    lora/qlora: a fresh adapter goes in as `peft_config` (TRL wraps the model; for DPO the disabled
    adapter is the reference), or `init_adapter` is loaded trainable (for DPO, TRL copies it as the
    frozen "ref" adapter, so the SFT model is the reference). full: DPO gets an explicit reference copy.
    """
    import torch  # deferred: heavy optional dependency (torch)

    dtype = torch.bfloat16 if plan.bf16 and plan.device == "cuda" else torch.float32
    if cfg.adapter == "qlora":
        from peft import prepare_model_for_kbit_training  # deferred: heavy optional dependency (peft)
        from transformers import (
            AutoModelForCausalLM,
            BitsAndBytesConfig,
        )  # deferred: heavy optional dependency (transformers)

        quant = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if plan.bf16 else torch.float16,
        )
        source = resolve_model(cfg.base_model, cache_dir=model_cache)
        tokenizer = load_tokenizer(source)
        model = AutoModelForCausalLM.from_pretrained(
            # each process of a multi-GPU `accelerate launch` puts its copy on its own GPU
            source,
            quantization_config=quant,
            dtype=dtype,
            device_map={"": int(os.environ.get("LOCAL_RANK", 0))},
        )
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=plan.gradient_checkpointing)
    else:
        model, tokenizer = load_model(
            cfg.base_model, device=rank_device(plan.device), dtype=dtype, cache_dir=model_cache
        )
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = (
            CHATML_TEMPLATE  # conversational rows need one; ChatML is the common default
        )
    model.config.use_cache = False

    peft_config = ref_model = None
    if cfg.init_adapter:
        from peft import PeftModel  # deferred: heavy optional dependency (peft)

        model = PeftModel.from_pretrained(model, cfg.init_adapter, is_trainable=True)
    elif cfg.adapter in ("lora", "qlora"):
        peft_config = _peft_config(cfg)
    elif cfg.method == "dpo":
        ref_model, _ = load_model(
            cfg.base_model, device=rank_device(plan.device), dtype=dtype, cache_dir=model_cache
        )
    return model, tokenizer, peft_config, ref_model


def training_args(cfg: TrainConfig, plan: DevicePlan, *, has_eval: bool):
    """The TRL config (SFTConfig / DPOConfig) for this run."""
    common = dict(
        output_dir=cfg.output_dir,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        max_length=cfg.max_length,
        seed=cfg.seed,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=cfg.eval_steps if has_eval else None,
        report_to="none",
        disable_tqdm=True,
        bf16=plan.bf16,
        fp16=plan.fp16,
        use_cpu=plan.device == "cpu",
        dataloader_num_workers=plan.dataloader_num_workers,
        dataloader_pin_memory=plan.device == "cuda",
        include_num_input_tokens_seen="non_padding",
        use_liger_kernel=plan.use_liger_kernel,
        push_to_hub=False,
    )
    from transformers import TrainingArguments  # deferred: heavy optional dependency (transformers)

    # transformers 5.x renamed gradient_checkpointing to activation_checkpointing (the old name warns)
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    gc_name = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    common[gc_name] = plan.gradient_checkpointing
    if cfg.method == "sft":
        from trl import SFTConfig  # deferred: heavy optional dependency (trl)

        return SFTConfig(**common, packing=plan.packing)
    from trl import DPOConfig  # deferred: heavy optional dependency (trl)

    return DPOConfig(
        **common,
        beta=cfg.beta,
        loss_type=[cfg.loss_type],
        label_smoothing=cfg.label_smoothing,
        precompute_ref_log_probs=False,
    )


def build_trainer(cfg, args, model, tokenizer, peft_config, ref_model, train_rows, eval_rows, callback):
    from datasets import Dataset  # deferred: heavy optional dependency (datasets)

    train_ds = Dataset.from_list(trainer_rows(cfg.method, train_rows))
    eval_ds = Dataset.from_list(trainer_rows(cfg.method, eval_rows)) if eval_rows else None
    kwargs = dict(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[callback],
    )
    if cfg.method == "sft":
        from trl import SFTTrainer  # deferred: heavy optional dependency (trl)

        return SFTTrainer(**kwargs)
    from trl import DPOTrainer  # deferred: heavy optional dependency (trl)

    return DPOTrainer(ref_model=ref_model, **kwargs)


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest checkpoint-N in `output_dir` that was written to the end: a worker killed while
    saving leaves a partial directory, which is skipped (trainer_state.json is written last)."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    steps = []
    for path in root.iterdir():
        name = path.name
        if path.is_dir() and name.startswith("checkpoint-") and name[len("checkpoint-") :].isdigit():
            weights = any(p.name.endswith(WEIGHT_SUFFIXES) for p in path.iterdir())
            if weights and (path / "trainer_state.json").is_file():
                steps.append((int(name[len("checkpoint-") :]), str(path)))
    return max(steps)[1] if steps else None


def resolve_resume(cfg: TrainConfig) -> str | None:
    """True -> the last complete checkpoint in output_dir, or None when there is none (a fresh start)."""
    if cfg.resume_from_checkpoint is True:
        return last_complete_checkpoint(cfg.output_dir)
    return cfg.resume_from_checkpoint or None


def weights_sha256(directory: str | os.PathLike) -> str:
    """sha256 over the weight files in `directory` (sorted by name; each name then its bytes)."""
    digest = hashlib.sha256()
    for path in sorted(Path(directory).iterdir()):
        if path.is_file() and path.name.endswith(WEIGHT_SUFFIXES):
            digest.update(path.name.encode() + b"\0")
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def save(cfg: TrainConfig, trainer, tokenizer) -> str:
    """Write the adapter (only the trained "default" one) or the full model, plus the tokenizer."""
    from peft import PeftModel  # deferred: heavy optional dependency (peft)

    target = Path(cfg.output_dir) / ("model" if cfg.adapter == "full" else "adapter")
    model = trainer.accelerator.unwrap_model(trainer.model)
    if isinstance(model, PeftModel):
        model.save_pretrained(str(target), selected_adapters=["default"])
    else:
        trainer.save_model(str(target))
    tokenizer.save_pretrained(str(target))
    return str(target)


def _final_metrics(history: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for entry in history:
        for key, value in entry.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = float(value)
    return out


def run_training(
    cfg: TrainConfig,
    train_rows: list[dict],
    eval_rows: list[dict] | None = None,
    *,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    model_cache: str | os.PathLike | None = None,
) -> TrainResult:
    """Validate, train, save. Raises ConfigError (before loading anything) for bad config or rows.
    `should_stop()` is polled after each optimizer step; True saves a checkpoint and returns
    status "cancelled" (the partial adapter is saved too; resume with resume_from_checkpoint=True).
    `model_cache`: where a bundled base model is converted (the app passes its one cache)."""
    cfg = validate_config(cfg)
    validate_rows(cfg.method, train_rows)
    if eval_rows:
        try:
            validate_rows(cfg.method, eval_rows)
        except ConfigError as exc:
            raise ConfigError({f"eval {key}": msgs for key, msgs in exc.errors.items()})

    from transformers import PrinterCallback, set_seed  # deferred: heavy optional dependency (transformers)

    from .progress import ProgressCallback  # deferred: heavy optional dependency (transformers)

    set_seed(cfg.seed)  # before the adapter is created: its initialisation is random
    plan = plan_device(cfg)
    model, tokenizer, peft_config, ref_model = load(cfg, plan, model_cache=model_cache)
    if plan.device == "cuda" and cfg.gradient_checkpointing is None:
        n_params = sum(p.numel() for p in model.parameters())
        plan = plan_device(cfg, model.config, n_params)
    args = training_args(cfg, plan, has_eval=bool(eval_rows))
    callback = ProgressCallback(on_progress, should_stop)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*use_liger_kernel.*", category=FutureWarning)
        trainer = build_trainer(
            cfg, args, model, tokenizer, peft_config, ref_model, train_rows, eval_rows, callback
        )
    trainer.remove_callback(PrinterCallback)  # logs reach callers through on_progress, not stdout
    started = time.monotonic()
    output = trainer.train(resume_from_checkpoint=resolve_resume(cfg))
    status = "cancelled" if callback.cancelled else "completed"
    metrics = _final_metrics(trainer.state.log_history)
    metrics.update({k: float(v) for k, v in output.metrics.items() if isinstance(v, int | float)})
    if eval_rows and status == "completed":
        metrics.update({k: float(v) for k, v in trainer.evaluate().items() if isinstance(v, int | float)})
    adapter_dir = save(cfg, trainer, tokenizer)
    callback.finish(trainer.state, metrics)
    return TrainResult(
        status=status,
        output_dir=cfg.output_dir,
        adapter_dir=adapter_dir,
        metrics=metrics,
        history=list(trainer.state.log_history),
        train_runtime=float(output.metrics.get("train_runtime", time.monotonic() - started)),
        tokens_seen=int(trainer.state.num_input_tokens_seen or 0),
        global_step=int(trainer.state.global_step),
        versions=library_versions(),
        config=cfg.to_dict(),
        adapter_sha256=weights_sha256(adapter_dir),
        device=dataclasses.asdict(plan),
    )
