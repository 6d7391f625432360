"""Learning-rate schedules: the paper's warmup-stable-decay, cosine, constant.

All three start with a linear warmup, because the diagnostics compare runs that differ in one
setting at a time: `--warmup-steps 0` must be the only thing that removes the warmup.

The schedule is a pure function of the step, so it needs no state beyond its settings;
`state_dict()` returns those settings as plain numbers for the checkpoint (loadable with
`torch.load(weights_only=True)`) and for analyzers that read checkpoints.

WSD follows the H-Net paper: linear warmup, constant, then an inverse-square-root shaped
decay over the last `decay_fraction` (20%) of the *planned* steps. We use the "1 - sqrt"
cooldown of Hägele et al. 2024 (lr * (1 - sqrt(progress))), which reaches 0 at the last
planned step: a run that stops early (`--stop-at-step`) therefore never anneals, which is
exactly what the cut-short diagnostics look for.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

SCHEDULES = ("wsd", "cosine", "constant")


@dataclass(frozen=True)
class Schedule:
    """LR multiplier (0..1) of the base learning rate at each optimizer step (1-based)."""

    kind: str = "wsd"
    warmup_steps: int = 0
    max_steps: int = 1
    decay_fraction: float = 0.2  # WSD only: share of planned steps spent decaying
    min_lr_fraction: float = 0.0  # cosine floor, as a fraction of the base LR

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.kind!r}; choose one of {', '.join(SCHEDULES)}")
        if self.max_steps < 1 or self.warmup_steps < 0:
            raise ValueError("max_steps must be >= 1 and warmup_steps >= 0")
        if not 0.0 <= self.decay_fraction <= 1.0:
            raise ValueError("decay_fraction must be within [0, 1]")

    def factor(self, step: int) -> float:
        """Multiplier of the base LR for optimizer step `step` (1 = first update)."""
        if self.warmup_steps > 0 and step <= self.warmup_steps:
            return step / self.warmup_steps
        if self.kind == "constant":
            return 1.0
        if self.kind == "cosine":
            span = max(1, self.max_steps - self.warmup_steps)
            progress = min(1.0, (step - self.warmup_steps) / span)
            return self.min_lr_fraction + (1 - self.min_lr_fraction) * 0.5 * (1 + math.cos(math.pi * progress))
        # wsd
        decay_steps = int(round(self.max_steps * self.decay_fraction))
        decay_start = self.max_steps - decay_steps
        if decay_steps == 0 or step <= decay_start:
            return 1.0
        progress = min(1.0, (step - decay_start) / decay_steps)
        return 1.0 - math.sqrt(progress)

    def state_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state_dict(cls, d: dict) -> "Schedule":
        return cls(**{k: d[k] for k in ("kind", "warmup_steps", "max_steps", "decay_fraction", "min_lr_fraction") if k in d})
