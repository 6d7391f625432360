"""Did the run finish, and had it converged? Plan vs reality, slope, annealing, overfitting."""
from __future__ import annotations

from dataclasses import dataclass

from .base import AnalyzerResult


@dataclass(frozen=True)
class Plateau:
    """A stretch where the loss shows no trend (Mann-Kendall |z| below the test level)."""

    start_step: int
    end_step: int
    level: float  # median loss over the stretch


@dataclass(frozen=True)
class ConvergenceResult(AnalyzerResult):
    loss_metric: str | None = None
    planned_steps: int | None = None
    planned_source: str | None = None  # "config" (training.max_steps)
    last_step: int | None = None
    fraction_completed: float | None = None
    # slope over the last part
    tail_window: tuple[int, int] | None = None
    tail_points: int = 0
    loss_at_tail_start: float | None = None
    loss_at_end: float | None = None  # Theil-Sen fit at the last step
    slope_per_1k: float | None = None  # loss units per 1000 steps (negative = improving)
    slope_relative_per_1k: float | None = None  # slope / median loss over the tail
    trend_z: float | None = None  # Mann-Kendall z (noise-aware; |z| > 2 ~ a real trend)
    noise_std: float | None = None  # robust std of residuals around the fit
    drop_to_noise: float | None = None  # -slope * tail length / noise_std
    # annealing
    lr_metric: str | None = None
    lr_peak: float | None = None
    lr_peak_step: int | None = None
    lr_last: float | None = None
    lr_last_over_peak: float | None = None
    # overfitting
    val_metric: str | None = None
    val_points: int = 0
    best_val: float | None = None
    best_val_step: int | None = None
    last_val: float | None = None
    last_val_step: int | None = None
    val_increase_since_best: float | None = None
    val_increase_relative: float | None = None
    # plateaus
    plateaus: tuple[Plateau, ...] = ()
    tail_fraction: float = 0.2


def analyze_convergence(run, **kwargs) -> ConvergenceResult:
    raise NotImplementedError
