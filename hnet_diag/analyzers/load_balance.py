"""H-Net load balance: ratio loss, realized compression, F vs G, undecided routing.

The ratio loss has its minimum 1.0 at F = G = 1/N but can dip below 1 when F != G, so it
proves nothing alone: compression (1/F) against the target N is the real test, and G
piling up near 0.5 (undecided routing) explains compressions that wander. All values are
medians over the last part of the run, where the routing should have settled.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import AnalyzerResult


@dataclass(frozen=True)
class StageBalance:
    """Routing measurements of one chunking stage (stage 0 = byte level)."""

    stage: int
    series_used: tuple[str, ...] = ()
    tail_window: tuple[int, int] | None = None  # steps the medians cover
    target: float | None = None  # N
    target_source: str | None = None  # "config" or "paper_default"
    ratio_loss: float | None = None  # median over the tail
    ratio_loss_excess: float | None = None  # ratio_loss - 1.0 (its minimum when F = G)
    compression: float | None = None  # 1/F, median over the tail
    compression_relative_error: float | None = None  # (compression - N) / N
    boundary_frac: float | None = None  # F
    boundary_prob: float | None = None  # G
    f_minus_g: float | None = None
    f_times_target: float | None = None  # F * N: 1 on target, -> 0 almost no boundaries
    undecided_frac: float | None = None  # fraction of probabilities within 0.05 of 0.5
    g_distance_from_half: float | None = None  # |G - 0.5|
    compression_slope_per_1k: float | None = None  # Theil-Sen, compression units per 1000 steps
    compression_slope_relative: float | None = None  # per 1000 steps, relative to the median
    compression_trend_z: float | None = None  # Mann-Kendall z of the tail (noise-aware)


@dataclass(frozen=True)
class LoadBalanceResult(AnalyzerResult):
    stages: tuple[StageBalance, ...] = ()
    total_compression: float | None = None  # product of per-stage compressions (bytes per innermost chunk)
    tail_fraction: float = 0.2


def analyze_load_balance(run, **kwargs) -> LoadBalanceResult:
    raise NotImplementedError
