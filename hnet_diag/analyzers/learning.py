"""Is the run learning at all? Plateaus from the start, rebounds, collapsed gradients.

Measures, for the rules of the no-learning, rebound and gradient-collapse families:

- the training loss's gain over the run (first tenth against last fifth, by medians) in
  relative terms and in units of its own noise (`noise.noise_scale`);
- every validation loss pinned at a constant (all points within a tolerance of the first),
  and whether that constant is ln(k) for a whole k (a k-way classifier at chance), with any
  validation accuracy near 1/k;
- a rebound: the loss's trend (`noise.smooth_trend`) ended at k x its minimum and stayed
  there (the share of the last window above the level), with how much of what it learned
  it gave back;
- gradient collapse: the gradient norm exactly 0 over the end of the run, or fallen by
  orders of magnitude; the same for a logged `entropy`;
- per H-Net stage, its share of the total gradient norm (stage / total; a stage that
  receives almost none of it is not being trained).

The training loss is `loss`/`bpb`, else the loss-named metric with the most points
(`mean_loss`, `total_loss`, ... a CSV without a plain `loss` column), so a run that logs
its loss under another name is still judged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .base import AnalyzerResult, new_axes, no_data_axes
from .cache import cached
from .loss import loss_series
from .noise import noise_scale, smooth_trend
from .trend import finite, mann_kendall_z, opt
from .validation import val_accuracy_series, val_loss_series

#: largest class count tried when matching a pinned eval loss to ln(k)
MAX_CLASSES = 100_000


@dataclass(frozen=True)
class PinnedSeries:
    """A validation series that did not move: every point within `spread` of the first."""

    metric: str
    points: int
    first_step: int
    last_step: int
    level: float
    spread: float  # max |v - v0| / |v0|
    chance_classes: int | None = None  # k when level ~= ln(k)
    accuracy_metric: str | None = None
    accuracy: float | None = None  # median validation accuracy
    accuracy_chance: float | None = None  # 1/k


@dataclass(frozen=True)
class StageShare:
    stage: int
    metric: str
    median_share: float  # median of stage / total gradient norm over the run


@dataclass(frozen=True)
class LearningResult(AnalyzerResult):
    loss_metric: str | None = None
    points: int = 0
    head_median: float | None = None
    tail_median: float | None = None
    head_window: tuple[int, int] | None = None
    tail_window: tuple[int, int] | None = None
    gain_relative: float | None = None  # (head - tail) / |head|; <= 0: no improvement
    noise: float | None = None  # robust noise scale of the loss around its trend
    gain_over_noise: float | None = None  # (head - tail) / noise
    trend_z: float | None = None  # Mann-Kendall z over the whole run (< 0 falling)
    # a loss identical to the last digit from (nearly) the start to the end
    constant_points: int = 0  # trailing points exactly equal to the last value
    constant_value: float | None = None
    constant_from_step: int | None = None  # first step of that stretch
    constant_from_start: bool = False  # the stretch began within the first tenth of the points
    constant_grad_median: float | None = None  # median grad norm over the stretch (None: not logged)
    # rebound
    trend_min: float | None = None  # minimum of the smooth trend before the last window
    trend_min_step: int | None = None
    end_level: float | None = None  # median of the last window
    end_over_min: float | None = None
    given_back: float | None = None  # (end - min) / (head - min): share of the gain lost
    end_share_above_2x: float | None = None  # share of last-window points above 2 x min
    # validation pinned
    pinned: tuple[PinnedSeries, ...] = ()
    val_series: tuple[str, ...] = ()
    # gradient collapse
    grad_metric: str | None = None
    grad_points: int = 0
    grad_zero_tail: int = 0  # trailing points exactly 0
    grad_zero_share: float | None = None  # share of all points exactly 0
    grad_first_zero_step: int | None = None
    grad_head: float | None = None
    grad_tail: float | None = None
    grad_tail_over_head: float | None = None
    entropy_metric: str | None = None
    entropy_tail_over_head: float | None = None
    # H-Net stages
    stage_shares: tuple[StageShare, ...] = ()
    _loss: pd.Series | None = field(default=None, repr=False, compare=False)
    _trend: pd.Series | None = field(default=None, repr=False, compare=False)

    def plot(self, ax: Any = None) -> Any:
        title = "Learning"
        if not self.ok or self._loss is None:
            return no_data_axes(ax, self.reason or "no loss kept", title)
        ax = new_axes(ax, title)
        ax.plot(self._loss.index, self._loss.to_numpy(), lw=0.6, color="tab:blue", alpha=0.6, label=self.loss_metric)
        if self._trend is not None:
            ax.plot(self._trend.index, self._trend.to_numpy(), lw=1.4, color="tab:red", label="trend")
        ax.set_xlabel("step")
        ax.legend(fontsize=7, loc="best", framealpha=0.6)
        return ax


def training_loss(run) -> tuple[str | None, pd.Series | None]:
    """The training loss (`loss.loss_series`: `loss`, `bpb`, else a loss-named metric)."""
    return loss_series(run)


def chance_classes(level: float, tol: float = 0.002) -> int | None:
    """k when `level` is within `tol` (relative) of ln(k), 2 <= k <= MAX_CLASSES."""
    if not level or level <= 0 or not math.isfinite(level):
        return None
    k = int(round(math.exp(level)))
    if 2 <= k <= MAX_CLASSES and abs(math.log(k) - level) <= tol * level:
        return k
    return None


def pinned_series(run, tol: float = 0.005, min_points: int = 3) -> list[PinnedSeries]:
    out = []
    accs = val_accuracy_series(run)
    for name, s in val_loss_series(run).items():
        if len(s) < min_points:
            continue
        v0 = float(s.iloc[0])
        spread = float(np.max(np.abs(s.to_numpy() - v0)) / abs(v0)) if v0 else float("inf")
        if spread > tol:
            continue
        level = float(s.median())
        k = chance_classes(level)
        acc_name = acc = chance = None
        if k is not None and accs:
            acc_name, a = next(iter(accs.items()))
            acc, chance = float(a.median()), 1.0 / k
        out.append(PinnedSeries(metric=name, points=len(s), first_step=int(s.index[0]), last_step=int(s.index[-1]),
                                level=level, spread=spread, chance_classes=k, accuracy_metric=acc_name,
                                accuracy=acc, accuracy_chance=chance))
    return out


def _grad_fields(run) -> dict[str, Any]:
    g = run.metric("grad_norm")
    if g.empty:
        return {}
    gf = finite(g)
    out: dict[str, Any] = {"grad_metric": "grad_norm", "grad_points": int(len(g))}
    if gf.empty:
        return out
    v = gf.to_numpy()
    zeros = v == 0.0
    trailing = 0
    for z in zeros[::-1]:
        if not z:
            break
        trailing += 1
    out.update(grad_zero_tail=trailing, grad_zero_share=float(zeros.mean()),
               grad_first_zero_step=int(gf.index[np.argmax(zeros)]) if zeros.any() else None)
    n = len(v)
    if n >= 5:
        head = float(np.median(v[: max(2, n // 10)]))
        tailv = float(np.median(v[-max(2, n // 5):]))
        out.update(grad_head=head, grad_tail=tailv, grad_tail_over_head=tailv / head if head > 0 else None)
    return out


def constant_stretch(loss: pd.Series, head_points: int, grad: pd.Series) -> dict[str, Any]:
    """The trailing stretch of a loss that is exactly one value, and whether it began in the head.

    A model that learns never logs the same loss to the last digit point after point: a loss
    that is exactly constant from its first tenth to its end (122.14 then 0.0 thirty-six
    times: every target masked out of the loss) means nothing reaches the optimiser. Only
    the start matters: a loss that descended and was rounded to 0.0 at the end (LLaMA-Factory
    logs 4 decimals) learned, and too well. Where gradients were logged and flowed through
    the stretch, the loss is a surrogate whose value carries no signal (GRPO with beta = 0
    logs 0.0 while it trains), so the median grad norm over the stretch travels with it.
    """
    v = loss.to_numpy()
    k = 0
    while k < len(v) and v[-1 - k] == v[-1]:
        k += 1
    first = int(loss.index[len(v) - k])
    g = grad[grad.index >= first] if not grad.empty else grad
    return dict(constant_points=k, constant_value=float(v[-1]), constant_from_step=first,
                constant_from_start=len(v) - k < head_points,
                constant_grad_median=float(g.median()) if not g.empty else None)


def _entropy_fields(run) -> dict[str, Any]:
    for name in run.metric_names():
        if str(name).lower().split("/")[-1] == "entropy":
            e = finite(run.metric(name))
            n = len(e)
            if n >= 5:
                head = float(e.iloc[: max(2, n // 10)].median())
                tailv = float(e.iloc[-max(2, n // 5):].median())
                return {"entropy_metric": name, "entropy_tail_over_head": tailv / head if head > 0 else None}
    return {}


def _stage_fields(run) -> dict[str, Any]:
    stages = run.stages("grad_norm")
    total = run.metric("grad_norm")
    if not stages:
        return {}
    if total.empty:  # no total logged: the stages add in quadrature
        frame = pd.concat({i: finite(s) for i, s in stages.items()}, axis=1).dropna()
        total = np.sqrt((frame ** 2).sum(axis=1))
    from .noise import stage_share

    shares = []
    for i, s in stages.items():
        sh = stage_share(s, total)
        if not sh.empty:
            shares.append(StageShare(stage=i, metric=f"grad_norm/stage{i}", median_share=float(sh.median())))
    return {"stage_shares": tuple(shares)}


def _given_back(head: float, trend_min: float, end: float) -> float | None:
    """Share of the early gain (first-tenth median minus the trend's minimum) the end lost.

    A loss whose minimum is its first tenth's level learned nothing to give back: if it ends
    above its minimum it lost more than all it had (infinite), if not, nothing (zero).
    """
    if head > trend_min:
        return (end - trend_min) / (head - trend_min)
    return math.inf if end > trend_min else 0.0


def analyze_learning(run, head_fraction: float = 0.1, tail_fraction: float = 0.2, end_fraction: float = 0.1,
                     pinned_tol: float = 0.005) -> LearningResult:
    """Gain over the run, rebound from the minimum, pinned validation, collapsed gradients.

    head_fraction, tail_fraction: the first and last share of points whose medians are
        compared for the gain (0.1, 0.2; at least 2 points each).
    end_fraction: the last share of points that must hold a rebound (0.1, at least 3).
    pinned_tol: a validation series is pinned when all its points lie within this relative
        distance of the first (0.005).
    """
    run = cached(run)
    base: dict[str, Any] = {}
    base.update(_grad_fields(run))
    base.update(_entropy_fields(run))
    base.update(_stage_fields(run))
    vals = val_loss_series(run)
    base.update(pinned=tuple(pinned_series(run, pinned_tol)), val_series=tuple(vals))
    name, raw = training_loss(run)
    if raw is None:
        return LearningResult.no_data("no training loss logged", **base)
    s = finite(raw)
    n = len(s)
    if n < 5:
        return LearningResult.no_data(f"fewer than 5 finite `{name}` values", loss_metric=name, points=n, **base)
    kh, kt = max(2, int(n * head_fraction)), max(2, int(n * tail_fraction))
    head, tail = s.iloc[:kh], s.iloc[-kt:]
    hm, tm = float(head.median()), float(tail.median())
    noise = noise_scale(s)
    gain = hm - tm
    trend = smooth_trend(s)
    ke = max(3, int(n * end_fraction))
    before_end = trend.iloc[:-ke] if n > ke else trend
    tmin = float(before_end.min())
    end = float(s.iloc[-ke:].median())
    reb: dict[str, Any] = dict(trend_min=tmin, trend_min_step=int(before_end.idxmin()), end_level=end,
                               end_over_min=opt(end / tmin) if tmin > 0 else None,
                               given_back=_given_back(hm, tmin, end),
                               end_share_above_2x=float((s.iloc[-ke:] > 2 * tmin).mean()) if tmin > 0 else None)
    return LearningResult(
        **constant_stretch(s, kh, finite(run.metric("grad_norm"))),
        loss_metric=name, points=n, head_median=hm, tail_median=tm,
        head_window=(int(head.index[0]), int(head.index[-1])), tail_window=(int(tail.index[0]), int(tail.index[-1])),
        gain_relative=opt(gain / abs(hm)) if hm else None,
        noise=opt(noise), gain_over_noise=opt(gain / noise) if noise else None,
        trend_z=opt(mann_kendall_z(s)),
        _loss=s, _trend=trend, **reb, **base,
    )
