"""Did the run finish, and had it converged? Plan vs reality, slope, annealing, overfitting."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .cache import cached
from .base import AnalyzerResult, new_axes, no_data_axes
from .loss import VAL_NAMES, loss_series
from .phases import lr_series
from .noise import rise_from_best, typical_step_change
from .trend import finite, mann_kendall_z, opt, robust_std, tail, theil_sen
from .validation import EarlyStopping, early_stopping_state, val_loss_series


@dataclass(frozen=True)
class Plateau:
    """A stretch where the loss shows no trend (Mann-Kendall |z| below the test level)."""

    start_step: int
    end_step: int
    level: float  # median loss over the stretch


@dataclass(frozen=True)
class ValCurve:
    """One validation series (one eval set): its best on the trend, its end, its scatter."""

    metric: str
    points: int
    best: float
    best_step: int
    last: float
    last_step: int
    rise_relative: float | None  # (mean of the last 2 points - best) / |best|
    rise_low_relative: float | None  # (lower of the last 2 points - best) / |best|: the rise that persisted
    noise: float  # scatter of one point (noise.point_scatter)
    rise_over_noise: float | None
    points_after_best: int
    end_over_typical: float | None = None  # (mean of the last 2 - median of the points from the best to before them) / |that median|
    # the best is one point alone below that level: the evaluations on both sides of it sit nearer the
    # level than the best (a lucky low); False when it has no point before it or a neighbour stays low
    best_alone: bool = False
    step_change: float | None = None  # median move between successive points, trend included (typical_step_change)
    low_rise_over_step: float | None = None  # (lower of the last 2 points - best) / step_change


def val_curves(run) -> tuple[ValCurve, ...]:
    out = []
    for name, s in val_loss_series(run).items():
        r = rise_from_best(s)
        if r is None:
            continue
        low = float(s.iloc[-2:].min())
        # the level the series held from its best on, before the end: a lucky low point of a flat
        # noisy series sits below it, a curve that descended to its best and rose does not (all
        # earlier points would count the descent as the level and hide the rise)
        before = s.iloc[:-2]
        held = before[before.index >= r.best_step]
        typical = float(held.median()) if len(held) else None
        at = s.index.get_loc(r.best_step)
        alone = (typical is not None and 0 < at < len(s) - 1
                 and min(float(s.iloc[at - 1]), float(s.iloc[at + 1])) - r.best > (typical - r.best) / 2)
        step = typical_step_change(s)
        out.append(ValCurve(metric=name, points=len(s), best=r.best, best_step=r.best_step, last=float(s.iloc[-1]),
                            last_step=int(s.index[-1]), rise_relative=opt(r.rise_relative),
                            rise_low_relative=opt((low - r.best) / abs(r.best)) if r.best else None,
                            noise=r.noise, rise_over_noise=opt(r.rise_over_noise), points_after_best=r.points_after_best,
                            end_over_typical=opt((r.end - typical) / abs(typical)) if typical else None,
                            best_alone=bool(alone),
                            step_change=step, low_rise_over_step=opt((low - r.best) / step) if step > 0 else None))
    return tuple(out)


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
    lr_points: int | None = None  # finite learning-rate values logged
    # overfitting
    val_metric: str | None = None
    val_points: int = 0
    best_val: float | None = None
    best_val_step: int | None = None
    last_val: float | None = None
    last_val_step: int | None = None
    val_increase_since_best: float | None = None
    val_increase_relative: float | None = None
    # every eval set, judged on its own (validation.val_loss_series)
    val_curves: tuple[ValCurve, ...] = ()
    # an early-stopping callback's state (HF trainer_state), when saved
    early_stopping: EarlyStopping | None = None
    # plateaus
    plateaus: tuple[Plateau, ...] = ()
    tail_fraction: float = 0.2
    _loss: pd.Series | None = field(default=None, repr=False, compare=False)
    _val: pd.Series | None = field(default=None, repr=False, compare=False)

    def plot(self, ax: Any = None) -> Any:
        """Loss with the tail fit, the best validation point and the planned end."""
        title = "Convergence"
        if not self.ok or self._loss is None:
            return no_data_axes(ax, self.reason or "no loss kept", title)
        ax = new_axes(ax, title)
        ax.plot(self._loss.index, self._loss.to_numpy(), lw=0.8, color="tab:blue", label=self.loss_metric)
        if self._val is not None and not self._val.empty:
            ax.plot(self._val.index, self._val.to_numpy(), marker="o", ms=3, color="tab:green", label=self.val_metric)
        if self.best_val_step is not None:
            ax.scatter([self.best_val_step], [self.best_val], marker="*", s=80, color="tab:green", zorder=3, label="best val")
        if self.tail_window and self.slope_per_1k is not None and self.loss_at_end is not None:
            a, b = self.tail_window
            ax.plot([a, b], [self.loss_at_end - self.slope_per_1k * (b - a) / 1000.0, self.loss_at_end],
                    color="tab:red", lw=1.5, label=f"tail slope {self.slope_per_1k:+.3g}/1k steps")
        for p in self.plateaus:
            ax.axvspan(p.start_step, p.end_step, color="0.8", alpha=0.4)
        if self.planned_steps:
            ax.axvline(self.planned_steps, color="k", ls="--", lw=0.8, label=f"planned end ({self.planned_steps})")
        ax.set_xlabel("step")
        ax.legend(fontsize=7, loc="best", framealpha=0.6)
        return ax


def tail_slope(series: pd.Series, fraction: float = 0.2) -> dict[str, float | None]:
    """Theil-Sen slope of the last `fraction` of a series, its Mann-Kendall z, and noise.

    Returns slope_per_1k, slope_relative_per_1k, trend_z, noise_std (robust std of the
    residuals), drop_to_noise (the fitted drop over the tail in noise units; > 0 falling),
    the fitted values at both ends, and the window.
    """
    t = tail(series, fraction)
    if len(t) < 5:
        return {}
    slope, intercept = theil_sen(t)
    x = t.index.to_numpy(dtype=float)
    resid = t.to_numpy() - (slope * x + intercept)
    noise = robust_std(resid)
    span = float(x[-1] - x[0])
    med = float(t.median())
    return {
        "slope_per_1k": slope * 1000.0,
        "slope_relative_per_1k": slope * 1000.0 / abs(med) if med else None,
        "trend_z": mann_kendall_z(t),
        "noise_std": noise,
        "drop_to_noise": -slope * span / noise if noise and noise > 0 else None,
        "start": slope * x[0] + intercept,
        "end": slope * x[-1] + intercept,
        "window": (int(x[0]), int(x[-1])),
        "points": len(t),
    }


def find_plateaus(series: pd.Series, segments: int = 10, z: float = 2.0, min_points: int = 8) -> list[Plateau]:
    """Stretches with no significant trend: the run cut into `segments` equal step ranges,
    each tested with Mann-Kendall (|z| < `z` = flat), consecutive flat ones merged, and the
    merged stretch tested again (it must still be flat as a whole).

    A flat end counts too; the tail slope says the same thing with numbers.
    """
    s = finite(series)
    if len(s) < segments * min_points:
        return []
    edges = np.linspace(s.index[0], s.index[-1], segments + 1)
    flat: list[tuple[int, int, bool]] = []
    for a, b in zip(edges[:-1], edges[1:]):
        seg = s[(s.index >= a) & (s.index <= b)]
        if len(seg) < min_points:
            continue
        flat.append((int(seg.index[0]), int(seg.index[-1]), abs(mann_kendall_z(seg)) < z))
    out: list[Plateau] = []
    run_start = None
    for k, (a, b, is_flat) in enumerate(flat + [(0, 0, False)]):
        if is_flat and run_start is None:
            run_start = k
        if not is_flat and run_start is not None:
            start, end = flat[run_start][0], flat[k - 1][1]
            seg = s[(s.index >= start) & (s.index <= end)]
            # short noisy segments each look flat; a trend may still show over their union
            if abs(mann_kendall_z(seg)) < z:
                out.append(Plateau(start_step=start, end_step=end, level=float(seg.median())))
            run_start = None
    return out


def analyze_convergence(run, tail_fraction: float = 0.2, plateau_segments: int = 10, plateau_z: float = 2.0) -> ConvergenceResult:
    """Planned vs last step, tail slope (noise-aware), LR annealing, overfitting, plateaus.

    tail_fraction: last part of the run for the slope (default 0.2).
    plateau_segments, plateau_z: the run is cut into this many segments; one whose
        Mann-Kendall |z| is below `plateau_z` is flat (defaults 10 and 2.0).
    """
    run = cached(run)
    planned = run.training.max_steps
    name, raw = loss_series(run)
    last = run.last_step
    base: dict[str, Any] = dict(planned_steps=planned, planned_source="config" if planned else None,
                                last_step=last, tail_fraction=tail_fraction)
    if planned and last is not None:
        base["fraction_completed"] = last / planned
    lr_name, lr = lr_series(run)
    if lr is not None:
        lr = finite(lr)
        peak_step = int(lr.idxmax())
        base.update(lr_metric=lr_name, lr_points=len(lr), lr_peak=float(lr.max()), lr_peak_step=peak_step,
                    lr_last=float(lr.iloc[-1]),
                    lr_last_over_peak=float(lr.iloc[-1] / lr.max()) if lr.max() > 0 else None)
    val_name = val = None
    for vn in VAL_NAMES.get(name or "loss", ("val_loss",)):
        v = finite(run.metric(vn))
        if not v.empty:
            val_name, val = vn, v
            break
    curves = val_curves(run)
    base.update(val_curves=curves, early_stopping=early_stopping_state(run))
    if val is None and curves:  # no canonical val_loss: the eval set that rose most stands for them
        worst = max(curves, key=lambda c: (c.rise_relative or 0.0, c.metric))
        val_name, val = worst.metric, finite(run.metric(worst.metric))
    if val is not None:
        best_step = int(val.idxmin())
        best = float(val.min())
        base.update(val_metric=val_name, val_points=len(val), best_val=best, best_val_step=best_step,
                    last_val=float(val.iloc[-1]), last_val_step=int(val.index[-1]),
                    val_increase_since_best=float(val.iloc[-1]) - best,
                    val_increase_relative=(float(val.iloc[-1]) - best) / abs(best) if best else None)
    loss = finite(raw) if raw is not None else None
    if loss is None or len(loss) < 5:
        return ConvergenceResult.no_data("fewer than 5 finite training loss values (loss or bpb)", loss_metric=name, **base)
    ts = tail_slope(loss, tail_fraction)
    return ConvergenceResult(
        loss_metric=name,
        tail_window=ts.get("window"),
        tail_points=int(ts.get("points", 0)),
        loss_at_tail_start=opt(ts.get("start")),
        loss_at_end=opt(ts.get("end")),
        slope_per_1k=opt(ts.get("slope_per_1k")),
        slope_relative_per_1k=opt(ts.get("slope_relative_per_1k")),
        trend_z=opt(ts.get("trend_z")),
        noise_std=opt(ts.get("noise_std")),
        drop_to_noise=opt(ts.get("drop_to_noise")),
        plateaus=tuple(find_plateaus(loss, plateau_segments, plateau_z)),
        _loss=loss,
        _val=val,
        **base,
    )
