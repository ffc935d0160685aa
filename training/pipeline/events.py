"""`ProgressEvent`: what `run_training` reports while it runs (plain data, no torch import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

REWARD_KEYS = {
    "rewards/chosen": "rewards_chosen",
    "rewards/rejected": "rewards_rejected",
    "rewards/accuracies": "rewards_accuracies",
    "rewards/margins": "rewards_margins",
}


@dataclass
class ProgressEvent:
    """One report. `kind`: "log" (every logging_steps), "eval", "checkpoint" (a checkpoint was written)
    or "end" (after the final eval and the save). `metrics` holds every numeric value the trainer logged, under TRL's names
    ("loss", "rewards/margins", "eval_loss", ...); the named fields copy the common ones.

    DPO: rewards_accuracies is TRL's share of pairs whose chosen reward is strictly above the rejected
    one, so ties count as misses: at step 0 (policy == reference, every margin 0) it reads 0, not 0.5.
    """

    kind: str
    step: int
    max_steps: int
    epoch: float | None = None
    loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    rewards_chosen: float | None = None
    rewards_rejected: float | None = None
    rewards_accuracies: float | None = None
    rewards_margins: float | None = None
    tokens_per_second: float | None = None
    eta_seconds: float | None = None
    elapsed: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)
