"""SFT and DPO runs with TRL as a config object plus a few explicit steps. No Django, no Celery: this
package runs the same on a web host's worker and on a GPU node.

    from training.pipeline import TrainConfig, run_training
    result = run_training(TrainConfig(method="dpo", output_dir="runs/7"), rows, on_progress=print)

Importing it is cheap; torch, transformers and TRL load when a run starts.
"""

from .config import ConfigError, TrainConfig, validate_config
from .data import (
    content_hash,
    detect_pii,
    jsonable,
    prompt_key,
    quality_report,
    redact_pii,
    split_by_prompt,
    to_trainer_rows,
    to_trl_dpo,
    to_trl_sft,
    validate_rows,
)
from .dedupe import near_duplicates
from .events import ProgressEvent
from .run import TrainResult, last_complete_checkpoint, run_training, weights_sha256

__all__ = [
    "ConfigError",
    "ProgressEvent",
    "TrainConfig",
    "TrainResult",
    "last_complete_checkpoint",
    "weights_sha256",
    "content_hash",
    "detect_pii",
    "jsonable",
    "near_duplicates",
    "prompt_key",
    "quality_report",
    "redact_pii",
    "run_training",
    "split_by_prompt",
    "to_trainer_rows",
    "to_trl_dpo",
    "to_trl_sft",
    "validate_config",
    "validate_rows",
]
