"""Gradient norm: spikes (total and per stage), clipping rate, vanishing trend.

The gradient norm is logged before clipping, so it shows what the optimizer was asked to
absorb. A single huge norm in the first steps is normal (random init, Adam's moments still
empty) and is reported under phase "first_steps", never mixed with the spikes that matter:
those after warmup, when the LR is at its peak.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from .cache import cached
from .base import AnalyzerResult, new_axes, no_data_axes
from .phases import AFTER_WARMUP, FIRST_STEPS, WARMUP, first_steps_count, phase_of, warmup_steps_of
from .noise import WeightedSpike, relative_noise_scale, rise_p_value, stage_share, stage_spike_weight
from .spikes import Spike, annotate_spikes, detect_spikes
from .trend import finite, max_rise_above_running_min, opt

FIRST_STEPS_NOTE = (
    "a large gradient norm in the first steps is normal (random initialisation, Adam moments "
    "still empty); it is not counted as explosion"
)


@dataclass(frozen=True)
class StageGradients:
    """Spikes of one stage's gradient norm (`grad_norm/stage{i}`)."""

    stage: int
    metric: str
    n_points: int
    median_norm: float
    spikes: tuple[Spike, ...] = ()
    share: float | None = None  # median of this stage's norm / the total norm (None: no total)
    weighted: tuple[WeightedSpike, ...] = ()  # its spikes weighed by share and by the total's and loss's reaction

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
    # what separates a normal large first norm from early instability (no/short warmup)
    first_steps_high_norms: int = 0  # first-step points above high_norm_factor x the later median
    first_steps_clip_rate: float | None = None
    first_steps_loss_rise: float | None = None  # max loss / running min before it - 1, in the first steps
    first_steps_loss_rise_p: float | None = None  # how often noise alone climbs as far there (noise.rise_p_value)
    high_norm_factor: float = 2.0
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


    def plot(self, ax: Any = None) -> Any:
        """Total grad norm (log scale) with spikes marked, the clip line and the warmup end."""
        title = "Gradient norm (pre-clip)"
        if not self.ok or self._series is None:
            return no_data_axes(ax, self.reason or "no grad norm series kept", title)
        ax = new_axes(ax, title)
        s = self._series
        ax.plot(s.index, s.to_numpy(), lw=0.9, color="black", label=self.metric)
        stage_colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown"]
        for k, st in enumerate(self._stage_series):
            c = stage_colors[k % len(stage_colors)]
            ax.plot(st.index, st.to_numpy(), lw=0.6, alpha=0.7, color=c, label=str(st.name))
        for k, stage in enumerate(self.stages):  # stage spikes: crosses in the stage's colour
            pts = [sp for sp in stage.spikes if sp.phase != FIRST_STEPS]
            if pts:
                ax.scatter([sp.step for sp in pts], [sp.value for sp in pts], marker="x", s=22, zorder=3,
                           color=stage_colors[k % len(stage_colors)])
        for sp in self.spikes:  # total-norm spikes: dots, grey in the first steps
            color = "tab:gray" if sp.phase == FIRST_STEPS else "tab:red"
            ax.scatter([sp.step], [sp.value], color=color, zorder=4, s=18)
        if self.max_grad_norm:
            ax.axhline(self.max_grad_norm, color="k", ls="--", lw=0.8, label=f"max_grad_norm {self.max_grad_norm:g}")
        if self.warmup_steps:
            ax.axvline(self.warmup_steps, color="tab:orange", ls=":", lw=0.8, label="end of warmup")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.legend(fontsize=7, loc="best", framealpha=0.6)
        return ax

    # the plotted series travel with the result but stay out of equality and repr
    _series: pd.Series | None = field(default=None, repr=False, compare=False)
    _stage_series: tuple[pd.Series, ...] = field(default=(), repr=False, compare=False)


def loss_spike_steps(run) -> tuple[list[int], float]:
    """Steps of loss spikes (default detection) and the loss logging interval (median step gap)."""
    from .loss import analyze_loss, loss_series

    _, loss = loss_series(run)
    if loss is None:
        return [], 1.0
    interval = float(np.median(np.diff(loss.index.to_numpy()))) if len(loss) > 1 else 1.0
    return [s.step for s in cached(run).result("loss", analyze_loss).spikes], max(interval, 1.0)


def clip_rate(
    grad_norm: pd.Series, clipped: pd.Series | None, max_grad_norm: float | None, after_step: int | None = None
) -> tuple[float | None, int, str | None]:
    """(fraction of steps clipped, number clipped, source) - from `clipped` if logged, else norm > max."""
    if clipped is not None and not finite(clipped).empty:
        c = finite(clipped)
        if after_step is not None:
            c = c[c.index > after_step]
        if c.empty:
            return None, 0, "clipped"
        hits = int((c > 0.5).sum())
        return hits / len(c), hits, "clipped"
    if max_grad_norm is None or max_grad_norm <= 0 or grad_norm.empty:
        return None, 0, None
    g = grad_norm if after_step is None else grad_norm[grad_norm.index > after_step]
    if g.empty:
        return None, 0, None
    hits = int((g > max_grad_norm).sum())
    return hits / len(g), hits, "grad_norm>max_grad_norm"


def vanishing_trend(
    grad_norm: pd.Series, loss: pd.Series | None, start_after: int, window_fraction: float = 0.1
) -> dict[str, float | None]:
    """Median norm (and loss) over an early and a late window, and the decades between them.

    The early window starts after the first steps, where the norm is not yet representative.
    """
    g = grad_norm[grad_norm.index >= start_after]
    g = g[g > 0]
    if len(g) < 4:
        return {}
    n = max(2, int(round(window_fraction * len(g))))
    early, late = g.iloc[:n], g.iloc[-n:]
    out: dict[str, float | None] = {
        "norm_start": float(early.median()),
        "norm_end": float(late.median()),
        "norm_min": float(g.min()),
    }
    out["norm_decades_drop"] = float(np.log10(out["norm_start"] / out["norm_end"]))
    if loss is not None and not loss.empty:
        le = loss[(loss.index >= early.index[0]) & (loss.index <= early.index[-1])]
        ll = loss[(loss.index >= late.index[0]) & (loss.index <= late.index[-1])]
        if not le.empty and not ll.empty:
            out["loss_start"] = float(le.median())
            out["loss_end"] = float(ll.median())
            out["loss_relative_change"] = (out["loss_end"] - out["loss_start"]) / abs(out["loss_start"]) if out["loss_start"] else None
    return out


def analyze_gradients(
    run,
    window: int = 50,
    z: float = 6.0,
    min_ratio: float = 1.5,
    loss_lag_points: int = 3,
    first_steps_min: int = 10,
    first_steps_fraction: float = 0.01,
    high_norm_factor: float = 2.0,
) -> GradientResult:
    """Spikes, clip rate and vanishing trend of the pre-clip gradient norm.

    window, z, min_ratio: passed to `detect_spikes` (points, robust z on log norm, ratio).
    loss_lag_points: a loss spike within this many loss logging intervals after a gradient
        spike counts as "loss spiked right after" (default 3).
    first_steps_min, first_steps_fraction: the first max(min, fraction * run length) steps
        are "first steps", where a large norm is normal (defaults 10 and 1%). Because a run
        without warmup is unstable exactly there, the first steps are also measured: how
        many norms exceed `high_norm_factor` (2.0) x the later median, the clip rate, and
        how far the loss climbed back above its running minimum.
    """
    run = cached(run)
    params = dict(window=window, z=z, min_ratio=min_ratio)
    g = finite(run.metric("grad_norm"))
    stage_series = {i: finite(s) for i, s in run.stages("grad_norm").items()}
    stage_series = {i: s for i, s in stage_series.items() if len(s) >= 2}
    if len(g) < 2 and stage_series:  # only per-stage norms logged: the total is their L2 sum
        joined = pd.concat(stage_series, axis=1).dropna()
        g = np.sqrt((joined**2).sum(axis=1)).rename("grad_norm")
    if len(g) < 2:
        logged = run.has_metric("grad_norm") or bool(run.stages("grad_norm"))
        why = ("fewer than 2 finite gradient norm values" if logged
               else "no gradient norm logged (grad_norm or grad_norm/stage{i})")
        return GradientResult.no_data(why, **params)

    first_step = int(g.index[0])
    last_step = int(g.index[-1])
    warmup, warmup_src, lr_name = warmup_steps_of(run)
    n_first = first_steps_count(last_step, first_step, first_steps_min, first_steps_fraction)
    lr = run.metric(lr_name) if lr_name else None
    loss_steps, interval = loss_spike_steps(run)
    from .loss import loss_series

    loss_name, loss = loss_series(run)
    loss_spikes = loss_steps if loss is not None else None
    lag = loss_lag_points * interval

    spikes = annotate_spikes(
        detect_spikes(g, metric="grad_norm", **params), warmup, n_first, first_step, lr, loss_spikes, lag
    )
    stages = []
    for i, s in sorted(stage_series.items()):
        stage_lr = run.metric(f"lr/stage{i}")
        stage_lr = stage_lr if not stage_lr.empty else lr
        sp = detect_spikes(s, metric=f"grad_norm/stage{i}", **params)
        share_s = stage_share(s, g) if not g.empty else pd.Series(dtype=float)
        stages.append(
            StageGradients(
                stage=i,
                metric=f"grad_norm/stage{i}",
                n_points=len(s),
                median_norm=float(s.median()),
                spikes=annotate_spikes(sp, warmup, n_first, first_step, stage_lr, loss_spikes, lag),
                share=float(share_s.median()) if not share_s.empty else None,
                weighted=tuple(w for w in (stage_spike_weight(x.step, s, g if not g.empty else None, loss) for x in sp)
                               if w is not None),
            )
        )

    early = g[g.index < first_step + n_first]
    rest = g[g.index >= first_step + n_first]
    first_max = float(early.max()) if not early.empty else None
    first_ratio = first_max / float(rest.median()) if first_max is not None and not rest.empty and rest.median() > 0 else None
    high = int((early > high_norm_factor * float(rest.median())).sum()) if not early.empty and not rest.empty else 0
    # "normal" is said of a single large norm only: norms high through all the first steps
    # are the early instability of a missing warmup, and the fields below carry it
    note = FIRST_STEPS_NOTE if first_ratio is not None and first_ratio > 1 and high <= 1 else ""
    early_end = first_step + n_first - 1
    early_rise = max_rise_above_running_min(loss, None, early_end)[0] if loss is not None else None

    max_gn = run.training.max_grad_norm
    clipped = run.metric("clipped")
    clipped = clipped if not clipped.empty else None
    rate, hits, src = clip_rate(g, clipped, max_gn)
    rate_after, _, _ = clip_rate(g, clipped, max_gn, after_step=max(warmup or 0, first_step + n_first - 1))

    vt = vanishing_trend(g, loss, first_step + n_first)
    used = ["grad_norm"] + [s.metric for s in stages]
    if src == "clipped":
        used.append("clipped")
    if lr_name:
        used.append(lr_name)
    if loss_name:
        used.append(loss_name)
    return GradientResult(
        metric="grad_norm",
        series_used=tuple(used),
        n_points=len(g),
        first_step=first_step,
        last_step=last_step,
        spikes=spikes,
        stages=tuple(stages),
        spikes_first_steps=sum(s.phase == FIRST_STEPS for s in spikes),
        spikes_warmup=sum(s.phase == WARMUP for s in spikes),
        spikes_after_warmup=sum(s.phase == AFTER_WARMUP for s in spikes),
        first_steps=n_first,
        first_steps_max_norm=first_max,
        first_steps_max_ratio=opt(first_ratio),
        first_steps_note=note,
        first_steps_high_norms=high,
        first_steps_clip_rate=opt(clip_rate(g[g.index <= early_end], clipped[clipped.index <= early_end] if clipped is not None else None, max_gn)[0]),
        first_steps_loss_rise=opt(early_rise),
        first_steps_loss_rise_p=opt(rise_p_value(loss, early_rise, relative_noise_scale(loss), None, early_end))
        if loss is not None else None,
        high_norm_factor=high_norm_factor,
        warmup_steps=warmup,
        warmup_source=warmup_src,
        max_grad_norm=max_gn,
        clip_rate=opt(rate),
        clip_rate_after_warmup=opt(rate_after),
        clipped_steps=hits,
        clip_source=src,
        norm_start=opt(vt.get("norm_start")),
        norm_end=opt(vt.get("norm_end")),
        norm_min=opt(vt.get("norm_min")),
        norm_decades_drop=opt(vt.get("norm_decades_drop")),
        loss_start=opt(vt.get("loss_start")),
        loss_end=opt(vt.get("loss_end")),
        loss_relative_change=opt(vt.get("loss_relative_change")),
        _series=g.rename("grad_norm"),
        _stage_series=tuple(s.rename(f"grad_norm/stage{i}") for i, s in sorted(stage_series.items())),
        **params,
    )
