"""`Monitor`: judge a run from inside its training loop, without files.

    from hnet_diag import Monitor
    monitor = Monitor(training={"max_steps": 10_000, "warmup_steps": 500, "max_grad_norm": 1.0})
    for step in range(1, 10_001):
        ...
        for f in monitor.log(step, {"loss": loss, "grad_norm": gn, "lr": lr}):
            print(f.line())                      # new (or cleared) findings, analyze's texts
        if monitor.should_stop("critical"):
            break
    monitor.finish()                             # the end-of-run judgement (stopped early, annealed...)

Metric names are read through the same alias table as files (`learning_rate` -> `lr`,
`train_loss` -> `loss`); the training settings given (a `TrainingSettings`, a dict with its
field names, or the bundled trainer's whole config.json) are what the schedule and
clipping rules compare against. Findings come from the same `LiveJudge` as `hnet-diag
watch`: the engine of `analyze`, run when its share of the time allows, and at once when a
metric turns NaN/Inf for the first time.

`log` costs a few microseconds per metric; a judgement costs what `analyze` costs on the
steps so far, and `share` (default 0.1) bounds the part of the training loop's time that
judgements may take.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..run import Run, TrainingSettings
from .judge import LiveFinding, LiveJudge
from .store import ScalarStore

_log = logging.getLogger("hnet_diag")

#: default share of the training loop's time the rule engine may take
MONITOR_SHARE = 0.1


class Monitor:
    """Feed it metrics step by step; it returns what the rules newly say."""

    def __init__(self, training: TrainingSettings | Mapping[str, Any] | None = None, *,
                 config: Mapping[str, Any] | None = None, settings: Any = None,
                 share: float = MONITOR_SHARE, name: str = "monitor"):
        self.name = name
        self.judge = LiveJudge(settings, share=share)
        self.store = ScalarStore()
        self._pending: dict[str, tuple[list[int], list[float]]] = {}
        self._bad_tags: set[str] = set()
        self._urgent = False
        self.findings_log: list[LiveFinding] = []
        self.last_step: int | None = None
        self._settings = _settings(training, config)

    # -- feeding -----------------------------------------------------------------------
    def log(self, step: int, metrics: Mapping[str, Any]) -> list[LiveFinding]:
        """Record one step's metrics; return the findings that are new (or cleared) now."""
        step = int(step)
        for key, raw in metrics.items():
            v = _number(raw)
            if v is None:
                continue
            steps, values = self._pending.setdefault(str(key), ([], []))
            steps.append(step)
            values.append(v)
            if not math.isfinite(v) and key not in self._bad_tags:
                self._bad_tags.add(str(key))
                self._urgent = True
        self.last_step = step if self.last_step is None else max(self.last_step, step)
        if not self.judge.due(new_data=bool(self._pending), urgent=self._urgent):
            return []
        return self._judge(finished=False)

    def finish(self) -> list[LiveFinding]:
        """Judge the finished run (end-of-run rules included); returns what changed."""
        return self._judge(finished=True)

    def check(self) -> list[LiveFinding]:
        """Judge now, whatever the time share says."""
        return self._judge(finished=False)

    def _judge(self, finished: bool) -> list[LiveFinding]:
        self._flush()
        self._urgent = False
        if not len(self.store):
            return []
        changes = self.judge.judge(self.run(), finished=finished)
        self.findings_log.extend(changes)
        return changes

    def _flush(self) -> None:
        for key, (steps, values) in self._pending.items():
            n = len(steps)
            self.store.append(self.name, self.name, [key], np.zeros(n, dtype=np.int32), np.asarray(steps, dtype=np.int64),
                              np.asarray(values, dtype=np.float64), np.full(n, np.nan))
        self._pending = {}

    # -- reading -----------------------------------------------------------------------
    def run(self) -> Run:
        """The steps logged so far as a Run (what the analyzers read)."""
        self._flush()
        run = Run(path=Path(self.name), scalars=self.store.frame(), files=[self.name])
        run.training, run.model, run.generation = self._settings
        return run

    @property
    def standing(self) -> list[Any]:
        """Findings raised and not cleared, worst first."""
        return sorted((f for f, _ in self.judge.standing.values()), key=lambda f: (-f.severity.rank, f.code))

    def should_stop(self, severity: str = "critical") -> bool:
        """Is a finding at or above `severity` standing?"""
        return bool(self.judge.standing_at_or_above(severity))

    def reason(self, severity: str = "critical") -> str:
        """Why to stop, in one line: each standing finding at or above `severity`."""
        found = [f for f in self.standing if f.severity.rank >= _rank(severity)]
        return "; ".join(f"{f.code} {f.name} ({f.severity.value}): {f.message}" for f in found)


class StopGate:
    """What the framework callbacks (live/hf.py, live/lightning.py) share, so each only says
    where its metrics come from and how its trainer is told to stop: one Monitor per training,
    every new finding logged at warning level, and the stop decided once, with its reason kept in
    `stop_reason` and logged at error level."""

    def __init__(self, stop_on: str | None = "critical", settings: Any = None, share: float = MONITOR_SHARE):
        self.stop_on = _severity(stop_on) if stop_on else None
        self.settings = settings
        self.share = share
        self.monitor: Monitor | None = None
        self.stop_reason: str | None = None

    def _start(self, training: Any, name: str) -> None:
        self.monitor = Monitor(training, settings=self.settings, share=self.share, name=name)
        self.stop_reason = None

    def _feed(self, step: int, metrics: Mapping[str, Any]) -> bool:
        """Log the new findings; True exactly once, when a finding at or above stop_on appears."""
        if self.monitor is None:
            return False
        for f in self.monitor.log(step, metrics):
            _log.warning("hnet-diag: %s", f.line())
        if self.stop_on and self.stop_reason is None and self.monitor.should_stop(self.stop_on):
            self.stop_reason = self.monitor.reason(self.stop_on)
            _log.error("hnet-diag: stopping training at step %d: %s", step, self.stop_reason)
            return True
        return False

    def _finish(self) -> None:
        if self.monitor is None:
            return
        for f in self.monitor.finish():
            _log.warning("hnet-diag: %s", f.line())


def _severity(severity: str) -> str:
    from ..rules.rule import Severity

    return Severity(severity).value


def _rank(severity: str) -> int:
    from ..rules.rule import Severity

    return Severity(severity).rank


def _number(raw: Any) -> float | None:
    """Floats, ints, 0-d tensors/arrays; None for anything else (strings, lists)."""
    if isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, (int, float)):
        return float(raw)
    item = getattr(raw, "item", None)
    if callable(item) and getattr(raw, "ndim", 0) == 0:
        try:
            return float(item())
        except (TypeError, ValueError):
            return None
    return None


def _settings(training: Any, config: Mapping[str, Any] | None):
    """(TrainingSettings, ModelSettings, GenerationSettings | None) from what the caller gave."""
    from dataclasses import fields, replace

    from ..run import ModelSettings
    from ..sources.run_settings import settings_from_configs

    if config is not None:
        t, m, g = settings_from_configs({"config.json": dict(config)}, [])
    else:
        t, m, g = TrainingSettings(), ModelSettings(), None
    if isinstance(training, TrainingSettings):
        t = training
    elif training:
        names = {f.name for f in fields(TrainingSettings)}
        unknown = sorted(set(training) - names)
        if unknown:
            raise ValueError(f"unknown training setting(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})")
        t = replace(t, **{k: (tuple(v) if isinstance(v, list) else v) for k, v in training.items()})
    return t, m, g
