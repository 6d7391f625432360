"""A transformers `TrainerCallback` that judges the run while it trains and stops it.

    from hnet_diag.live.hf import HnetDiagCallback
    trainer = Trainer(..., callbacks=[HnetDiagCallback(stop_on="critical")])

Every `on_log` feeds the logged metrics (`loss`, `grad_norm`, `learning_rate` ...) to a
`Monitor`, with the TrainingArguments as the run's settings (LR, warmup, max steps,
clipping, schedule). A new finding is logged (logger `hnet_diag`, warning level); one at or
above `stop_on` sets `control.should_training_stop`, logs why at error level, and keeps it
in `callback.stop_reason` and in `state.log_history` (`{"hnet_diag_stop": reason, "step": N}`).

NaN losses: by default the Trainer averages a NaN/Inf loss away before logging it
(`logging_nan_inf_filter=True`); the non-finite `grad_norm` still reaches the rules (as a
high-severity HND404). Set `logging_nan_inf_filter=False` for a NaN loss itself to count
(critical). Detection comes at the next log, so `logging_steps` sets the delay.

Needs the optional dependency: `pip install hnet-diag[transformers]`.
"""
from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from ..run import TrainingSettings
from .monitor import MONITOR_SHARE, StopGate

#: transformers lr_scheduler_type -> the schedule names hnet-diag's settings use
_SCHEDULES = {"linear": "linear", "cosine": "cosine", "cosine_with_restarts": "cosine", "constant": "constant",
              "constant_with_warmup": "constant", "warmup_stable_decay": "wsd"}


def training_settings(args: Any, state: Any) -> TrainingSettings:
    """The run's settings as the rules compare against them, from TrainingArguments."""
    max_steps = int(state.max_steps) if getattr(state, "max_steps", 0) else None
    warmup = args.get_warmup_steps(max_steps) if max_steps and hasattr(args, "get_warmup_steps") else None
    sched = getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)
    return TrainingSettings(
        learning_rate=float(args.learning_rate), warmup_steps=warmup, max_steps=max_steps,
        schedule=_SCHEDULES.get(str(sched)), max_grad_norm=float(args.max_grad_norm) if args.max_grad_norm else None,
        weight_decay=float(args.weight_decay), source="TrainingArguments",
    )


class HnetDiagCallback(TrainerCallback, StopGate):
    """Judge with hnet-diag's rules at each log; stop on a finding at or above `stop_on`."""

    def __init__(self, stop_on: str | None = "critical", settings: Any = None, share: float = MONITOR_SHARE):
        StopGate.__init__(self, stop_on, settings, share)

    def on_train_begin(self, args, state, control, **kwargs):
        self._start(training_settings(args, state), str(args.output_dir))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and self._feed(state.global_step, logs):
            control.should_training_stop = True
            state.log_history.append({"hnet_diag_stop": self.stop_reason, "step": state.global_step})

    def on_train_end(self, args, state, control, **kwargs):
        self._finish()
