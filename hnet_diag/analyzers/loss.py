"""Loss health: NaN/Inf, spikes, divergence, train/validation gap."""
from __future__ import annotations

from dataclasses import dataclass

from .base import AnalyzerResult
from .spikes import Spike


@dataclass(frozen=True)
class NonFinite:
    """NaN or Inf values in one metric."""

    metric: str
    first_step: int
    count: int
    nan_count: int
    inf_count: int


@dataclass(frozen=True)
class LossResult(AnalyzerResult):
    loss_metric: str | None = None
    series_used: tuple[str, ...] = ()
    n_points: int = 0
    # NaN / Inf (all metrics, loss first)
    nonfinite: tuple[NonFinite, ...] = ()
    first_nonfinite_step: int | None = None
    nonfinite_count: int = 0
    loss_nonfinite_count: int = 0
    # spikes
    spikes: tuple[Spike, ...] = ()
    # divergence
    running_min: float | None = None
    running_min_step: int | None = None
    final_loss: float | None = None  # median of the last points
    final_over_min: float | None = None  # final_loss / running_min
    final_minus_min: float | None = None
    end_trend_z: float | None = None  # Mann-Kendall z over the last part (> 0: rising)
    # train/val gap
    val_metric: str | None = None
    train_at_val: float | None = None  # train loss near the last validation step
    val_last: float | None = None
    val_last_step: int | None = None
    train_val_gap: float | None = None  # val - train
    train_val_gap_relative: float | None = None  # gap / train
    # detection parameters
    window: int = 50
    z: float = 6.0
    min_ratio: float = 1.1


def analyze_loss(run, **kwargs) -> LossResult:
    raise NotImplementedError
