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
    quality_report,
    redact_pii,
    split_by_prompt,
    to_trl_dpo,
    to_trl_sft,
    validate_rows,
)
from .events import ProgressEvent
from .run import TrainResult, run_training

__all__ = [
    "ConfigError",
    "ProgressEvent",
    "TrainConfig",
    "TrainResult",
    "content_hash",
    "detect_pii",
    "quality_report",
    "redact_pii",
    "run_training",
    "split_by_prompt",
    "to_trl_dpo",
    "to_trl_sft",
    "validate_config",
    "validate_rows",
]
