"""Noise-aware trend helpers: Theil-Sen slope, Mann-Kendall test, tails of a series.

Training curves are noisy and have outliers (spikes), so least squares slopes and
"last minus first" differences lie. Theil-Sen (median of pairwise slopes) ignores up to
~29% outliers, and the Mann-Kendall z says whether a trend stands out of the noise at all:
|z| < 2 means the data cannot tell the trend from zero.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: pairwise methods are O(n^2); longer series are thinned evenly to this many points
MAX_POINTS = 400


def finite(series: pd.Series | None) -> pd.Series:
    """The finite values of a series (empty Series for None)."""
    if series is None:
        return pd.Series(dtype=float)
    s = series.astype(float)
    return s[np.isfinite(s.to_numpy())]


def tail(series: pd.Series, fraction: float = 0.2, min_points: int = 5) -> pd.Series:
    """The points in the last `fraction` of the series' step range (at least `min_points`)."""
    s = finite(series)
    if s.empty:
        return s
    lo, hi = int(s.index.min()), int(s.index.max())
    start = hi - fraction * (hi - lo)
    t = s[s.index >= start]
    if len(t) < min_points:
        t = s.iloc[-min_points:]
    return t


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= MAX_POINTS:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, MAX_POINTS).round().astype(int))
    return x[idx], y[idx]


def theil_sen(series: pd.Series) -> tuple[float, float]:
    """(slope per step, intercept) of the Theil-Sen line through a step-indexed series."""
    s = finite(series)
    if len(s) < 2:
        return float("nan"), float("nan")
    x, y = _thin(s.index.to_numpy(dtype=float), s.to_numpy(dtype=float))
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    keep = dx != 0
    if not keep.any():
        return float("nan"), float("nan")
    slope = float(np.median((y[j] - y[i])[keep] / dx[keep]))
    intercept = float(np.median(y - slope * x))
    return slope, intercept


def mann_kendall_z(series: pd.Series) -> float:
    """Mann-Kendall trend statistic as a z-score (> 0 rising, < 0 falling; ties ignored)."""
    s = finite(series)
    n = len(s)
    if n < 3:
        return float("nan")
    _, y = _thin(np.arange(n, dtype=float), s.to_numpy(dtype=float))
    n = len(y)
    i, j = np.triu_indices(n, k=1)
    stat = float(np.sign(y[j] - y[i]).sum())
    var = n * (n - 1) * (2 * n + 5) / 18.0
    if var <= 0:
        return float("nan")
    if stat > 0:
        return (stat - 1) / math.sqrt(var)
    if stat < 0:
        return (stat + 1) / math.sqrt(var)
    return 0.0


def robust_std(values: np.ndarray) -> float:
    """1.4826 * MAD: the std of normal noise, unmoved by a few outliers."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def opt(x: float | None) -> float | None:
    """NaN -> None, so results never carry a NaN that a rule would compare against."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def positive_values(series: pd.Series | None) -> pd.Series | None:
    """The finite values a ratio to a running minimum can be taken of, or None.

    A ratio to a minimum means nothing for a quantity that goes negative (a policy-gradient
    surrogate or any centred objective; 1e-4 after -0.01 would read as a rise of thousands of
    percent), so such a series has none (None). Exact zeros are dropped instead: a loss
    printed as 0.0 is one rounded below display precision.
    """
    s = finite(series)
    if (s < 0).any():
        return None
    return s[s > 0]


def max_rise_above_running_min(
    series: pd.Series, lo: int | None = None, hi: int | None = None, smooth: int = 1
) -> tuple[float | None, int | None]:
    """(largest value / min of all earlier values - 1, its step) for steps in [lo, hi].

    The running minimum reaches back to the start of the series, so a loss that fell and
    then climbed back within the window shows its climb. `smooth` > 1 first applies a
    centred rolling median of that many points. Default 1 (raw): on the real fixture runs
    (batch 4 x 256 bytes) smoothing by 3 shrank the no-warmup climb from 23% to 9% while
    noise-only climbs stayed at 4-6%, so raw values separate them better; the noise level
    of small batches (~6% here) is what a rule's threshold has to clear.

    Positive series only (`positive_values`): a series that goes negative has no rise (None).
    """
    s = positive_values(series)
    if s is None:
        return None, None
    if smooth > 1 and len(s) >= smooth:
        s = s.rolling(smooth, center=True, min_periods=1).median()
    if len(s) < 2:
        return None, None
    prev_min = s.cummin().shift(1)
    rise = s / prev_min - 1.0
    sel = rise.iloc[1:]
    if lo is not None:
        sel = sel[sel.index >= lo]
    if hi is not None:
        sel = sel[sel.index <= hi]
    if sel.empty:
        return None, None
    step = int(sel.idxmax())
    return float(max(sel.max(), 0.0)), step
