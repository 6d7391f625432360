"""Statistics that know a series' own noise: trend, noise scale, persistence, stage share.

Rules tuned on smoothed logs trip on a run logged every step: a raw percentage ("the loss
rose 15%") is noise on a small-batch fine-tune and a real change on a smoothed curve. These
helpers express a change in units of the series' own scatter instead:

- `smooth_trend`: a centred running median over a fixed share of the run, the level the
  series is really at (a single noisy point does not move it);
- `noise_scale`: 1.4826 x the MAD of the residuals around that trend, the standard deviation
  of the point-to-point noise that a Gaussian would have (outliers do not inflate it),
  corrected for a short running median's habit of following the noise (`median_residual_scale`);
- `persistent`: a condition must hold over a window of consecutive points, not at one;
- `rise_from_best`: how far a series ended above its best, also in units of its own scatter
  (the best single point of a noisy series is biased low, so a rise must beat the scatter);
- `typical_step_change`: how far a short series usually moves from one point to the next,
  trend included (a turn at its last points must outrun that to show it persists);
- `rise_p_value`: how often a loss that never rose, with this series' own noise, would show a
  climb above its running minimum at least as large as the one seen (the extremes of a noisy
  series drift apart with the number of points; a fixed multiple of the scatter does not);
- `stage_share` and `stage_spike_weight`: a per-stage gradient spike weighted by the stage's
  share of the total norm (stage / total), and whether the total norm or the loss reacted.

Pure functions over pandas/numpy; analyzers put their outputs on results, rules compare.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .spikes import MAD_TO_STD
from .trend import finite, positive_values, robust_std

#: share of the run the trend's running median spans (at least MIN_TREND_POINTS points)
TREND_FRACTION = 0.05
MIN_TREND_POINTS = 3


def trend_window(n: int, fraction: float = TREND_FRACTION) -> int:
    """Odd window of about `fraction` of `n` points (at least MIN_TREND_POINTS, at most n)."""
    w = max(MIN_TREND_POINTS, int(round(n * fraction)))
    w = min(w, n)
    return w if w % 2 == 1 else max(1, w - 1)


def smooth_trend(series: pd.Series, fraction: float = TREND_FRACTION) -> pd.Series:
    """Centred running median over ~`fraction` of the points (finite values only)."""
    s = finite(series)
    if s.empty:
        return s
    return s.rolling(trend_window(len(s), fraction), center=True, min_periods=1).median()


#: windows above this have a running-median residual scale within 0.5% of the noise's own
MEDIAN_RESIDUAL_MAX_WINDOW = 101


@lru_cache(maxsize=None)
def median_residual_scale(window: int) -> float:
    """robust_std of white noise's residuals around its centred running median of `window`
    points, per unit of the noise's own std (simulated once per window, fixed seed).

    A short running median follows the noise it should average out: around a 3-point median a
    third of the residuals are exactly 0 (the point is the median), and their robust std is
    0.47 of the noise's; around a 5-point median 0.73, 11 points 0.89, 51 points 0.97. A log of
    under ~100 points gets a 3- or 5-point trend, so its scatter read raw is half of what it
    is, and every "beats its own noise" test on it is twice as easy to pass. Dividing by this
    factor makes `noise_scale` unbiased for white noise at any length.
    """
    if window <= 1 or window > MEDIAN_RESIDUAL_MAX_WINDOW:
        return 1.0
    x = np.random.default_rng(0).standard_normal(200_000)
    resid = x - pd.Series(x).rolling(window, center=True, min_periods=1).median().to_numpy()
    return robust_std(resid)


def noise_scale(series: pd.Series, fraction: float = TREND_FRACTION) -> float | None:
    """Robust std of the residuals around the smooth trend (None with fewer than 5 points),
    corrected for the running median's own bias (`median_residual_scale`).

    The point-to-point scatter a change must beat: for a per-step fine-tune log it is the
    batch noise, for a smoothed or per-epoch log it is small.
    """
    s = finite(series)
    if len(s) < 5:
        return None
    resid = (s - smooth_trend(s, fraction)).to_numpy()
    scale = robust_std(resid) / median_residual_scale(trend_window(len(s), fraction))
    if not np.isfinite(scale):
        return None
    if scale == 0.0:  # a trend that passes through every point: fall back to successive differences
        diffs = np.diff(s.to_numpy())
        scale = robust_std(diffs) / np.sqrt(2.0) if len(diffs) else 0.0
    return float(scale)


def non_increasing_fit(values: np.ndarray) -> np.ndarray:
    """Least-squares non-increasing fit (pool adjacent violators): the loss as if it never rose."""
    levels: list[float] = []
    weights: list[int] = []
    for v in np.asarray(values, dtype=float):
        levels.append(float(v))
        weights.append(1)
        while len(levels) > 1 and levels[-2] < levels[-1]:
            w = weights[-2] + weights[-1]
            levels[-2] = (levels[-2] * weights[-2] + levels[-1] * weights[-1]) / w
            weights[-2] = w
            levels.pop()
            weights.pop()
    return np.repeat(levels, weights)


#: simulated noise-only series per p-value (fixed seed: the same run always gets the same answer)
RISE_SIMULATIONS = 400
#: points simulated at most (a longer log is thinned, see rise_p_value)
RISE_MAX_POINTS = 2000


def rise_p_value(series: pd.Series, observed: float | None, relative_noise: float | None,
                 lo: int | None = None, hi: int | None = None, window: int = 1,
                 simulations: int = RISE_SIMULATIONS, seed: int = 0) -> float | None:
    """Share of noise-only series whose climb above their running minimum reaches `observed`.

    The statistic is `trend.max_rise_above_running_min` over steps [lo, hi], on a centred
    running median of `window` points (1 = raw). The null hypothesis is a loss that never
    rose: the series' own non-increasing fit, times (1 + Gaussian noise) at the series'
    relative scatter (`relative_noise`, robust, so a real bump does not inflate it). The
    running minimum of a noisy series is biased low and its maximum high, by more the more
    points there are and the less the window smooths: a rise of "2x the scatter" is rare on
    a 20-point log and common on a 100-point log of a noisy MSE. Simulating the same
    statistic on the same steps answers "could noise alone have done this" for each run.
    Only points up to `hi` (plus half a window) are simulated, at most RISE_MAX_POINTS of
    them. None when unknown.
    """
    if observed is None or relative_noise is None or not np.isfinite(relative_noise) or relative_noise <= 0:
        return None
    s = positive_values(series)
    if s is None or len(s) < 2:
        return None
    steps = np.asarray(s.index)
    if hi is not None:
        s = s.iloc[:int(np.searchsorted(steps, hi, side="right")) + window // 2]
        steps = steps[:len(s)]
    fit = non_increasing_fit(s.to_numpy())
    # a long log is simulated on every m-th point, each standing for m raw points (the noise of
    # their mean, a window of 1/m the points): same statistic, bounded cost
    m = max(1, -(-len(fit) // RISE_MAX_POINTS))
    if m > 1:
        fit, steps = fit[m - 1::m], steps[m - 1::m]
        relative_noise, window = relative_noise / np.sqrt(m), max(1, round(window / m))
    rng = np.random.default_rng(seed)
    sims = fit[:, None] * (1.0 + relative_noise * rng.standard_normal((len(fit), simulations)))
    if window > 1:
        sims = pd.DataFrame(sims).rolling(window, center=True, min_periods=1).median().to_numpy()
    earlier_min = np.vstack([np.full((1, simulations), np.nan), np.minimum.accumulate(sims, axis=0)[:-1]])
    inside = np.ones(len(steps), dtype=bool)
    inside[0] = False
    if lo is not None:
        inside &= steps >= lo
    if hi is not None:
        inside &= steps <= hi
    if not inside.any():
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        null = np.nanmax(sims[inside] / earlier_min[inside] - 1.0, axis=0)
    # the observed series counts as one draw, so p is never 0
    return float((np.sum(null >= observed) + 1) / (simulations + 1))


def relative_noise_scale(series: pd.Series) -> float | None:
    """`noise_scale` over the series' median level: the scatter as a share of where it sits."""
    s = finite(series)
    scale = noise_scale(s)
    level = float(s.median()) if len(s) else 0.0
    return scale / abs(level) if scale is not None and level else None


def longest_run(mask: pd.Series) -> tuple[int | None, int | None, int]:
    """(first step, last step, length) of the longest stretch of consecutive True points."""
    if mask.empty or not mask.any():
        return None, None, 0
    v = mask.to_numpy(dtype=bool)
    best = (0, -1)
    start = None
    for i, flag in enumerate(list(v) + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start > best[1] - best[0] + 1:
                best = (start, i - 1)
            start = None
    a, b = best
    return int(mask.index[a]), int(mask.index[b]), b - a + 1


def persistent(mask: pd.Series, min_points: int = 3, min_fraction: float = 0.0) -> bool:
    """True when the condition holds on at least `min_points` consecutive points and on at
    least `min_fraction` of all points: a condition seen once is noise, one that lasts is a
    state of the run."""
    if mask.empty:
        return False
    _, _, length = longest_run(mask)
    return length >= min_points and mask.mean() >= min_fraction


def holds_at_end(mask: pd.Series, min_points: int = 2) -> bool:
    """True when the last `min_points` points all satisfy the condition (it is still so)."""
    return len(mask) >= min_points and bool(mask.iloc[-min_points:].all())


def point_scatter(series: pd.Series) -> float:
    """The noise of one point of a short series, blind to its trend: the robust std of the
    second differences x[i+1] - 2 x[i] + x[i-1] over sqrt(6) (a straight line has none; white
    noise of std s has 6 s^2). Successive differences would count a steady rise as noise."""
    v = finite(series).to_numpy()
    if len(v) < 4:
        return 0.0
    d2 = v[2:] - 2 * v[1:-1] + v[:-2]
    scale = robust_std(d2)
    return float(scale / np.sqrt(6.0)) if np.isfinite(scale) else 0.0


def typical_step_change(series: pd.Series) -> float:
    """The median |x[i+1] - x[i]| of a series: how far it usually moves between two points,
    its trend included (unlike `point_scatter`, which is blind to the trend on purpose).

    On a smooth per-epoch validation curve the scatter around the trend is tiny, so a curve
    that has just turned up at its last one or two evaluations measures as many scatters
    above its best, yet it has moved no further than it moved each epoch on the way down:
    that is a turn that has not yet shown it stays. Measured in these steps, a rise that
    persisted (the lower of the last points above the best) has outrun the curve's ordinary
    movement. 0.0 with fewer than 3 points."""
    v = finite(series).to_numpy()
    if len(v) < 3:
        return 0.0
    return float(np.median(np.abs(np.diff(v))))


@dataclass(frozen=True)
class RiseFromBest:
    """How far a series ended above its best, on the trend and against its own scatter."""

    best: float  # the series' minimum
    best_step: int
    end: float  # mean of the last `end_points` raw points
    rise: float  # end - best
    rise_relative: float | None  # rise / |best|
    noise: float  # scatter of one point (`point_scatter`)
    rise_over_noise: float | None  # rise / noise
    points_after_best: int


def rise_from_best(series: pd.Series, end_points: int = 2) -> RiseFromBest | None:
    """The rise of a (validation) series from its best to its end, and that rise in units of
    the series' own scatter.

    The best single point of a noisy series is biased low (the minimum of n noisy points sits
    about 2 scatters below the level for n ~ 10-50), so a rise is only a rise when
    `rise_over_noise` clears that bias; the end is the mean of the last `end_points` points;
    the scatter is `point_scatter`. (Smoothing the best instead hides a genuine early best on
    a short eval series.) None with fewer than 3 points.
    """
    s = finite(series)
    if len(s) < 3:
        return None
    best_step = int(s.idxmin())
    best = float(s.min())
    end = float(s.iloc[-end_points:].mean())
    noise = point_scatter(s)
    rise = end - best
    return RiseFromBest(
        best=best, best_step=best_step, end=end, rise=rise,
        rise_relative=rise / abs(best) if best else None,
        noise=noise, rise_over_noise=rise / noise if noise > 0 else None,
        points_after_best=int((s.index > best_step).sum()),
    )


def stage_share(stage: pd.Series, total: pd.Series) -> pd.Series:
    """Per-step share of the total gradient norm carried by one stage: stage / total, on
    the steps both logged. (A stage at 0.5% of the norm holds 0.0025% of its square, so
    a jump of that stage barely moves the total.)"""
    a, b = finite(stage).align(finite(total), join="inner")
    ok = b.to_numpy() > 0
    return pd.Series(a.to_numpy()[ok] / b.to_numpy()[ok], index=a.index[ok])


@dataclass(frozen=True)
class WeightedSpike:
    """A per-stage gradient spike judged by what it did to the run."""

    step: int
    stage_ratio: float  # stage norm at the spike / its local median
    stage_share: float | None  # the stage's median share of the total norm (stage / total)
    total_ratio: float | None  # total norm at the spike / its local median (None: not logged)
    loss_ratio: float | None  # loss at or just after the spike / its local median
    weight: float  # stage_ratio scaled by share (1 when the share is unknown)

    @property
    def total_reacted(self) -> bool:
        return self.total_ratio is not None and self.total_ratio >= 1.5

    @property
    def loss_reacted(self) -> bool:
        return self.loss_ratio is not None and self.loss_ratio >= 1.1


def _local_ratio(series: pd.Series | None, step: int, window: int = 25, after: int = 3) -> float | None:
    """Max of the series over [step, step+after] / median of the `window` points before it."""
    if series is None:
        return None
    s = finite(series)
    before = s[s.index < step].iloc[-window:]
    at = s[(s.index >= step)].iloc[: after + 1]
    if before.empty or at.empty:
        return None
    base = float(before.median())
    return float(at.max()) / base if base > 0 else None


def stage_spike_weight(step: int, stage: pd.Series, total: pd.Series | None, loss: pd.Series | None,
                       window: int = 25) -> WeightedSpike | None:
    """Weigh a spike of one stage's gradient norm at `step` by the stage's share of the
    total norm and by whether the total norm and the loss reacted.

    A stage carrying 0.5% of the norm can jump 60x without the total moving: that is no
    explosion of the run. weight = stage_ratio * share (the jump in the total norm's units:
    60 x 0.005 = 0.3 of the total), or stage_ratio when the total is not logged.
    """
    ratio = _local_ratio(stage, step, window, after=0)
    if ratio is None:
        return None
    share = None
    if total is not None:
        sh = stage_share(stage, total)
        before = sh[sh.index < step].iloc[-window:]
        share = float(before.median()) if not before.empty else (float(sh.median()) if not sh.empty else None)
    weight = ratio * share if share is not None else ratio
    return WeightedSpike(step=int(step), stage_ratio=ratio, stage_share=share,
                         total_ratio=_local_ratio(total, step, window), loss_ratio=_local_ratio(loss, step, window),
                         weight=float(weight))


@dataclass(frozen=True)
class TransientSpike:
    """One point far above its neighbours that came back down (a spike, not a level shift)."""

    step: int
    value: float
    level: float  # median of the points on either side (its local level)
    ratio: float  # value / level
    z: float  # (value - level) / the series' noise scale
    back_step: int  # the later point that was back within half the jump
    back_value: float


def transient_spikes(
    series: pd.Series, half_window: int = 4, z: float = 10.0, min_ratio: float = 1.5, min_rise: float = 0.1,
    back_after: int = 2, back_fraction: float = 0.5,
) -> tuple[list[TransientSpike], float | None]:
    """Spikes by the labelling guide's definition (fixtures/real_runs/LABELLING.md, loss_spike).

    A point's level is the median of the `half_window` points on either side (the point
    itself excluded, so it cannot pull its own level up); the noise scale is 1.4826 x the MAD
    of every point's residual from its level (robust: the spikes do not inflate it). A spike
    is a point more than `z` noise scales, `min_ratio` times and `min_rise` (loss units) above
    its level that is back within `back_fraction` of the jump `back_after` points later:
    persistence decides between a spike (transient) and a step up (a rebound, HND406).
    Returns the spikes and the noise scale (None when there are too few finite points).
    """
    s = finite(series)
    n = len(s)
    if n < 2 * half_window + back_after + 1:
        return [], None
    v = s.to_numpy(dtype=float)
    level = np.empty(n)
    for i in range(n):
        nb = np.concatenate([v[max(0, i - half_window):i], v[i + 1:i + 1 + half_window]])
        level[i] = np.median(nb)
    resid = v - level
    scale = float(MAD_TO_STD * np.median(np.abs(resid))) or 1e-12
    out = []
    for i in range(half_window, n - back_after):
        jump = resid[i]
        if (jump > z * scale and v[i] > min_ratio * level[i] and jump > min_rise
                and v[i + back_after] < level[i] + back_fraction * jump):
            out.append(TransientSpike(step=int(s.index[i]), value=float(v[i]), level=float(level[i]),
                                      ratio=float(v[i] / level[i]) if level[i] > 0 else float("inf"),
                                      z=float(jump / scale), back_step=int(s.index[i + back_after]),
                                      back_value=float(v[i + back_after])))
    return out, scale
