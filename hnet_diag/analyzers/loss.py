"""Loss health: NaN/Inf, spikes, divergence, train/validation gap.

NaN/Inf are counted in the metrics that measure the optimisation itself (loss, grad norm,
LR, ratio loss, routing; a NaN grad norm a few steps before the loss goes NaN tells where
it started). NaN in bookkeeping metrics (a `step_avg` that is NaN until timing starts, a
throughput) says nothing about the model, so those are kept apart in `nonfinite_other`.
Realized compression is exempt too: Inf there is a legitimate value (no boundary: 1/0)
that the load-balance analyzer reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .cache import cached
from .base import AnalyzerResult, new_axes, no_data_axes
from .phases import first_steps_count, warmup_steps_of
from .noise import TransientSpike, transient_spikes
from .spikes import Spike, annotate_spikes, detect_spikes
from .trend import finite, mann_kendall_z, opt, tail

#: metric families where Inf is a value, not a numerical failure
NONFINITE_EXEMPT = ("compression/",)
#: metrics whose NaN/Inf means the optimisation broke (canonical names; "x/" = per-stage family)
NUMERIC_HEALTH = (
    "loss", "val_loss", "bpb", "val_bpb", "grad_norm", "grad_norm/", "lr", "lr/", "ratio_loss", "ratio_loss/",
    "boundary_frac/", "boundary_prob/", "boundary_undecided/",
)


def is_health_metric(name: str) -> bool:
    """Optimisation metrics, and any other loss-named one (`mean_loss`, `recon_loss`): a NaN in
    one term of the loss is a NaN of the loss. A loss *scale* (fp16) is bookkeeping."""
    if any(name == p or (p.endswith("/") and name.startswith(p)) for p in NUMERIC_HEALTH):
        return True
    low = name.lower()
    return "loss" in low and "scale" not in low
#: training-loss names in order of preference
LOSS_NAMES = ("loss", "bpb")
VAL_NAMES = {"loss": ("val_loss",), "bpb": ("val_bpb",)}


@dataclass(frozen=True)
class NonFinite:
    """NaN or Inf values in one metric."""

    metric: str
    first_step: int
    count: int
    nan_count: int
    inf_count: int
    logged: int = 0  # values logged for the metric in all (count == logged: never finite)

    @property
    def never_finite(self) -> bool:
        return self.logged > 0 and self.count >= self.logged


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
    nonfinite_other: tuple[NonFinite, ...] = ()  # NaN/Inf in bookkeeping metrics (timing, throughput)
    # spikes
    spikes: tuple[Spike, ...] = ()
    spikes_large: tuple[Spike, ...] = ()  # large jumps in a noisy loss: lower z, larger ratio (large_z, large_ratio)
    # spikes by the labelling guide's definition (noise.transient_spikes): above the median of
    # the points on either side by > transient_z noise scales and back down two points later
    transient: tuple[TransientSpike, ...] = ()
    transient_scale: float | None = None  # 1.4826 x MAD of the residuals from that local level
    # divergence
    smooth_points: int = 0  # points in the rolling median the divergence measures use
    running_min: float | None = None  # minimum of the rolling-median loss
    running_min_step: int | None = None
    final_loss: float | None = None  # rolling-median loss at the last step
    final_over_min: float | None = None  # final_loss / running_min (None: too few points)
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
    _series: pd.Series | None = field(default=None, repr=False, compare=False)
    _val_series: pd.Series | None = field(default=None, repr=False, compare=False)

    def plot(self, ax: Any = None) -> Any:
        """Training loss with spikes and the first NaN/Inf marked, validation loss on top."""
        title = "Loss"
        if not self.ok or self._series is None:
            return no_data_axes(ax, self.reason or "no loss series kept", title)
        ax = new_axes(ax, title)
        s = finite(self._series)
        ax.plot(s.index, s.to_numpy(), lw=0.8, color="tab:blue", label=self.loss_metric)
        if self._val_series is not None and not self._val_series.empty:
            v = finite(self._val_series)
            ax.plot(v.index, v.to_numpy(), marker="o", ms=3, lw=1.0, color="tab:green", label=self.val_metric)
        for sp in self.spikes:
            ax.scatter([sp.step], [sp.value], color="tab:red", zorder=3, s=18)
        if self.first_nonfinite_step is not None:
            ax.axvline(self.first_nonfinite_step, color="tab:red", ls="--", lw=0.8, label="first NaN/Inf")
        ax.set_xlabel("step")
        ax.legend(fontsize=7, loc="best", framealpha=0.6)
        return ax


#: words of a loss name that mean "the whole objective", preferred over one term's loss
_OVERALL = ("mean", "total", "train", "overall", "avg", "sum")


def loss_series(run) -> tuple[str | None, pd.Series | None]:
    """(name, raw series incl. NaN) of the training loss: `loss`, else `bpb`, else the
    training-loss-named metric that stands for the whole objective (`mean_loss`,
    `total_loss`; else the one with most points), so a log without a plain `loss` column is
    still judged. Validation losses, per-stage terms and loss scales are never taken."""
    for name in LOSS_NAMES:
        s = run.metric(name)
        if not s.empty:
            return name, s
    from .validation import is_val_loss

    candidates = []
    for tag in run.metric_names():
        low = str(tag).lower()
        if "loss" not in low or is_val_loss(tag) or "scale" in low or "/stage" in low or low.startswith("ratio_loss"):
            continue
        overall = any(w in low for w in _OVERALL)
        candidates.append((not overall, -len(run.metric(tag)), len(str(tag)), str(tag)))
    if not candidates:
        return None, None
    name = min(candidates)[3]
    return name, run.metric(name)


def detect_loss_spikes(
    series: pd.Series, window: int = 50, z: float = 6.0, min_ratio: float = 1.1, min_periods: int = 10
) -> list[Spike]:
    """Upward loss spikes: `detect_spikes` with a loss-sized ratio floor (default 1.1).

    Loss noise is a few percent, far smaller than grad-norm noise, hence the lower ratio.
    A loss that can be negative (some custom objectives) is scored on raw values.
    """
    s = finite(series)
    log = bool((s > 0).all())
    return detect_spikes(s, window=window, z=z, min_ratio=min_ratio, min_periods=min_periods, log=log,
                         metric=str(series.name) if series.name is not None else "loss")


def count_nonfinite(run, health_only: bool = True) -> list[NonFinite]:
    """NaN/Inf per metric; the training loss leads when affected.

    health_only: only the optimisation metrics (NUMERIC_HEALTH); False: only the others.
    """
    df = run.scalars
    if df.empty:
        return []
    values = df["value"].to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if not bad.any():
        return []
    sub = df[bad]
    logged = df.groupby("metric", sort=False)["value"].size()
    out = []
    for metric, rows in sub.groupby("metric", sort=True):
        if str(metric).startswith(NONFINITE_EXEMPT) or is_health_metric(str(metric)) != health_only:
            continue
        v = rows["value"].to_numpy(dtype=float)
        out.append(
            NonFinite(
                metric=str(metric),
                first_step=int(rows["step"].min()),
                count=len(rows),
                nan_count=int(np.isnan(v).sum()),
                inf_count=int(np.isinf(v).sum()),
                logged=int(logged[metric]),
            )
        )
    out.sort(key=lambda n: (n.metric not in LOSS_NAMES, n.first_step, n.metric))
    return out


def analyze_loss(
    run, window: int = 50, z: float = 6.0, min_ratio: float = 1.1, tail_fraction: float = 0.2,
    smooth_fraction: float = 0.02, min_smooth_points: int = 5, large_z: float = 3.0, large_ratio: float = 2.0,
    transient_z: float = 6.0,
) -> LossResult:
    """NaN/Inf, spikes, divergence from the running minimum, and the train/val gap.

    window, z, min_ratio: spike detection (see `detect_loss_spikes`).
    large_z, large_ratio: the second detector for large jumps of a noisy loss (z 3, 2x).
    transient_z: candidates of the centred, come-back-down detector (`transient_spikes`) above
        this many noise scales; HND405 sets its own bars on them (z, ratio, rise, count).
    tail_fraction: the last part of the run whose trend is tested (0.2).
    smooth_fraction, min_smooth_points: divergence compares a rolling median of
        max(min_smooth_points, smooth_fraction * points) points at the end with its own
        minimum, so a still-falling noisy loss reads 1.0, not "above its best single
        point"; with fewer than twice that many points it is not measured.
    """
    run = cached(run)
    params = dict(window=window, z=z, min_ratio=min_ratio)
    nonfinite = count_nonfinite(run)
    nf_fields = dict(
        nonfinite_other=tuple(count_nonfinite(run, health_only=False)),
        nonfinite=tuple(nonfinite),
        first_nonfinite_step=min((n.first_step for n in nonfinite), default=None),
        nonfinite_count=sum(n.count for n in nonfinite),
    )
    name, raw = loss_series(run)
    if raw is None:
        return LossResult.no_data("no training loss logged (loss or bpb)", **nf_fields, **params)
    s = finite(raw)
    loss_nf = int(len(raw) - len(s))
    if len(s) < 2 and loss_nf:  # NaN from the first logged step: that is the finding, not missing data
        return LossResult(loss_metric=name, series_used=(name,), n_points=len(s), loss_nonfinite_count=loss_nf,
                          _series=raw, **nf_fields, **params)
    if len(s) < 2:
        return LossResult.no_data(f"fewer than 2 finite `{name}` values", loss_metric=name,
                                  loss_nonfinite_count=loss_nf, _series=raw, **nf_fields, **params)

    warmup, _, lr_name = warmup_steps_of(run)
    first_step = int(s.index[0])
    n_first = first_steps_count(int(s.index[-1]), first_step)
    lr = run.metric(lr_name) if lr_name else None
    spikes = annotate_spikes(detect_loss_spikes(s.rename(name), **params), warmup, n_first, first_step, lr, None, 0)
    # a noisy per-batch loss (a classifier's, a PINN's) has a wide noise scale, so a jump to 3-4x
    # its level scores only z ~3: kept apart, with a ratio floor that noise does not reach
    large = annotate_spikes(detect_loss_spikes(s.rename(name), window=window, z=large_z, min_ratio=large_ratio),
                            warmup, n_first, first_step, lr, None, 0)
    transient, transient_scale = transient_spikes(s, z=transient_z, min_ratio=1.0, min_rise=0.0)

    k = max(min_smooth_points, int(round(smooth_fraction * len(s))))
    div: dict[str, Any] = {"smooth_points": k}
    if len(s) >= 2 * k:
        smooth = s.rolling(k, min_periods=k).median().dropna()
        rmin, final = float(smooth.min()), float(smooth.iloc[-1])
        div.update(running_min=rmin, running_min_step=int(smooth.idxmin()), final_loss=final,
                   final_over_min=opt(final / rmin) if rmin > 0 else None, final_minus_min=final - rmin)
    end_z = mann_kendall_z(tail(s, tail_fraction))

    used = [name]
    val_name = None
    val = None
    gap_fields: dict[str, Any] = {}
    for vn in VAL_NAMES.get(name, ()):
        v = finite(run.metric(vn))
        if not v.empty:
            val_name, val = vn, v
            break
    if val is not None:
        used.append(val_name)
        vstep = int(val.index[-1])
        near = s[s.index <= vstep].iloc[-5:]
        if not near.empty:
            train_at = float(near.median())
            gap = float(val.iloc[-1]) - train_at
            gap_fields = dict(
                train_at_val=train_at,
                val_last=float(val.iloc[-1]),
                val_last_step=vstep,
                train_val_gap=gap,
                train_val_gap_relative=opt(gap / abs(train_at)) if train_at else None,
            )
    return LossResult(
        loss_metric=name,
        series_used=tuple(used),
        n_points=len(s),
        loss_nonfinite_count=loss_nf,
        spikes=spikes,
        spikes_large=large,
        transient=tuple(transient),
        transient_scale=transient_scale,
        **div,
        end_trend_z=opt(end_z),
        val_metric=val_name,
        _series=raw,
        _val_series=val,
        **gap_fields,
        **nf_fields,
        **params,
    )
