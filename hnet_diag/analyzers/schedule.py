"""Learning-rate schedule: warmup length and the per-stage LR multipliers.

Warmup: the ratio alone (10% in the paper) is not evidence; instability concentrated at
the end of warmup, when the LR first reaches its peak, is. So the result carries the
spikes around that step next to the ratio.

LR ratio: H-Net trains outer stages with larger LRs (multipliers). The paper's Eq. 11
gives multipliers from each stage's compression and width; a run's multipliers are only a
problem when the stage with the largest one is where the gradients misbehave.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .cache import cached
from .base import AnalyzerResult, new_axes, no_data_axes
from .phases import FIRST_STEPS, lr_series, resolve_warmup, warmup_end_from_lr
from .spikes import Spike, value_at
from .noise import noise_scale, smooth_trend
from .trend import finite, max_rise_above_running_min, opt

from .. import paper


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


@dataclass(frozen=True)
class LRRatioResult(AnalyzerResult):
    """Per-stage LRs, their multipliers, and the paper's references."""

    source: str | None = None  # "logs", "checkpoint" or "config"
    series_used: tuple[str, ...] = ()
    reference_step: int | None = None  # step the LRs were read at (the peak of the base LR)
    stage_lrs: tuple[float, ...] = ()  # absolute LR per stage (outermost first), when known
    multipliers: tuple[float, ...] = ()  # per stage, relative to the base LR (innermost when no base)
    multipliers_relative_to: str | None = None  # "base_lr" or "innermost_stage"
    max_min_ratio: float | None = None
    largest_stage: int | None = None
    # the paper's Eq. 11
    rule_multipliers: tuple[float, ...] | None = None
    rule_max_min_ratio: float | None = None
    rule_targets: tuple[float, ...] | None = None  # N_s used
    rule_targets_source: str | None = None  # "config" or "paper_default"
    rule_widths: tuple[int, ...] | None = None  # D_s used
    multipliers_over_rule: tuple[float, ...] | None = None
    paper_suggested: tuple[float, ...] = paper.SUGGESTED_MULTIPLIERS
    paper_suggested_ratio: float = paper.SUGGESTED_RATIO
    # per-stage gradient behaviour
    stage_spike_counts: tuple[int, ...] | None = None  # gradient spikes after the first steps, per stage
    most_spiky_stage: int | None = None
    largest_stage_is_most_spiky: bool | None = None
    _stage_series: tuple[pd.Series, ...] = field(default=(), repr=False, compare=False)

    def plot(self, ax: Any = None) -> Any:
        """LR per stage over steps (logs), or bars of the multipliers against Eq. 11."""
        title = "Learning rate per stage"
        if not self.ok:
            return no_data_axes(ax, self.reason, title)
        ax = new_axes(ax, title)
        if self._stage_series:
            for st in self._stage_series:
                ax.plot(st.index, st.to_numpy(), lw=1.0, label=str(st.name))
            ax.set_xlabel("step")
            ax.set_ylabel("learning rate")
        else:
            x = np.arange(len(self.multipliers))
            ax.bar(x - 0.2, self.multipliers, width=0.4, label="run")
            if self.rule_multipliers and len(self.rule_multipliers) == len(self.multipliers):
                ax.bar(x + 0.2, self.rule_multipliers, width=0.4, label="paper Eq. 11")
            ax.set_xticks(x, [f"stage{i}" for i in x])
            ax.set_ylabel("LR multiplier")
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
            level = float(lf.median())
            scale = noise_scale(lf)
            out.update(window_loss_rise_trend=opt(trend_rise), window_loss_rise_trend_step=trend_step,
                       loss_noise_relative=opt(scale / abs(level)) if scale is not None and level else None)
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


def _multipliers_from_logs(run) -> dict[str, Any] | None:
    stages = {i: finite(s) for i, s in run.stages("lr").items()}
    stages = {i: s for i, s in stages.items() if not s.empty}
    if not stages:
        return None
    base = finite(run.metric("lr"))
    ref_series = base if not base.empty else stages[max(stages)]
    found = warmup_end_from_lr(ref_series) if len(ref_series) >= 2 else None
    ref_step = found[2] if found else int(ref_series.index[-1])
    lrs = [value_at(stages[i], ref_step) if i in stages else None for i in range(max(stages) + 1)]
    if any(v is None for v in lrs):
        return None
    if not base.empty and (b := value_at(base, ref_step)):
        mult, rel = [v / b for v in lrs], "base_lr"
    elif run.training.learning_rate:
        mult, rel = [v / run.training.learning_rate for v in lrs], "base_lr"
    else:
        mult, rel = [v / lrs[-1] for v in lrs], "innermost_stage"
    used = [f"lr/stage{i}" for i in sorted(stages)] + (["lr"] if not base.empty else [])
    return dict(source="logs", series_used=tuple(used), reference_step=ref_step, stage_lrs=tuple(lrs),
                multipliers=tuple(mult), multipliers_relative_to=rel,
                _stage_series=tuple(stages[i].rename(f"lr/stage{i}") for i in sorted(stages)))


def _multipliers_from_checkpoint(run) -> dict[str, Any] | None:
    for ckpt in sorted(run.checkpoints, key=lambda c: (c.step is None, -(c.step or 0))):
        by_stage: dict[int, dict[str, Any]] = {}
        for g in ckpt.param_groups:
            stage, mult = g.get("stage"), g.get("lr_multiplier")
            if isinstance(stage, int) and not isinstance(stage, bool) and isinstance(mult, (int, float)):
                by_stage.setdefault(stage, g)
        if by_stage and sorted(by_stage) == list(range(len(by_stage))):
            groups = [by_stage[i] for i in range(len(by_stage))]
            lrs = [g.get("lr") for g in groups]
            return dict(source="checkpoint", series_used=(ckpt.path,), reference_step=ckpt.step,
                        stage_lrs=tuple(float(x) for x in lrs) if all(isinstance(x, (int, float)) for x in lrs) else (),
                        multipliers=tuple(float(g["lr_multiplier"]) for g in groups), multipliers_relative_to="base_lr")
    return None


def analyze_lr_ratio(run) -> LRRatioResult:
    """Per-stage LR multipliers (logs, else checkpoint param groups, else config) vs the paper.

    Also counts gradient spikes per stage (after the first steps), so a rule can check
    whether the stage with the largest multiplier is the one that misbehaves.
    """
    run = cached(run)
    found = _multipliers_from_logs(run) or _multipliers_from_checkpoint(run)
    if found is None and run.training.lr_multipliers:
        found = dict(source="config", series_used=(run.training.source or "config",),
                     multipliers=tuple(float(x) for x in run.training.lr_multipliers), multipliers_relative_to="base_lr")
        if run.training.learning_rate:
            found["stage_lrs"] = tuple(m * run.training.learning_rate for m in found["multipliers"])
    if found is None:
        return LRRatioResult.no_data("no per-stage LR: no lr/stage{i} logs, no checkpoint param groups with lr_multiplier, no lr_multipliers in a config")
    mult = found["multipliers"]
    levels = len(mult)
    fields_: dict[str, Any] = dict(found)
    fields_["max_min_ratio"] = opt(max(mult) / min(mult)) if min(mult) > 0 else None
    fields_["largest_stage"] = int(np.argmax(mult))

    # the paper's Eq. 11 from the run's own targets and widths
    n_stages = levels - 1
    targets = run.training.target_compression
    t_src = "config" if targets else None
    if not targets and n_stages in paper.TARGETS_BY_STAGES:
        targets, t_src = paper.TARGETS_BY_STAGES[n_stages], "paper_default"
    widths = run.model.d_model
    if targets and widths and len(targets) == n_stages and len(widths) == levels:
        rule = paper.eq11_multipliers(targets, widths)
        fields_.update(rule_multipliers=rule, rule_max_min_ratio=max(rule) / min(rule), rule_targets=tuple(targets),
                       rule_targets_source=t_src, rule_widths=tuple(int(w) for w in widths),
                       multipliers_over_rule=tuple(m / r for m, r in zip(mult, rule)))

    from .gradients import analyze_gradients

    grads = run.result("gradients", analyze_gradients)
    if grads.ok and grads.stages:
        counts = {st.stage: len(st.spikes_after_first_steps) for st in grads.stages}
        per = tuple(counts.get(i, 0) for i in range(levels))
        fields_["stage_spike_counts"] = per
        if max(per) > 0:
            top = [i for i, c in enumerate(per) if c == max(per)]
            fields_["most_spiky_stage"] = top[0]
            fields_["largest_stage_is_most_spiky"] = fields_["largest_stage"] in top
    return LRRatioResult(**fields_)
