"""Training phases: when warmup ends, and which phase a step belongs to.

The LR series is the best witness of warmup (it is what the optimizer actually used); the
config's `warmup_steps` is the fallback. Spikes mean different things per phase: in the
first steps they are normal, in warmup they are a warning, after warmup they are the
instability that matters.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

FIRST_STEPS = "first_steps"
WARMUP = "warmup"
AFTER_WARMUP = "after_warmup"


def warmup_end_from_lr(lr: pd.Series, peak_tolerance: float = 1e-3) -> tuple[int, float, int] | None:
    """(warmup steps, peak LR, step of the peak) from an LR series, or None if unusable.

    Warmup ends at the first step whose LR is within `peak_tolerance` (relative) of the
    peak. A series that starts at its peak reports its first logged step (0 when logging
    starts at step 0): with sparse logging that is an upper bound, never an underestimate
    that would read as "no warmup". A series that only rises (a run cut during warmup)
    reports its last step: warmup lasted at least that long.
    """
    s = lr.astype(float)
    s = s[np.isfinite(s.to_numpy())]
    if len(s) < 2 or s.max() <= 0:
        return None
    peak = float(s.max())
    at_peak = s[s >= peak * (1 - peak_tolerance)]
    peak_step = int(at_peak.index[0])
    return peak_step, peak, peak_step


def resolve_warmup(from_lr: int | None, lr_first_step: int | None, from_config: int | None) -> tuple[int | None, str | None]:
    """Choose between the LR series' warmup and the config's: (steps, source).

    The LR series wins (it is what the optimizer did), except when it starts at its peak:
    then it only says "at most the first logged step", and a config value within that bound
    (warmup 0 with logs starting at step 1) is the exact answer.
    """
    if from_lr is not None:
        starts_at_peak = lr_first_step is not None and from_lr == lr_first_step
        if starts_at_peak and from_config is not None and from_config <= from_lr:
            return int(from_config), "config"
        return from_lr, "lr_series"
    if from_config is not None:
        return int(from_config), "config"
    return None, None


def warmup_steps_of(run, lr_metric: str | None = None) -> tuple[int | None, str | None, str | None]:
    """(warmup steps, "lr_series" | "config" | None, LR metric used) for a Run."""
    name, series = lr_series(run, lr_metric)
    found = warmup_end_from_lr(series) if series is not None else None
    cfg = getattr(run.training, "warmup_steps", None)
    first = int(series.index[0]) if series is not None and len(series) else None
    steps, source = resolve_warmup(found[0] if found else None, first, cfg)
    return steps, source, name if found else None


def lr_series(run, preferred: str | None = None) -> tuple[str | None, pd.Series | None]:
    """The base LR series (`lr`), else the innermost stage's (multiplier closest to 1 by convention)."""
    names = [preferred] if preferred else []
    names.append("lr")
    stages = run.stages("lr")
    if stages:
        names.append(f"lr/stage{max(stages)}")
    for name in names:
        s = run.metric(name)
        s = s[np.isfinite(s.to_numpy())] if not s.empty else s
        if len(s) >= 2:
            return name, s
    return None, None


def first_steps_count(last_step: int | None, first_step: int = 0, minimum: int = 10, fraction: float = 0.01) -> int:
    """How many steps count as "the first steps": max(minimum, fraction of the run)."""
    span = (last_step or 0) - first_step
    return max(minimum, int(math.ceil(fraction * max(span, 0))))


def phase_of(step: int, warmup_steps: int | None, first_steps: int, first_step: int = 0) -> str:
    """The phase of a step; with warmup unknown, a step past the first steps is "after_warmup"."""
    if step < first_step + first_steps:
        return FIRST_STEPS
    if warmup_steps is not None and step <= warmup_steps:
        return WARMUP
    return AFTER_WARMUP
