"""Judge a run while it trains: the rule engine of `analyze`, run again as data arrives.

Live findings are `analyze`'s findings: the same analyzers, the same catalog, the same
codes, texts and thresholds (`diagnose`), on the Run read so far. What is live-specific is
only (1) what changed since the last judgement: a finding that appears is reported once,
with the step at which it was first seen (again only if its severity rises), and one that disappears (a spike the run
recovered from) is reported as cleared; and (2) when to judge.

When: the analyzers cost O(history) (about 10 s for 2M scalars on two shared cores),
while a poll must cost O(new data). So a judgement runs when new data arrived and the time
since the previous one is at least `1/share - 1` times what the previous one cost: with
the default share of 0.2 the engine takes at most a fifth of the watcher's time, and on a
short run (judgement in tens of ms) that is every poll. One thing skips the wait: a metric
turning NaN/Inf for the first time (`ScalarStore` notices it in O(new rows)), because the
critical finding it leads to must not wait.

The rules know the run is still being written (`Results.progress`, a `RunProgress`): those
that judge a run's end ("stopped early", "not annealed", "loss still improving" and their
healthy-sign mirrors) wait for the end, and the routing rules, which judge where
compression and the ratio loss settled, and "no learning", wait until the run is past
warmup and a quarter of its planned steps (`Rule.live`); until then they report no-data with that reason. The
decoding check (it rebuilds the model from a checkpoint) runs only once the run has ended.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..rules.rule import Finding, Severity

#: default share of the watcher's time the rule engine may take
DEFAULT_SHARE = 0.2

@dataclass(frozen=True)
class LiveFinding:
    """A change in what the rules say: a finding that is `new`, or one that `cleared`."""

    kind: str  # "new" or "cleared"
    finding: Finding
    step: int | None  # last step of the data when it was first seen (new) or seen gone (cleared)
    first_seen: int | None  # step at which it was first seen

    @property
    def code(self) -> str:
        return self.finding.code

    @property
    def severity(self) -> Severity:
        return self.finding.severity

    def at_or_above(self, level: str | Severity | None) -> bool:
        """A new finding at least as severe as `level` (what --fail-on / --stop-on count)."""
        if level is None or self.kind != "new":
            return False
        return self.finding.severity.rank >= Severity(level).rank

    def line(self) -> str:
        """One plain-text line: what changed, at which step, and the finding's own message."""
        f = self.finding
        if self.kind == "cleared":
            return f"step {self.step}: cleared {f.code} {f.name} (first seen at step {self.first_seen})"
        return f"step {self.step}: {f.severity.value} {f.code} {f.name}: {f.message}"

    def to_dict(self, run: str | None = None) -> dict[str, Any]:
        out = {"event": self.kind, "step": self.step, "first_seen": self.first_seen}
        if run is not None:
            out["run"] = run
        out.update(self.finding.to_dict())
        return out


class LiveJudge:
    """Runs the engine on demand and remembers which alarms are standing."""

    def __init__(self, settings: Any = None, share: float = DEFAULT_SHARE, clock=time.monotonic):
        from ..rules.engine import EngineSettings, build_settings
        from ..settings_file import ProjectSettings

        if settings is None:
            settings = EngineSettings()
        elif isinstance(settings, ProjectSettings):
            settings = build_settings(settings.table, settings.origin)
        elif isinstance(settings, dict):
            settings = build_settings(settings, origin="settings")
        self.settings = settings
        self.share = share
        self.clock = clock
        self.standing: dict[str, tuple[Finding, int | None]] = {}  # code -> (finding, first seen)
        self.last_cost = 0.0
        self.last_end: float | None = None
        self.evaluations = 0
        self.diagnosis: Any = None  # the latest Diagnosis

    def due(self, new_data: bool, urgent: bool = False) -> bool:
        """Judge now? Always when `urgent`; else when there is new data and the engine has
        rested long enough to stay within its share of the time."""
        if urgent:
            return True
        if not new_data:
            return False
        if self.last_end is None:
            return True
        rest = self.last_cost * (1.0 / self.share - 1.0)
        return self.clock() - self.last_end >= rest

    def judge(self, run: Any, finished: bool = False) -> list[LiveFinding]:
        """Diagnose `run` and return what changed since the previous judgement."""
        t0 = self.clock()
        d = diagnose_live(run, self.settings, finished)
        self.diagnosis = d
        step = d.last_step
        changes: list[LiveFinding] = []
        now = {f.code: f for f in d.alarms}
        for code, f in now.items():
            before = self.standing.get(code)
            if before is None or f.severity.rank > before[0].severity.rank:
                # new, or worse than when it was reported (HND404 on a NaN grad norm, then on
                # the loss): reported again, so --fail-on sees the worse severity
                self.standing[code] = (f, step)
                changes.append(LiveFinding("new", f, step, step))
            else:
                self.standing[code] = (f, before[1])
        for code in [c for c in self.standing if c not in now]:
            f, first = self.standing.pop(code)
            changes.append(LiveFinding("cleared", f, step, first))
        self.last_end = self.clock()
        self.last_cost = self.last_end - t0
        self.evaluations += 1
        return changes

    def standing_at_or_above(self, level: str | Severity) -> list[Finding]:
        rank = Severity(level).rank
        return [f for f, _ in self.standing.values() if f.severity.rank >= rank]


def diagnose_live(run: Any, settings: Any, finished: bool) -> Any:
    """`diagnose` with the analyzers of `analyze`, told how far the run has got.

    `Results.progress` lets the rules that judge a run's end, or where its routing
    settled, wait (`Rule.live`); the checks that run the model (decoding, boundary map, samples) run
    only once the run has ended.
    """
    from ..analyzers import ANALYZERS, MODEL_RUNS, analyzer
    from ..analyzers.cache import cached
    from ..diagnosis import diagnose
    from ..run import RunProgress

    training = getattr(run, "training", None)
    progress = RunProgress(finished, getattr(run, "last_step", None), getattr(training, "warmup_steps", None),
                           getattr(training, "max_steps", None))
    view = cached(run)
    results: dict[str, Any] = {}
    failed: dict[str, str] = {}
    warnings: list[str] = []
    for name in ANALYZERS:
        if name in MODEL_RUNS and not finished:
            failed[name] = f"the {name} check runs once the run has ended"
            continue
        try:
            results[name] = view.result(name, analyzer(name))
        except Exception as err:  # noqa: BLE001 - as in diagnosis.run_analyzers
            failed[name] = f"the {name} analysis failed ({type(err).__name__}: {err})"
            warnings.append(f"analysis {name}: failed ({type(err).__name__}: {err}); its checks report no data")
    d = diagnose(run, settings, results={**results, "failed": failed, "progress": progress})
    d.warnings.extend(warnings)
    return d
