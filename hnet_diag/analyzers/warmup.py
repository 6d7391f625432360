"""Warmup: how long, and whether the run was unstable where it ended.

The ratio alone (10% in the paper) is not evidence; instability concentrated at the end of
warmup, when the LR first reaches its peak, is. So the result carries the spikes around
that step next to the ratio, and the loss climb, clip rate and peak norm inside that window
(which also see a run with no warmup at all, unstable in its first steps).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .base import AnalyzerResult, new_axes, no_data_axes
from .cache import cached
from .noise import relative_noise_scale, rise_p_value, smooth_trend, trend_window
from .phases import FIRST_STEPS, lr_series, resolve_warmup, warmup_end_from_lr
from .spikes import Spike
from .trend import finite, max_rise_above_running_min, opt


@dataclass(frozen=True)
class WarmupResult(AnalyzerResult):
    """Warmup length and the instability around its end."""

    warmup_steps: int | None = None  # the value used (LR series first, else config)
    warmup_steps_lr: int | None = None  # from the LR series: first step at the peak
    warmup_steps_config: int | None = None
    source: str | None = None  # "lr_series", "config"
    lr_metric: str | None = None
    peak_lr: float | None = None
    peak_lr_step: int | None = None
    planned_steps: int | None = None
    warmup_fraction: float | None = None  # warmup_steps / planned_steps (last step if no plan)
    fraction_of: str | None = None  # "planned_steps" or "last_step"
    tokens_per_step: int | None = None  # batch_size * seq_len
    warmup_tokens: int | None = None
    # evidence: spikes around the end of warmup
    near_window: tuple[int, int] | None = None  # steps [lo, hi] counted as "near the end of warmup"
    spikes_near_end: tuple[Spike, ...] = ()  # gradient and loss spikes in that window
    grad_spikes_near_end: int = 0
    loss_spikes_near_end: int = 0
    spikes_total: int = 0  # gradient + loss spikes outside the first steps
    fraction_near_end: float | None = None  # spikes near end / spikes_total
    window_fraction: float | None = None  # share of the run's steps the window covers
    concentration: float | None = None  # fraction_near_end / window_fraction (1 = uniform)
    # instability in the window, first steps included (with no warmup, that is where it shows)
    window_loss_rise: float | None = None  # max loss / running min before it - 1, within near_window
    window_loss_rise_trend: float | None = None  # the same rise on the loss's trend (noise.smooth_trend)
    window_loss_rise_trend_step: int | None = None
    loss_noise_relative: float | None = None  # the loss's scatter around its trend / its median
    # share of noise-only series (a loss that never rose, this scatter) climbing as far (noise.rise_p_value)
    window_loss_rise_trend_p: float | None = None
    window_loss_rise_step: int | None = None
    window_clip_rate: float | None = None  # fraction of clipped steps within near_window
    window_max_norm_ratio: float | None = None  # max grad norm in the window / median norm after it
    _lr: pd.Series | None = field(default=None, repr=False, compare=False)

    def plot(self, ax: Any = None) -> Any:
        """The LR series with the end of warmup, its window, and the spikes near it."""
        title = "Warmup"
        if not self.ok:
            return no_data_axes(ax, self.reason, title)
        ax = new_axes(ax, title)
        if self._lr is not None and not self._lr.empty:
            ax.plot(self._lr.index, self._lr.to_numpy(), lw=1.0, color="tab:blue", label=self.lr_metric)
        if self.warmup_steps is not None:
            ax.axvline(self.warmup_steps, color="tab:orange", ls=":", label=f"end of warmup ({self.warmup_steps})")
        if self.near_window:
            ax.axvspan(*self.near_window, color="tab:orange", alpha=0.12, label="near end of warmup")
        for sp in self.spikes_near_end:
            ax.axvline(sp.step, color="tab:red", lw=0.6, alpha=0.7)
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.legend(fontsize=7, loc="best", framealpha=0.6)
        return ax


def analyze_warmup(
    run,
    before_fraction: float = 0.5,
    after_fraction: float = 0.1,
    after_min_steps: int = 10,
) -> WarmupResult:
    """Warmup length (LR series, else config), its share of the plan, and spikes near its end.

    The window "near the end of warmup" is [W - before_fraction * W, W + max(after_min_steps,
    after_fraction * run length)]: the last part of the ramp and the first stretch at peak
    LR, where a too-short warmup shows. Spikes in the first steps are left out everywhere.
    """
    run = cached(run)
    name, lr = lr_series(run)
    found = warmup_end_from_lr(lr) if lr is not None else None
    cfg_w = run.training.warmup_steps
    peak, peak_step = (found[1], found[2]) if found is not None else (None, None)
    warmup, source = resolve_warmup(found[0] if found else None, int(lr.index[0]) if found else None, cfg_w)
    if warmup is None:
        return WarmupResult.no_data("no LR series and no warmup_steps in any config")
    warmup_lr = found[0] if found is not None else None

    planned = run.training.max_steps
    last = run.last_step
    denom, of = (planned, "planned_steps") if planned else (last, "last_step")
    fraction = warmup / denom if denom else None
    bs, sl = run.training.batch_size, run.training.seq_len
    tps = int(bs * sl) if bs and sl else None

    from .gradients import analyze_gradients
    from .loss import analyze_loss

    grads = run.result("gradients", analyze_gradients)
    losses = run.result("loss", analyze_loss)
    grad_spikes = _dedupe([*grads.spikes, *(sp for st in grads.stages for sp in st.spikes)])
    grad_spikes = [sp for sp in grad_spikes if sp.phase != FIRST_STEPS]
    loss_spikes = [sp for sp in losses.spikes if sp.phase != FIRST_STEPS]

    first = int(run.scalars["step"].min()) if not run.scalars.empty else 0
    span = max((last or 0) - first, 1)
    lo = max(first, int(math.floor(warmup - before_fraction * warmup)))
    hi = int(math.ceil(warmup + max(after_min_steps, after_fraction * span)))
    near = [sp for sp in [*grad_spikes, *loss_spikes] if lo <= sp.step <= hi]
    total = len(grad_spikes) + len(loss_spikes)
    frac_near = len(near) / total if total else None
    window_frac = min(1.0, (min(hi, last or hi) - lo) / span) if span else None
    conc = frac_near / window_frac if frac_near is not None and window_frac else None
    instab = window_instability(run, lo, hi)
    return WarmupResult(
        warmup_steps=warmup,
        warmup_steps_lr=warmup_lr,
        warmup_steps_config=cfg_w,
        source=source,
        lr_metric=name,
        peak_lr=peak,
        peak_lr_step=peak_step,
        planned_steps=planned,
        warmup_fraction=opt(fraction),
        fraction_of=of if fraction is not None else None,
        tokens_per_step=tps,
        warmup_tokens=warmup * tps if tps else None,
        near_window=(lo, hi),
        spikes_near_end=tuple(sorted(near, key=lambda sp: (sp.step, sp.metric))),
        grad_spikes_near_end=sum(sp in grad_spikes for sp in near),
        loss_spikes_near_end=sum(sp in loss_spikes for sp in near),
        spikes_total=total,
        fraction_near_end=opt(frac_near),
        window_fraction=opt(window_frac),
        concentration=opt(conc),
        **instab,
        _lr=lr,
    )


def window_instability(run, lo: int, hi: int) -> dict[str, Any]:
    """Loss climb, clip rate and peak norm inside [lo, hi], first steps included.

    Spikes are not detected in the first steps (no baseline yet), yet a run without warmup
    is unstable exactly there; these three numbers see it: the loss climbing back above its
    running minimum, most steps clipped, norms far above the later median.
    """
    from .loss import loss_series

    out: dict[str, Any] = {}
    _, loss = loss_series(run)
    if loss is not None:
        rise, step = max_rise_above_running_min(loss, lo, hi)
        out.update(window_loss_rise=opt(rise), window_loss_rise_step=step)
        # the same rise on the loss's trend, and the loss's own relative scatter: a per-step
        # fine-tune log's noise alone can climb 15% above its running minimum
        lf = finite(loss)
        if len(lf) >= 5:
            trend_rise, trend_step = max_rise_above_running_min(smooth_trend(lf), lo, hi)
            noise = relative_noise_scale(lf)
            out.update(window_loss_rise_trend=opt(trend_rise), window_loss_rise_trend_step=trend_step,
                       loss_noise_relative=opt(noise),
                       window_loss_rise_trend_p=opt(rise_p_value(lf, trend_rise, noise, lo, hi,
                                                                 window=trend_window(len(lf)))))
    clipped = finite(run.metric("clipped"))
    g = finite(run.metric("grad_norm"))
    if not clipped.empty:
        c = clipped[(clipped.index >= lo) & (clipped.index <= hi)]
        out["window_clip_rate"] = float((c > 0.5).mean()) if not c.empty else None
    elif not g.empty and run.training.max_grad_norm and run.training.max_grad_norm > 0:
        w = g[(g.index >= lo) & (g.index <= hi)]
        out["window_clip_rate"] = float((w > run.training.max_grad_norm).mean()) if not w.empty else None
    if not g.empty:
        inside, after = g[(g.index >= lo) & (g.index <= hi)], g[g.index > hi]
        if not inside.empty and not after.empty and after.median() > 0:
            out["window_max_norm_ratio"] = float(inside.max() / after.median())
    return out


def _dedupe(spikes: list[Spike]) -> list[Spike]:
    """One spike per step: the total norm's when it and a stage's fall on the same step."""
    seen: dict[int, Spike] = {}
    for sp in spikes:
        seen.setdefault(sp.step, sp)
    return sorted(seen.values(), key=lambda sp: sp.step)


