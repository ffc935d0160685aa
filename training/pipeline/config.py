"""The run's config object and its validation: every field problem reported at once.

`TrainConfig` uses TRL's argument names (SFTConfig / DPOConfig / LoraConfig) so a config reads like a
TRL example script's. Fields left as None are resolved: `validate_config` fills the learning rate and
save interval; `run_training` picks bf16 and gradient checkpointing for the device it runs on.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any

METHODS = ("sft", "dpo")
ADAPTERS = ("lora", "qlora", "full")
# DPOConfig.loss_type values accepted by TRL 1.x.
DPO_LOSS_TYPES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sft",
    "sigmoid_norm",
)
# Learning rates when none is given: LoRA tolerates (and needs) larger steps than full fine-tuning.
DEFAULT_LEARNING_RATES = {
    ("sft", "lora"): 2e-4,
    ("sft", "qlora"): 2e-4,
    ("sft", "full"): 2e-5,
    ("dpo", "lora"): 5e-5,
    ("dpo", "qlora"): 5e-5,
    ("dpo", "full"): 1e-6,
}
DEFAULT_SAVE_STEPS = 50


class ConfigError(ValueError):
    """Invalid config or rows. `errors` maps a field (or "row N") to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = {key: list(msgs) for key, msgs in errors.items()}
        summary = "; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in list(self.errors.items())[:5])
        more = len(self.errors) - 5
        super().__init__(summary + (f" (and {more} more)" if more > 0 else ""))


@dataclass
class TrainConfig:
    """One SFT or DPO run. Names follow TRL/peft; `None` means "pick for me" (see module docstring)."""

    method: str = "sft"
    base_model: str = "smollm2-135m-instruct"
    output_dir: str = ""
    adapter: str = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | str = field(default_factory=lambda: ["q_proj", "v_proj"])
    learning_rate: float | None = None
    num_train_epochs: float = 1.0
    max_steps: int = -1
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_length: int = 512
    seed: int = 42
    # DPO only
    beta: float = 0.1
    loss_type: str = "sigmoid"
    label_smoothing: float = 0.0
    init_adapter: str | None = None  # a saved LoRA adapter dir to continue from (e.g. the SFT version's)
    logging_steps: int = 1
    save_steps: int | None = None
    save_total_limit: int = 2
    eval_steps: int | None = None  # default: save_steps (only used when eval rows are given)
    resume_from_checkpoint: bool | str | None = None
    gradient_checkpointing: bool | None = None
    bf16: bool | None = None
    packing: bool | None = None  # SFT only; None: on for CUDA, off on CPU

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. a stored run's config); unknown keys raise ConfigError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError({key: ["unknown setting"] for key in unknown})
        return cls(**data)


def cuda_available() -> bool:
    try:
        import torch  # deferred: heavy optional dependency (torch)
    except ImportError:  # pragma: no cover
        return False
    return torch.cuda.is_available()


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_config(cfg: TrainConfig, *, check_environment: bool = True) -> TrainConfig:
    """Return a normalised copy (lower-cased choices, defaults filled) or raise ConfigError listing
    every bad field at once.

    check_environment=False leaves out what depends on the machine that will train (a CUDA GPU and
    bitsandbytes for QLoRA): the web host that queues a run usually has no GPU; the worker checks
    them again, with check_environment=True, before it loads anything.
    """
    errors: dict[str, list[str]] = {}

    def err(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    method = str(cfg.method or "").strip().lower()
    adapter = str(cfg.adapter or "").strip().lower()
    loss_type = str(cfg.loss_type or "").strip().lower()
    if method not in METHODS:
        err("method", f"must be one of {', '.join(METHODS)}.")
    if adapter not in ADAPTERS:
        err("adapter", f"must be one of {', '.join(ADAPTERS)}.")
    if not str(cfg.base_model or "").strip():
        err("base_model", "is required.")
    if not str(cfg.output_dir or "").strip():
        err("output_dir", "is required.")

    if adapter == "qlora" and check_environment:
        if not cuda_available():
            err("adapter", "qlora needs a CUDA GPU (4-bit bitsandbytes kernels); use lora on CPU.")
        if importlib.util.find_spec("bitsandbytes") is None:
            err("adapter", "qlora needs the bitsandbytes package.")

    targets = cfg.lora_target_modules
    if isinstance(targets, str):
        targets = targets.strip()
        if targets != "all-linear":
            targets = [t.strip() for t in targets.split(",") if t.strip()]
    else:
        targets = [str(t).strip() for t in (targets or []) if str(t).strip()]
    if adapter in ("lora", "qlora") and cfg.init_adapter is None:
        if not _is_int(cfg.lora_r) or cfg.lora_r <= 0:
            err("lora_r", "must be a positive integer.")
        if not _is_number(cfg.lora_alpha) or cfg.lora_alpha <= 0:
            err("lora_alpha", "must be positive.")
        if not _is_number(cfg.lora_dropout) or not 0 <= cfg.lora_dropout < 1:
            err("lora_dropout", "must be in [0, 1).")
        if not targets:
            err("lora_target_modules", 'name at least one module (e.g. q_proj, v_proj) or "all-linear".')
        elif isinstance(targets, list) and "lm_head" in targets and method == "dpo":
            err(
                "lora_target_modules",
                "DPO cannot train an adapter on lm_head (TRL reads its weight directly).",
            )

    lr = cfg.learning_rate
    if lr is not None and (not _is_number(lr) or lr <= 0):
        err("learning_rate", "must be greater than 0.")
    if not _is_int(cfg.max_steps) or (cfg.max_steps != -1 and cfg.max_steps <= 0):
        err("max_steps", "must be -1 (use epochs) or a positive integer.")
    if not _is_number(cfg.num_train_epochs) or (cfg.num_train_epochs <= 0 and cfg.max_steps == -1):
        err("num_train_epochs", "must be greater than 0 when max_steps is -1.")
    for name in ("per_device_train_batch_size", "gradient_accumulation_steps", "logging_steps"):
        value = getattr(cfg, name)
        if not _is_int(value) or value < 1:
            err(name, "must be an integer of at least 1.")
    for name in ("save_steps", "eval_steps"):
        value = getattr(cfg, name)
        if value is not None and (not _is_int(value) or value < 1):
            err(name, "must be an integer of at least 1 (or empty for the default).")
    if not _is_int(cfg.save_total_limit) or cfg.save_total_limit < 1:
        err("save_total_limit", "must be an integer of at least 1.")
    if not _is_int(cfg.max_length) or cfg.max_length < 16:
        err("max_length", "must be an integer of at least 16.")
    if not _is_int(cfg.seed) or cfg.seed < 0:
        err("seed", "must be a non-negative integer.")

    if method == "dpo":
        if not _is_number(cfg.beta) or cfg.beta <= 0:
            err("beta", "must be greater than 0.")
        if loss_type not in DPO_LOSS_TYPES:
            err("loss_type", f"unknown DPO loss; choose one of {', '.join(DPO_LOSS_TYPES)}.")
        if not _is_number(cfg.label_smoothing) or not 0 <= cfg.label_smoothing < 0.5:
            err("label_smoothing", "must be in [0, 0.5).")
        elif loss_type == "exo_pair" and cfg.label_smoothing == 0:
            err("label_smoothing", "exo_pair needs label_smoothing > 0 (the EXO paper uses 1e-3).")

    if cfg.init_adapter is not None:
        if adapter == "full":
            err("init_adapter", "continuing from an adapter needs adapter lora or qlora, not full.")
        elif not os.path.isfile(os.path.join(str(cfg.init_adapter), "adapter_config.json")):
            err("init_adapter", "is not a saved adapter directory (no adapter_config.json).")

    resume = cfg.resume_from_checkpoint
    if not (resume is None or isinstance(resume, bool) or isinstance(resume, str | os.PathLike)):
        err("resume_from_checkpoint", "must be empty, true, or a checkpoint directory.")
    elif isinstance(resume, str | os.PathLike) and not os.path.isdir(resume):
        err("resume_from_checkpoint", "checkpoint directory does not exist.")
    for name in ("gradient_checkpointing", "bf16", "packing"):
        if getattr(cfg, name) not in (None, True, False):
            err(name, "must be true, false or empty (auto).")
    if cfg.packing and method == "dpo":
        err("packing", "packing applies to SFT only.")

    if errors:
        raise ConfigError(errors)

    resolved = dataclasses.replace(
        cfg,
        method=method,
        adapter=adapter,
        loss_type=loss_type,
        lora_target_modules=targets,
        learning_rate=float(lr) if lr is not None else DEFAULT_LEARNING_RATES[(method, adapter)],
        save_steps=cfg.save_steps or DEFAULT_SAVE_STEPS,
        output_dir=str(cfg.output_dir),
        init_adapter=str(cfg.init_adapter) if cfg.init_adapter is not None else None,
        resume_from_checkpoint=str(resume) if isinstance(resume, os.PathLike) else resume,
    )
    resolved.eval_steps = cfg.eval_steps or resolved.save_steps
    return resolved
