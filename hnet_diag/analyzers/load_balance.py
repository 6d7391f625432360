"""H-Net load balance: ratio loss, realized compression, F vs G, undecided routing.

The ratio loss has its minimum 1.0 at F = G = 1/N but can dip below 1 when F != G, so it
proves nothing alone: compression (1/F) against the target N is the real test, and G
piling up near 0.5 (undecided routing) explains compressions that wander. All values are
medians over the last part of the run, where the routing should have settled.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .cache import cached
from .base import AnalyzerResult, new_axes, no_data_axes
from .. import paper
from .trend import finite, mann_kendall_z, opt, tail, theil_sen

#: per-stage routing metric families the analyzer reads
FAMILIES = ("ratio_loss", "compression", "boundary_frac", "boundary_prob", "boundary_undecided")


@dataclass(frozen=True)
class StageBalance:
    """Routing measurements of one chunking stage (stage 0 = byte level)."""

    stage: int
    series_used: tuple[str, ...] = ()
    tail_window: tuple[int, int] | None = None  # steps the medians cover
    target: float | None = None  # N
    target_source: str | None = None  # "config" or "paper_default"
    ratio_loss: float | None = None  # median over the tail
    ratio_loss_excess: float | None = None  # ratio_loss - 1.0 (its minimum when F = G)
    compression: float | None = None  # 1/F, median over the tail
    compression_relative_error: float | None = None  # (compression - N) / N
    boundary_frac: float | None = None  # F
    boundary_prob: float | None = None  # G
    f_minus_g: float | None = None
    f_times_target: float | None = None  # F * N: 1 on target, -> 0 almost no boundaries
    undecided_frac: float | None = None  # fraction of probabilities within 0.05 of 0.5
    g_distance_from_half: float | None = None  # |G - 0.5|
    compression_slope_per_1k: float | None = None  # Theil-Sen, compression units per 1000 steps
    compression_slope_relative: float | None = None  # per 1000 steps, relative to the median
    compression_trend_z: float | None = None  # Mann-Kendall z of the tail (noise-aware)


@dataclass(frozen=True)
class LoadBalanceResult(AnalyzerResult):
    stages: tuple[StageBalance, ...] = ()
    total_compression: float | None = None  # product of per-stage compressions (bytes per innermost chunk)
    tail_fraction: float = 0.2
    _compression: tuple[pd.Series, ...] = field(default=(), repr=False, compare=False)

    def plot(self, ax: Any = None) -> Any:
        """Realized compression (1/F) per stage over steps, with each stage's target N."""
        title = "Compression per stage"
        if not self.ok or not self._compression:
            return no_data_axes(ax, self.reason or "no compression series", title)
        ax = new_axes(ax, title)
        colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
        for k, series in enumerate(self._compression):
            c = colors[k % len(colors)]
            ax.plot(series.index, series.to_numpy(), lw=0.9, color=c, label=str(series.name))
            st = next((b for b in self.stages if f"stage{b.stage}" in str(series.name)), None)
            if st is not None and st.target:
                ax.axhline(st.target, color=c, ls="--", lw=0.8, label=f"target N={st.target:g}")
        # early routing transients (1/F of a nearly empty selection) would flatten the rest
        values = np.concatenate([s.to_numpy() for s in self._compression if not s.empty] or [np.array([1.0])])
        targets = [b.target for b in self.stages if b.target]
        top = max([float(np.quantile(values, 0.98)) * 1.2] + [2.5 * t for t in targets])
        ax.set_ylim(0, top)
        ax.set_xlabel("step")
        ax.set_ylabel("positions per boundary (1/F)")
        ax.legend(fontsize=7, loc="best", framealpha=0.6)
        return ax


def stage_balance(
    stage: int, series: dict[str, pd.Series], target: float | None, target_source: str | None, tail_fraction: float = 0.2
) -> StageBalance:
    """Medians over the last `tail_fraction` of one stage's routing series, and their trends.

    `series` maps family ("boundary_frac", ...) to its step-indexed series. Compression is
    1/F from the boundary fraction when logged (the logged compression can be Inf when a
    step selected no boundary), else the logged compression itself.
    """
    def med(name: str) -> tuple[float | None, pd.Series | None]:
        s = series.get(name)
        if s is None:
            return None, None
        t = tail(s, tail_fraction)
        return (float(t.median()), t) if not t.empty else (None, None)

    frac, frac_t = med("boundary_frac")
    prob, _ = med("boundary_prob")
    rl, _ = med("ratio_loss")
    und, _ = med("boundary_undecided")
    comp_series = None
    if "boundary_frac" in series:
        f = finite(series["boundary_frac"])
        comp_series = (1.0 / f.where(f > 0)).replace([np.inf], np.nan)
    elif "compression" in series:
        comp_series = series["compression"].replace([np.inf, -np.inf], np.nan)
    comp = None
    if frac is not None:
        comp = 1.0 / frac if frac > 0 else math.inf
    elif "compression" in series:
        c = tail(series["compression"].replace(-np.inf, np.nan).dropna(), tail_fraction)
        comp = float(c.median()) if not c.empty else None
    slope = slope_rel = trend = None
    window = None
    if comp_series is not None:
        ct = tail(finite(comp_series), tail_fraction)
        if len(ct) >= 3:
            slope = theil_sen(ct)[0] * 1000.0
            slope_rel = slope / float(ct.median()) if ct.median() else None
            trend = mann_kendall_z(ct)
    tails = [tail(s, tail_fraction) for s in series.values()]
    tails = [t for t in tails if not t.empty]
    if tails:
        window = (min(int(t.index[0]) for t in tails), max(int(t.index[-1]) for t in tails))
    rel_err = (comp - target) / target if comp is not None and target and math.isfinite(comp) else None
    return StageBalance(
        stage=stage,
        series_used=tuple(f"{fam}/stage{stage}" for fam in FAMILIES if fam in series),
        tail_window=window,
        target=target,
        target_source=target_source,
        ratio_loss=rl,
        ratio_loss_excess=rl - 1.0 if rl is not None else None,
        compression=comp,
        compression_relative_error=opt(rel_err),
        boundary_frac=frac,
        boundary_prob=prob,
        f_minus_g=frac - prob if frac is not None and prob is not None else None,
        f_times_target=frac * target if frac is not None and target else None,
        undecided_frac=und,
        g_distance_from_half=abs(prob - 0.5) if prob is not None else None,
        compression_slope_per_1k=opt(slope),
        compression_slope_relative=opt(slope_rel),
        compression_trend_z=opt(trend),
    )


def analyze_load_balance(run, tail_fraction: float = 0.2) -> LoadBalanceResult:
    """Per chunking stage: ratio loss, compression vs target, F vs G, undecided routing, trends.

    tail_fraction: the last part of the run the medians and slopes cover (default 0.2).
    Targets N come from the training config (`target_compression`), else the paper's
    defaults for the number of stages (N=6 for one stage, (3, 3) for two).
    """
    run = cached(run)
    per_stage: dict[int, dict[str, pd.Series]] = {}
    for fam in FAMILIES:
        for i, s in run.stages(fam).items():
            s = s.dropna()
            if not s.empty:
                per_stage.setdefault(i, {})[fam] = s
    if not per_stage:
        return LoadBalanceResult.no_data(
            "no routing metrics logged (ratio_loss/stage{i}, compression/stage{i}, boundary_frac/stage{i}...)",
            tail_fraction=tail_fraction,
        )
    n_stages = run.model.num_stages or (max(per_stage) + 1)
    targets = run.training.target_compression
    t_src = "config" if targets else None
    if not targets and n_stages in paper.TARGETS_BY_STAGES:
        targets, t_src = paper.TARGETS_BY_STAGES[n_stages], "paper_default"
    stages = []
    for i in sorted(per_stage):
        target = float(targets[i]) if targets and i < len(targets) else None
        stages.append(stage_balance(i, per_stage[i], target, t_src if target else None, tail_fraction))
    comps = [b.compression for b in stages]
    total = math.prod(comps) if comps and all(c is not None for c in comps) else None
    plotted = []
    for i in sorted(per_stage):
        fam = per_stage[i]
        if "boundary_frac" in fam:
            f = finite(fam["boundary_frac"])
            plotted.append((1.0 / f.where(f > 0)).dropna().rename(f"compression/stage{i}"))
        elif "compression" in fam:
            plotted.append(finite(fam["compression"]).rename(f"compression/stage{i}"))
    return LoadBalanceResult(stages=tuple(stages), total_compression=opt(total), tail_fraction=tail_fraction,
                             _compression=tuple(plotted))
