"""A read-only view of a Run that extracts each metric once, shared by all analyzers.

`Run.metric(name)` scans the whole tidy frame each call; analyzers ask for the same few
series many times (the warmup and LR-ratio analyzers reuse the gradient and loss
analyses). On a 100k-step run that scanning dominated. The view splits the frame by
metric in one pass, answers `metric()` from the piece (same selection rules: it calls
`Run.metric` on the piece), and memoises analyzer results computed with default
arguments, and the model rebuilt from the run's checkpoint, which the decoding check, the
boundary map and the samples all run (`sources.reference_model.rebuild_model`). It never
changes the Run, and it lives as long as one analysis.
"""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from ..run import Run


class CachedRun:
    """Delegates everything to the wrapped Run; caches `metric`, `stages` and results."""

    def __init__(self, run: Any):
        self._run = run
        self._groups: dict[str, pd.DataFrame] | None = None
        self._metrics: dict[str, pd.Series] = {}
        self._results: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)

    @property
    def run(self) -> Any:
        return self._run

    def _pieces(self) -> dict[str, pd.DataFrame]:
        if self._groups is None:
            df = self._run.scalars
            self._groups = {} if df.empty else {str(k): g for k, g in df.groupby("metric", sort=True)}
        return self._groups

    def metric_names(self) -> list[str]:
        return sorted(self._pieces())

    def has_metric(self, name: str) -> bool:
        return not self.metric(name).empty

    def metric(self, name: str) -> pd.Series:
        if name not in self._metrics:
            piece = self._pieces().get(name)
            if piece is not None:
                s = Run(path=self._run.path, scalars=piece).metric(name)
            else:  # an original tag or alias: let the Run resolve it
                s = self._run.metric(name)
            self._metrics[name] = s
        return self._metrics[name].copy()

    # Run.stages only calls metric_names() and metric(), so the cached versions serve it
    stages = Run.stages

    def result(self, key: str, compute: Callable[[Any], Any]) -> Any:
        """`compute(self)` once per key (analyzer calls with default arguments, the rebuilt model)."""
        if key not in self._results:
            self._results[key] = compute(self)
        return self._results[key]


def cached(run: Any) -> CachedRun:
    """Wrap a Run (a CachedRun is returned as is)."""
    return run if isinstance(run, CachedRun) else CachedRun(run)
