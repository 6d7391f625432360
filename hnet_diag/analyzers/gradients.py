"""Gradient norm: spikes (total and per stage), clipping rate, vanishing trend.

The gradient norm is logged before clipping, so it shows what the optimizer was asked to
absorb. A single huge norm in the first steps is normal (random init, Adam's moments still
empty) and is reported under phase "first_steps", never mixed with the spikes that matter:
those after warmup, when the LR is at its peak.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import AnalyzerResult
from .spikes import Spike


@dataclass(frozen=True)
class StageGradients:
    """Spikes of one stage's gradient norm (`grad_norm/stage{i}`)."""

    stage: int
    metric: str
    n_points: int
    median_norm: float
    spikes: tuple[Spike, ...] = ()

    @property
    def spikes_after_first_steps(self) -> tuple[Spike, ...]:
        return tuple(s for s in self.spikes if s.phase != "first_steps")


@dataclass(frozen=True)
class GradientResult(AnalyzerResult):
    """Measurements of the pre-clip gradient norm.

    Spike counts are split by phase so rules can tell "normal early norm" from "explosion
    after warmup". Clip rate and vanishing trend are values, not verdicts.
    """

    metric: str = "grad_norm"  # series the total-norm analysis used
    series_used: tuple[str, ...] = ()
    n_points: int = 0
    first_step: int | None = None
    last_step: int | None = None
    spikes: tuple[Spike, ...] = ()  # spikes of the total norm, every phase
    stages: tuple[StageGradients, ...] = ()  # per-stage spikes when grad_norm/stage{i} is logged
    spikes_first_steps: int = 0
    spikes_warmup: int = 0
    spikes_after_warmup: int = 0
    # the "large norm at the very start" note
    first_steps: int = 0  # steps counted as "first steps"
    first_steps_max_norm: float | None = None
    first_steps_max_ratio: float | None = None  # that norm / median norm of the rest of the run
    first_steps_note: str = ""  # e.g. "a large norm in the first steps is normal"
    # phases
    warmup_steps: int | None = None
    warmup_source: str | None = None  # "lr_series", "config", or None when unknown
    # clipping
    max_grad_norm: float | None = None
    clip_rate: float | None = None  # fraction of steps with pre-clip norm > max_grad_norm
    clip_rate_after_warmup: float | None = None
    clipped_steps: int = 0
    clip_source: str | None = None  # "clipped" metric or "grad_norm>max_grad_norm"
    # vanishing trend
    norm_start: float | None = None  # median norm over the early window (after first steps)
    norm_end: float | None = None  # median norm over the last window
    norm_min: float | None = None
    norm_decades_drop: float | None = None  # log10(norm_start / norm_end); > 0 means falling
    loss_start: float | None = None
    loss_end: float | None = None
    loss_relative_change: float | None = None  # (loss_end - loss_start) / |loss_start|
    # detection parameters, recorded so a report can quote them
    window: int = 50
    z: float = 6.0
    min_ratio: float = 1.5

    @property
    def spikes_after_first_steps(self) -> tuple[Spike, ...]:
        return tuple(s for s in self.spikes if s.phase != "first_steps")


def analyze_gradients(run, **kwargs) -> GradientResult:
    raise NotImplementedError
