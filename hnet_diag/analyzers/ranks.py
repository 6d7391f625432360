"""Ranks that depart from the others: a desynchronised replica or a bad node.

With data parallelism every rank logs its own loss (its own micro-batches, so the ranks
differ by sampling noise) and, after the all-reduce, the same gradient norm. A rank whose
loss or gradient norm leaves the pack for several logged steps is not noise: a replica that
stopped synchronising, silent data corruption on one GPU, a node whose data loader repeats.

Each rank's series is smoothed by a rolling median of `SMOOTH` logged points (one unlucky
micro-batch is not a departure), then compared, step by step, with the median of the
*other* ranks (so at least three ranks are needed: with two one cannot tell which one
departed). Gaps are log ratios; the noise is their pooled robust spread (MAD x 1.4826) over
all ranks and steps, floored at 0.1% because all-reduced gradient norms agree exactly. A
point departs when its gap exceeds both `min_z` noises and `min_gap`, or when the rank wrote
NaN/Inf while the others have values. The onset may lead the true one by `SMOOTH // 2`
points (centred window). A rank departs when `min_points` of its compared
steps do; the result keeps the onset step and the sizes as evidence. Thresholds are
arguments so a rule can set them; the analyzer only measures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import warnings

import numpy as np
import pandas as pd

from .base import AnalyzerResult, new_axes, no_data_axes

#: metrics compared across ranks, canonical names
RANK_METRICS = ("loss", "grad_norm")
MIN_RANKS = 3
#: rolling-median window (logged points): one noisy micro-batch is not a departure
SMOOTH = 5
#: smallest noise in log-ratio units (0.1%): all-reduced gradient norms agree exactly
NOISE_FLOOR = 1e-3


@dataclass(frozen=True)
class RankDeparture:
    """One rank leaving the others on one metric."""

    metric: str
    rank: int
    first_step: int  # onset: first departing step
    last_step: int
    n_points: int  # departing steps
    n_compared: int  # steps this rank was compared on
    median_rel_gap: float  # over departing steps: (rank - others' median) / |others' median|
    max_rel_gap: float
    z: float  # median |gap| over departing steps, in cross-rank noise units
    example_step: int
    value: float  # the rank's value at example_step
    others_median: float  # the other ranks' median there
    non_finite: int  # departing steps where this rank alone was NaN/Inf


@dataclass(frozen=True)
class RankResult(AnalyzerResult):
    ranks: tuple[int, ...] = ()
    metrics: tuple[str, ...] = ()  # metrics compared (logged by >= 3 ranks on shared steps)
    noise: tuple[tuple[str, float], ...] = ()  # (metric, cross-rank noise)
    departures: tuple[RankDeparture, ...] = ()
    _series: Any = None  # {metric: step x rank frame}, for the plot

    def plot(self, ax: Any = None) -> Any:
        if not self.ok or not self._series:
            return no_data_axes(ax, self.reason or "no per-rank series")
        metric = self.departures[0].metric if self.departures else next(iter(self._series))
        frame = self._series[metric]
        ax = new_axes(ax, f"{metric} per rank")
        bad = {d.rank for d in self.departures if d.metric == metric}
        for rank in frame.columns:
            s = frame[rank].dropna()
            ax.plot(s.index, s.values, lw=1.6 if rank in bad else 0.6, alpha=1.0 if rank in bad else 0.5,
                    label=f"rank {rank}" + (" (departs)" if rank in bad else ""), color="C3" if rank in bad else None)
        if bad and len(frame.columns) <= 16:
            ax.legend(fontsize=7)
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        return ax


def rank_frames(run: Any, metrics: tuple[str, ...] = RANK_METRICS) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """{metric: (values, logged)}: step x rank frames of the values and of whether the rank
    logged that step (a NaN the rank wrote is not a step it skipped). One stream per rank
    (the longest, as `Run.metric` picks)."""
    df = run.scalars
    if df.empty or "rank" not in df.columns:
        return {}
    out = {}
    for metric in metrics:
        sel = df[(df["metric"] == metric) & df["rank"].notna()]
        if sel.empty or sel["rank"].nunique() < 2:
            continue
        cols = {}
        for rank, part in sel.groupby("rank", sort=True):
            if part["stream"].nunique() > 1:
                best = part.groupby("stream", sort=True)["step"].nunique().idxmax()
                part = part[part["stream"] == best]
            cols[int(rank)] = part.drop_duplicates("step", keep="last").set_index("step")["value"].astype(float)
        values = pd.DataFrame(cols).sort_index()
        logged = pd.DataFrame({r: pd.Series(True, index=c.index) for r, c in cols.items()}).reindex(values.index)
        out[metric] = (values, logged.fillna(False).astype(bool))
    return out


def compare_ranks(values: pd.DataFrame, logged: pd.DataFrame, metric: str, min_z: float = 6.0,
                  min_gap: float = 0.05, min_points: int = 3, window: int = SMOOTH) -> tuple[float, list[RankDeparture]]:
    """(cross-rank noise, departures) of one metric's step x rank frames (see rank_frames).

    Gaps are log ratios (relative, so early large losses and late small ones weigh alike)
    of each rank's rolling median to the median of the other ranks' rolling medians; the
    noise is the pooled robust spread of those gaps over all ranks and steps.
    """
    raw = values.to_numpy(dtype=float)
    wrote = logged.to_numpy(dtype=bool)
    steps = values.index.to_numpy()
    fin = np.isfinite(raw)
    # each rank over its own logged points; full windows only (a window cut by the series
    # end or by a NaN the rank wrote would compare unlike spans)
    smooth = pd.DataFrame({
        c: values.loc[logged[c], c].where(np.isfinite(values.loc[logged[c], c]))
        .rolling(window, center=True, min_periods=window).median()
        for c in values.columns
    }).reindex(index=values.index, columns=values.columns).to_numpy(dtype=float)
    positive = bool((raw[fin] > 0).all()) if fin.any() else True
    level = np.log(np.where(smooth > 0, smooth, np.nan)) if positive else smooth
    n = raw.shape[1]
    ref = np.full_like(level, np.nan)
    enough = np.zeros_like(wrote)
    for j in range(n):
        others = np.delete(level, j, axis=1)
        enough[:, j] = np.isfinite(np.delete(raw, j, axis=1)).sum(axis=1) >= MIN_RANKS - 1
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no reference there
            ref[:, j] = np.nanmedian(others, axis=1)
    if positive:
        gap = level - ref
    else:
        gap = (level - ref) / np.maximum(np.abs(ref), 1e-12)
    usable = np.isfinite(gap) & enough
    if not usable.any():
        return float("nan"), []
    noise = max(float(np.median(np.abs(gap[usable]))) * 1.4826, NOISE_FLOOR)
    departures = []
    for j, rank in enumerate(values.columns):
        compared = wrote[:, j] & enough[:, j]
        if not compared.any():
            continue
        far = usable[:, j] & (np.abs(gap[:, j]) > max(min_z * noise, min_gap))
        lone = ~fin[:, j]  # this rank wrote NaN/Inf while the others have values
        depart = compared & (far | lone)
        if depart.sum() < min_points:
            continue
        idx = np.flatnonzero(depart)
        fidx = idx[np.isfinite(gap[idx, j])]
        k = fidx[np.argmax(np.abs(gap[fidx, j]))] if len(fidx) else idx[0]
        rel = np.expm1(gap[:, j]) if positive else gap[:, j]
        others_level = np.exp(ref[k, j]) if positive else ref[k, j]
        departures.append(RankDeparture(
            metric=metric, rank=int(rank), first_step=int(steps[idx[0]]), last_step=int(steps[idx[-1]]),
            n_points=int(len(idx)), n_compared=int(compared.sum()),
            median_rel_gap=float(np.median(rel[fidx])) if len(fidx) else float("nan"),
            max_rel_gap=float(rel[k]) if len(fidx) else float("nan"),
            z=float(np.median(np.abs(gap[fidx, j])) / noise) if len(fidx) else float("inf"),
            example_step=int(steps[k]), value=float(raw[k, j]), others_median=float(others_level),
            non_finite=int((depart & ~fin[:, j]).sum()),
        ))
    return noise, departures


def analyze_ranks(run: Any, min_z: float = 6.0, min_gap: float = 0.05, min_points: int = 3) -> RankResult:
    """Compare the ranks of a multi-rank run on loss and gradient norm."""
    frames = rank_frames(run)
    ranks = sorted({int(r) for values, _ in frames.values() for r in values.columns})
    if len(ranks) < MIN_RANKS:
        why = "no per-rank logs" if not ranks else f"{len(ranks)} ranks logged: at least {MIN_RANKS} are needed to tell which one departs"
        return RankResult.no_data(why, ranks=tuple(ranks))
    noise, departures, compared = [], [], []
    for metric, (values, logged) in frames.items():
        if values.shape[1] < MIN_RANKS:
            continue
        n, d = compare_ranks(values, logged, metric, min_z=min_z, min_gap=min_gap, min_points=min_points)
        if np.isfinite(n):
            compared.append(metric)
            noise.append((metric, n))
            departures.extend(d)
    if not compared:
        return RankResult.no_data("the ranks share no logged steps", ranks=tuple(ranks))
    departures.sort(key=lambda d: (d.first_step, d.metric, d.rank))
    return RankResult(ranks=tuple(ranks), metrics=tuple(compared), noise=tuple(noise), departures=tuple(departures),
                      _series={m: v for m, (v, _) in frames.items()})
