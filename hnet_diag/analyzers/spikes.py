"""Robust spike detection on a noisy training curve (gradient norm, loss).

A spike is a point far above the *local* level of the curve. Training curves drift by
orders of magnitude (grad norms fall, losses fall), so a global threshold would flag the
early steps and miss the late ones. Instead each point is compared with the median of the
points just before it, in units of their median absolute deviation (MAD), on a log scale:
multiplicative noise becomes additive, and median/MAD ignore the very spikes we look for
(a mean/std baseline is dragged up by the first spike and hides the next ones).

Windows count logged points, not steps, so a run logging every 10 steps and one logging
every step get the same statistical footing.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .phases import phase_of

#: MAD * 1.4826 estimates the standard deviation of normal noise
MAD_TO_STD = 1.4826


@dataclass(frozen=True)
class Spike:
    """One spike (a run of consecutive flagged points reported at its highest point)."""

    metric: str  # series it was found in, e.g. "grad_norm" or "grad_norm/stage0"
    step: int  # step of the highest point
    value: float
    local_median: float  # median of the few points just before the spike (its local level)
    ratio: float  # value / local_median
    z: float  # robust z-score on the log scale
    n_points: int = 1  # consecutive flagged points merged into this spike
    end_step: int | None = None  # last flagged step of the run of points
    phase: str = ""  # "first_steps", "warmup" or "after_warmup" (set by the analyzer)
    lr: float | None = None  # learning rate logged at (or just before) the step
    loss_spike_after: bool | None = None  # a loss spike within a few points after; None = no loss logged
    loss_spike_step: int | None = None


def spike_scores(
    series: pd.Series,
    window: int = 50,
    min_periods: int = 10,
    log: bool = True,
    min_scale: float = 0.01,
    level_window: int = 5,
) -> pd.DataFrame:
    """Per point: the local level before it, the robust noise scale and the robust z-score.

    The level is the median of the `level_window` points just before (short, so a falling
    curve does not leave it behind); the noise scale comes from the point-to-point
    differences over the trailing `window` (differences remove the trend, MAD ignores past
    spikes). `min_scale` floors the scale (log units when `log`) so a perfectly flat stretch
    does not make every wiggle infinitely significant. Non-finite values, and non-positive
    ones when `log`, are dropped: NaN/Inf belong to the loss health analyzer.
    """
    s = series.astype(float)
    s = s[np.isfinite(s.to_numpy())]
    if log:
        s = s[s > 0]
    x = np.log(s) if log else s
    prev = x.shift(1)
    level = prev.rolling(level_window, min_periods=1).median()
    diffs = prev.diff()
    dmed = diffs.rolling(window, min_periods=min_periods).median()
    dmad = (diffs - dmed).abs().rolling(window, min_periods=min_periods).median()
    # a difference of two noisy points has sqrt(2) times the noise of one point
    scale = np.maximum(MAD_TO_STD * dmad / np.sqrt(2.0), min_scale)
    z = (x - level) / scale
    local = np.exp(level) if log else level
    return pd.DataFrame({"value": s, "local_median": local, "scale": scale, "z": z})


def detect_spikes(
    series: pd.Series,
    window: int = 50,
    z: float = 6.0,
    min_ratio: float = 1.5,
    min_periods: int = 10,
    log: bool = True,
    merge_gap: int = 1,
    metric: str | None = None,
    level_window: int = 5,
) -> list[Spike]:
    """Find upward spikes in a step-indexed Series.

    window: trailing points whose point-to-point differences give the noise scale (default 50).
    level_window: points just before a point whose median is its local level (default 5).
    z: robust z-score a point must exceed (default 6: normal noise essentially never does).
    min_ratio: the point must also be this many times its local median (default 1.5), so
        a very smooth curve does not report statistically real but practically tiny bumps.
    min_periods: points needed before scoring starts (default 10); earlier points are
        never spikes, which is right: there is no baseline yet.
    log: score on log values (default; for positive multiplicative quantities).
    merge_gap: flagged points at most this many points apart are one spike (default 1).
    """
    if series is None or len(series) < min_periods + 1:
        return []
    name = metric or (str(series.name) if series.name is not None else "series")
    sc = spike_scores(series, window=window, min_periods=min_periods, log=log, level_window=level_window)
    ratio = sc["value"] / sc["local_median"] if log else sc["value"] - sc["local_median"] + 1.0
    if log:
        flagged = (sc["z"] > z) & (ratio >= min_ratio)
    else:
        flagged = sc["z"] > z
    positions = np.flatnonzero(flagged.to_numpy())
    spikes: list[Spike] = []
    group: list[int] = []
    for p in positions:
        if group and p - group[-1] > merge_gap:
            spikes.append(_spike_from(group, sc, ratio, name))
            group = []
        group.append(int(p))
    if group:
        spikes.append(_spike_from(group, sc, ratio, name))
    return spikes


def _spike_from(group: list[int], sc: pd.DataFrame, ratio: pd.Series, name: str) -> Spike:
    values = sc["value"].to_numpy()
    top = group[int(np.argmax(values[group]))]
    first = group[0]  # the baseline before the run of points, not one contaminated by it
    steps = sc.index.to_numpy()
    local = float(sc["local_median"].iloc[first])
    val = float(values[top])
    return Spike(
        metric=name,
        step=int(steps[top]),
        value=val,
        local_median=local,
        # value / local for positive levels; 1 + rise / |level| keeps the meaning for negative ones
        ratio=float(1.0 + (val - local) / abs(local)) if local != 0 else float("inf"),
        z=float(sc["z"].iloc[top]),
        n_points=len(group),
        end_step=int(steps[group[-1]]),
    )


def value_at(series: pd.Series | None, step: int) -> float | None:
    """The value logged at `step`, or the last one logged before it (None if none)."""
    if series is None or series.empty:
        return None
    s = series[series.index <= step]
    if s.empty:
        return None
    return float(s.iloc[-1])


def annotate_spikes(
    spikes: list[Spike],
    warmup_steps: int | None,
    first_steps: int,
    first_step: int,
    lr: pd.Series | None,
    loss_spikes: list[int] | None,
    lag_steps: float,
) -> tuple[Spike, ...]:
    """Add phase, LR and "did the loss spike right after" to raw spikes."""
    out = []
    for sp in spikes:
        after = None
        hit = None
        if loss_spikes is not None:
            end = (sp.end_step if sp.end_step is not None else sp.step) + lag_steps
            hits = [s for s in loss_spikes if sp.step <= s <= end]
            after = bool(hits)
            hit = hits[0] if hits else None
        out.append(
            replace(
                sp,
                phase=phase_of(sp.step, warmup_steps, first_steps, first_step),
                lr=value_at(lr, sp.step),
                loss_spike_after=after,
                loss_spike_step=hit,
            )
        )
    return tuple(out)
