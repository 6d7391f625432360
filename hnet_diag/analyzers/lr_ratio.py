"""LR ratio: the per-stage learning-rate multipliers against the H-Net paper's guidance.

H-Net trains outer stages with larger LRs (multipliers). The paper's Eq. 11 gives
multipliers from each stage's compression and width (`hnet_diag.paper`); a run's
multipliers are only a problem when the stage with the largest one is where the gradients
misbehave.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import paper
from .base import AnalyzerResult, new_axes, no_data_axes
from .cache import cached
from .phases import warmup_end_from_lr
from .spikes import value_at
from .trend import finite, opt


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
