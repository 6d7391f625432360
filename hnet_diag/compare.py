"""`compare(A, B, ...)`: did the fix work? Two (or more) diagnosed runs side by side.

Run A is the baseline; every other run is compared with it:
- the settings that differ, named by the bundled trainer's flags (`flags.py`);
- findings resolved (an alarm on A, a pass on B), new (an alarm only on B) and persisting
  (still an alarm on B, or B cannot show it gone), each with the evidence of both runs;
- each "Expected Outcome" of A's report (`followup.expected_outcomes`) checked on B: held
  when B's check passes, not held when it raises the alarm, unknown without data, with B's
  measured value;
- the curves to overlay (loss, gradient norm, LR and compression per stage), aligned by step.

A resolution is only claimed where B could show it: when B has no data for the check, or
stopped before the steps of A's evidence, the finding stays "persisting" with a note, and
its expected outcome is neither held nor failed. Claiming a fix that was not tested would
be the costly mistake here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .diagnosis import Diagnosis
    from .rules.rule import Finding

#: curves overlaid in the report: family -> metric, per stage ("{i}") or not
OVERLAYS: tuple[tuple[str, str, str], ...] = (
    ("loss", "loss", "Training loss"),
    ("grad_norm", "grad_norm", "Gradient norm (pre-clip)"),
    ("lr", "lr/stage{i}", "Learning rate per stage"),
    ("compression", "compression/stage{i}", "Realized compression per stage"),
)

#: steps whose median is the "final" loss (one logged value is too noisy to compare)
FINAL_WINDOW = 10

SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "positive": 0}


@dataclass(frozen=True)
class RunInfo:
    """One compared run: where it is and how it ended."""

    label: str
    path: str
    last_step: int | None
    planned_steps: int | None
    final_loss: float | None
    final_val_loss: float | None
    worst: str  # worst alarm severity, or "ok"
    codes: tuple[str, ...]  # alarms, most important first

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "path": self.path, "last_step": self.last_step,
                "planned_steps": self.planned_steps, "final_loss": _num(self.final_loss),
                "final_val_loss": _num(self.final_val_loss), "worst": self.worst, "codes": list(self.codes)}


@dataclass(frozen=True)
class FindingChange:
    """One rule's change from A to one other run, with both sides' findings."""

    code: str
    title: str
    change: str  # "resolved", "new", "persisting"
    run: str  # label of the run compared with A
    a: "Finding | None"
    b: "Finding | None"
    note: str = ""

    @property
    def severity(self) -> str:
        """The worse of the two sides (what the change is about)."""
        sev = [f.severity.value for f in (self.a, self.b) if f is not None and f.is_alarm]
        return max(sev, key=SEVERITY_RANK.__getitem__) if sev else "low"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title, "severity": self.severity, "run": self.run,
                "a": _side(self.a), "b": _side(self.b), "note": self.note}


@dataclass(frozen=True)
class OutcomeCheck:
    """One expected outcome of A's report, checked on another run."""

    code: str
    expected: str
    observed: str
    held: bool | None  # None: the other run cannot tell (no data, or it stopped too early)
    run: str
    measured: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "expected": self.expected, "observed": self.observed, "held": self.held,
                "run": self.run, "measured": _num(self.measured)}


@dataclass
class Comparison:
    """Everything the compare report shows; renderers read only this."""

    runs: list[RunInfo]
    settings_diff: dict[str, list[str | None]]  # flag (or setting) -> value per run, in run order
    findings: dict[str, list[FindingChange]]
    outcomes: list[OutcomeCheck]
    overlays: dict[str, dict[int | None, dict[str, "pd.Series"]]] = field(default_factory=dict)

    @property
    def baseline(self) -> RunInfo:
        return self.runs[0]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: {"runs", "settings_diff", "findings": {"resolved", "new", "persisting"}, "outcomes"}."""
        return {
            "runs": [r.to_dict() for r in self.runs],
            "settings_diff": {k: list(v) for k, v in self.settings_diff.items()},
            "findings": {k: [c.to_dict() for c in self.findings[k]] for k in ("resolved", "new", "persisting")},
            "outcomes": [o.to_dict() for o in self.outcomes],
        }

    def at_or_above(self, change: str, level: str) -> list[FindingChange]:
        return [c for c in self.findings[change] if SEVERITY_RANK[c.severity] >= SEVERITY_RANK[level]]


# -- building a comparison -----------------------------------------------------------------------

def compare_paths(paths: Sequence[str | Path], select: Sequence[str] | None = None,
                  ignore: Sequence[str] | None = None, thresholds: Sequence[str] = (),
                  settings_file: str | Path | None = None) -> Comparison:
    """Load and diagnose each run as `hnet-diag analyze` would, then compare them with the first."""
    from .diagnosis import diagnose_path

    runs, diagnoses = [], []
    for p in paths:
        run, d = diagnose_path(p, select=select, ignore=ignore, thresholds=thresholds, settings_file=settings_file)
        runs.append(run)
        diagnoses.append(d)
    return compare(runs, diagnoses, [str(p) for p in paths])


def compare(runs: Sequence[Any], diagnoses: Sequence["Diagnosis"], paths: Sequence[str] | None = None) -> Comparison:
    """Compare loaded, diagnosed runs; the first is the baseline A."""
    if len(runs) < 2 or len(runs) != len(diagnoses):
        raise ValueError("compare needs at least two runs, each with its diagnosis")
    paths = list(paths) if paths is not None else [str(getattr(r, "path", "")) for r in runs]
    labels = _labels([d.run_name for d in diagnoses])
    infos = [_info(label, path, run, d) for label, path, run, d in zip(labels, paths, runs, diagnoses)]
    findings: dict[str, list[FindingChange]] = {"resolved": [], "new": [], "persisting": []}
    outcomes: list[OutcomeCheck] = []
    a = diagnoses[0]
    for label, info, d in zip(labels[1:], infos[1:], diagnoses[1:]):
        for change in finding_changes(a, d, label, info.last_step):
            findings[change.change].append(change)
        outcomes += check_outcomes(a, d, label, info.last_step)
    for key in findings:
        findings[key].sort(key=lambda c: (-SEVERITY_RANK[c.severity], c.code, labels.index(c.run)))
    return Comparison(
        runs=infos,
        settings_diff=settings_diff([run_settings(r) for r in runs]),
        findings=findings,
        outcomes=outcomes,
        overlays=overlay_series(runs, labels),
    )


def _labels(names: Sequence[str]) -> list[str]:
    """Run names, made unique ("run", "run (2)") when two folders share a name."""
    out: list[str] = []
    for name in names:
        label, n = name, 2
        while label in out:
            label, n = f"{name} ({n})", n + 1
        out.append(label)
    return out


def _info(label: str, path: str, run: Any, d: "Diagnosis") -> RunInfo:
    alarms = d.alarms
    worst = max((f.severity.value for f in alarms), key=SEVERITY_RANK.__getitem__, default="ok")
    return RunInfo(label=label, path=path, last_step=d.last_step, planned_steps=d.planned_steps,
                   final_loss=_final(run, "loss", FINAL_WINDOW), final_val_loss=_final(run, "val_loss", 1),
                   worst=worst, codes=tuple(f.code for f in alarms))


def _final(run: Any, metric: str, window: int) -> float | None:
    import math

    try:
        s = run.metric(metric).dropna()
    except (AttributeError, KeyError):
        return None
    s = s[s.map(lambda v: math.isfinite(v))] if not s.empty else s
    if s.empty:
        return None
    return float(s.iloc[-window:].median())


def _end_of(f: "Finding") -> int | None:
    """The last step A's evidence points at (None when the finding is not about steps)."""
    e = f.evidence
    ends = ([max(e.steps)] if e.steps else []) + ([e.window[1]] if e.window else [])
    return max(ends) if ends else None


def finding_changes(a: "Diagnosis", b: "Diagnosis", label: str, b_last_step: int | None) -> list[FindingChange]:
    """Resolved / new / persisting alarms from A to B (healthy signs are not compared)."""
    out: list[FindingChange] = []
    b_by_code = {f.code: f for f in b.findings}
    a_by_code = {f.code: f for f in a.findings}
    for fa in a.alarms:
        fb = b_by_code.get(fa.code)
        if fb is not None and fb.is_alarm:
            out.append(FindingChange(fa.code, fa.title, "persisting", label, fa, fb))
            continue
        why_not = _unverifiable(fa, fb, b_last_step)
        if why_not:
            out.append(FindingChange(fa.code, fa.title, "persisting", label, fa, fb,
                                     note=f"not shown resolved: {why_not}"))
        else:
            out.append(FindingChange(fa.code, fa.title, "resolved", label, fa, fb))
    for fb in b.alarms:
        fa = a_by_code.get(fb.code)
        if fa is None or not fa.is_alarm:
            out.append(FindingChange(fb.code, fb.title, "new", label, fa, fb))
    return out


def _unverifiable(fa: "Finding", fb: "Finding | None", b_last_step: int | None) -> str:
    """Why B cannot show A's alarm gone ('' when it can)."""
    if fb is None:
        return "the check did not run on B (not selected)"
    if fb.status.value == "no-data":
        return f"B has no data for this check ({fb.message})"
    end = _end_of(fa)
    if end is not None and b_last_step is not None and b_last_step < end:
        return f"B stopped at step {b_last_step}, before the end of A's evidence (step {end})"
    return ""


def check_outcomes(a: "Diagnosis", b: "Diagnosis", label: str, b_last_step: int | None) -> list[OutcomeCheck]:
    """Each expected outcome of A's report, judged by the same check on B."""
    from .followup import expected_outcomes

    b_by_code = {f.code: f for f in b.findings}
    a_by_code = {f.code: f for f in a.findings}
    out = []
    for code, text in expected_outcomes(a):
        fb = b_by_code.get(code)
        why_not = _unverifiable(a_by_code[code], fb, b_last_step)
        if fb is not None and fb.is_alarm:
            held: bool | None = False
        elif why_not:
            held = None
        else:
            held = True
        observed = (f"{code} {fb.status.value}: {fb.message}" if fb is not None else f"{code} did not run on {label}")
        if held is None and fb is not None and fb.status.value != "no-data":
            observed += f" ({why_not})"
        out.append(OutcomeCheck(code=code, expected=text, observed=observed, held=held, run=label,
                                measured=fb.evidence.measured if fb is not None else None))
    return out


# -- settings ------------------------------------------------------------------------------------

def run_settings(run: Any) -> dict[str, str]:
    """A run's settings as {flag: value text}: training and sampling flags of the bundled
    trainer, plus settings without a flag under their own name (`decay_fraction`,
    `model.arch_layout`); seed and data come from a bundled-trainer config.json when present."""
    from .flags import GENERATE_SETTINGS, TRAIN_SETTINGS, flag, value_text

    out: dict[str, str] = {}
    t = getattr(run, "training", None)
    if t is not None:
        for name in TRAIN_SETTINGS + ("decay_fraction",):
            v = getattr(t, name, None)
            if v is not None:
                out[flag(name) if name in TRAIN_SETTINGS else name] = value_text(v)
    raw = trainer_config(run)
    if raw is not None:
        for name in ("seed", "eval_every", "save_every", "data"):
            v = raw.get("training", {}).get(name)
            if v is not None and flag(name) not in out:
                out[flag(name)] = value_text(v)
    g = getattr(run, "generation", None)
    if g is not None:
        for name in GENERATE_SETTINGS:
            v = getattr(g, name, None)
            if v is not None:
                out[flag(name)] = value_text(v)
    m = getattr(run, "model", None)
    if m is not None:
        for name in ("arch_layout", "d_model"):
            v = getattr(m, name, None)
            if v is not None:
                out[f"model.{name}"] = _compact(v)
    return out


def _compact(v: Any) -> str:
    import json

    return json.dumps(list(v) if isinstance(v, tuple) else v, separators=(",", ":"))


def settings_diff(per_run: Sequence[Mapping[str, str]]) -> dict[str, list[str | None]]:
    """The settings whose values are not the same in every run (None: the run does not state it)."""
    keys: list[str] = []
    for s in per_run:
        keys += [k for k in s if k not in keys]
    return {k: [s.get(k) for s in per_run] for k in keys if len({s.get(k) for s in per_run}) > 1}


def trainer_config(run: Any) -> dict[str, Any] | None:
    """The bundled trainer's config.json of a run ({"model", "training"}), or None.

    It is how `hnet-diag train` describes a run, so its presence says the run was made by
    the bundled trainer, and it holds the exact settings a follow-up starts from.
    """
    from .trainer.train import TRAINING_KEYS

    for name, cfg in (getattr(run, "configs", None) or {}).items():
        if Path(name).name != "config.json" or Path(name).parent != Path("."):
            continue
        if (isinstance(cfg, dict) and set(cfg) == {"model", "training"} and isinstance(cfg["training"], dict)
                and isinstance(cfg["model"], dict) and "arch_layout" in cfg["model"]
                and set(cfg["training"]) <= set(TRAINING_KEYS) and "learning_rate" in cfg["training"]):
            return cfg
    return None


# -- curves ----------------------------------------------------------------------------------------

def overlay_series(runs: Sequence[Any], labels: Sequence[str]) -> dict[str, dict[int | None, dict[str, "pd.Series"]]]:
    """{family: {stage or None: {run label: step-indexed Series}}} for the overlay plots.

    Per-stage LR falls back to the single `lr` series when a run logs no per-stage LR.
    """
    out: dict[str, dict[int | None, dict[str, Any]]] = {}
    for family, metric, _title in OVERLAYS:
        by_stage: dict[int | None, dict[str, Any]] = {}
        for label, run in zip(labels, runs):
            if "{i}" in metric:
                base = metric.split("/")[0]
                stages = run.stages(base)
                if not stages and family == "lr" and run.has_metric("lr"):
                    stages = {None: run.metric("lr")}
                for i, s in stages.items():
                    if not s.empty:
                        by_stage.setdefault(i, {})[label] = s
            elif run.has_metric(metric):
                by_stage.setdefault(None, {})[label] = run.metric(metric)
        if by_stage:
            out[family] = dict(sorted(by_stage.items(), key=lambda kv: -1 if kv[0] is None else kv[0]))
    return out


def _side(f: "Finding | None") -> dict[str, Any] | None:
    if f is None:
        return None
    return {"status": f.status.value, "severity": f.severity.value, "message": f.message,
            "evidence": f.evidence.to_dict()}


def _num(v: float | None) -> Any:
    import math

    if v is None:
        return None
    return v if math.isfinite(v) else str(v)
