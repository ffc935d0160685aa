"""Progress reports and cooperative cancellation, as a `transformers.TrainerCallback`.

The callback turns the trainer's logs into `ProgressEvent`s for `on_progress`, and asks `should_stop()`
after every optimizer step: when it returns True the trainer saves a checkpoint and stops.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from transformers import TrainerCallback

from .events import REWARD_KEYS, ProgressEvent


def _numeric(logs: dict) -> dict[str, float]:
    out = {}
    for key, value in (logs or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    return out


class ProgressCallback(TrainerCallback):
    """Reports through `on_progress` and stops when `should_stop()` says so (saving a checkpoint)."""

    def __init__(
        self,
        on_progress: Callable[[ProgressEvent], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.cancelled = False
        self.started = time.monotonic()
        self.start_step = 0
        self._last_tokens: tuple[float, int] | None = None

    # -- helpers
    def _emit(self, kind: str, state, metrics: dict[str, float]) -> None:
        if self.on_progress is None:
            return
        elapsed = time.monotonic() - self.started
        done = state.global_step - self.start_step
        remaining = max(0, state.max_steps - state.global_step)
        eta = elapsed / done * remaining if done > 0 else None
        if kind == "end":
            eta = 0.0
        event = ProgressEvent(
            kind=kind,
            step=state.global_step,
            max_steps=state.max_steps,
            epoch=state.epoch,
            loss=metrics.get("loss", metrics.get("eval_loss")),
            learning_rate=metrics.get("learning_rate"),
            grad_norm=metrics.get("grad_norm"),
            tokens_per_second=metrics.get("tokens_per_second"),
            eta_seconds=eta,
            elapsed=elapsed,
            metrics=metrics,
        )
        prefix = "eval_" if kind == "eval" else ""
        for key, attr in REWARD_KEYS.items():
            setattr(event, attr, metrics.get(prefix + key))
        self.on_progress(event)

    # -- TrainerCallback hooks
    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()
        self.start_step = state.global_step
        self._last_tokens = (self.started, state.num_input_tokens_seen or 0)

    def on_step_end(self, args, state, control, **kwargs):
        if self.should_stop is not None and not self.cancelled and self.should_stop():
            self.cancelled = True
            control.should_training_stop = True
            control.should_save = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        metrics = _numeric(logs)
        # eval logs are reported by on_evaluate; the closing summary ("train_loss", ...) by on_train_end
        if any(k.startswith("eval_") for k in metrics) or "train_loss" in metrics:
            return
        now, seen = time.monotonic(), state.num_input_tokens_seen or 0
        if self._last_tokens is not None and now > self._last_tokens[0] and seen > self._last_tokens[1]:
            metrics["tokens_per_second"] = (seen - self._last_tokens[1]) / (now - self._last_tokens[0])
        self._last_tokens = (now, seen)
        self._emit("log", state, metrics)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self._emit("eval", state, _numeric(metrics))

    def on_save(self, args, state, control, **kwargs):
        self._emit("checkpoint", state, {})

    def finish(self, state, metrics: dict) -> None:
        """The "end" event, sent by run_training once the final eval and the save are done."""
        self._emit("end", state, _numeric(metrics))
