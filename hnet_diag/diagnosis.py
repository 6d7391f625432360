"""`diagnose(run)`: analyzers -> rules -> root causes -> one Diagnosis object.

The Diagnosis is everything a renderer needs, so the Markdown, terminal, JSON, SARIF and
JUnit outputs are views of one object and cannot disagree. It keeps the analyzer results
too, because plots are drawn from them, but renderers never go back to the Run's files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .results import Results
from .rules.causes import Conflict, MergedRecommendation, RootCause
from .rules.rule import Finding, Severity, Status


@dataclass
class Diagnosis:
    """The judged run: findings (every selected rule), causes, recommendations, claims."""

    run_name: str
    findings: list[Finding]
    causes: list[RootCause] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    recommendations: list[MergedRecommendation] = field(default_factory=list)
    claims: list[Any] = field(default_factory=list)  # claims.ClaimCheck
    results: Results = field(default_factory=Results)
    last_step: int | None = None
    planned_steps: int | None = None
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    locations: dict[str, str] = field(default_factory=dict)  # code -> file the finding is about
    settings_origin: str = "defaults"
    facts: dict[str, Any] = field(default_factory=dict)  # run-level numbers for the summary
    trainer: Any = None  # run.TrainerInfo: who wrote the run (the vocabulary of the advice)
    model_kind: Any = None  # run.ModelKind: H-Net or not, and why
    not_applicable: tuple[str, ...] = ()  # codes of H-Net-only checks on a run that is not an H-Net

    @property
    def trainer_id(self) -> str:
        return getattr(self.trainer, "id", None) or "unknown"

    @property
    def is_hnet(self) -> bool:
        """An H-Net, or a run whose kind is unknown to the caller (a bare diagnose(results=...))."""
        return self.model_kind is None or bool(getattr(self.model_kind, "hnet", False)) or self.trainer_id == "hnet-diag"

    # -- views -------------------------------------------------------------------------
    @property
    def alarms(self) -> list[Finding]:
        """Problems found, most important first."""
        return sorted((f for f in self.findings if f.is_alarm), key=lambda f: (f.priority, -f.severity.rank, f.code))

    @property
    def positives(self) -> list[Finding]:
        return [f for f in self.findings if f.is_positive]

    @property
    def no_data(self) -> list[Finding]:
        """Applicable checks that had nothing to measure (H-Net-only checks of other models are left out)."""
        return [f for f in self.findings if f.status is Status.NO_DATA and f.severity is not Severity.POSITIVE
                and f.code not in self.not_applicable]

    def finding(self, code: str) -> Finding | None:
        return next((f for f in self.findings if f.code == code), None)

    def at_or_above(self, level: str | Severity) -> list[Finding]:
        """Alarms whose severity is at least `level` (what `check --fail-on` counts)."""
        rank = Severity(level).rank
        return [f for f in self.alarms if f.severity.rank >= rank]

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for f in self.alarms:
            out[f.severity.value] += 1
        out["positive"] = len(self.positives)
        out["no_data"] = len(self.no_data)
        if self.not_applicable:
            out["not_applicable"] = len(self.not_applicable)
        out["passed"] = sum(f.status is Status.PASS and f.severity is not Severity.POSITIVE for f in self.findings)
        return out

    def area(self, name: str) -> list[Finding]:
        return [f for f in self.findings if f.area == name]


def diagnose(run: Any, settings: Any = None, results: Results | Mapping[str, Any] | None = None,
             options: Mapping[str, Mapping[str, Any]] | None = None) -> Diagnosis:
    """Judge a loaded Run.

    `settings` is an `EngineSettings`, a `ProjectSettings`, a `[tool.hnet-diag]`-style dict,
    or None: then the settings `load_run` found for this run (`run.project_settings`; the
    defaults when there was no settings file), so nothing is looked up twice.
    `results` lets a caller pass analyzer results it already has (a `Results`, or
    `analyze_all`'s dict); the run's own settings fill what they lack.
    `options` go to the input loaders of the analyzers that have one, by analyzer name:
    {"samples": {"enabled": False}} is `--no-samples`, {"samples": {"prompts": [...]}} `--prompts`.
    """
    from .rules.causes import defer_to_roots, link_causes, merge_recommendations, resolve_conflicts, settle_competitions
    from .rules.claims import check_claims
    from .rules.engine import EngineSettings, build_settings, run_rules
    from .settings_file import ProjectSettings

    if settings is None:
        settings = getattr(run, "project_settings", None) or ProjectSettings()
    if isinstance(settings, ProjectSettings):
        settings = build_settings(settings.table, settings.origin)
    elif isinstance(settings, Mapping):
        settings = build_settings(settings, origin="diagnose(settings=...)")
    elif not isinstance(settings, EngineSettings):
        raise TypeError(f"settings must be EngineSettings, ProjectSettings, a mapping or None, not {type(settings).__name__}")
    analysis_warnings: list[str] = []
    if results is None:
        results, analysis_warnings = run_analyzers(run, options)
    # predicates suggest flags from the run's own settings (e.g. half its --learning-rate)
    results = Results.of(results, run)

    findings = with_changes(run_rules(results, settings), run)
    findings, settled = settle_competitions(findings)  # the evidence decides a competing pair before any priority
    findings, conflicts = resolve_conflicts(findings)
    conflicts = settled + conflicts
    causes = link_causes(findings)
    findings, deferred = defer_to_roots(findings, causes)
    conflicts = conflicts + deferred
    cause_of = {code: c.id for c in causes for code in c.codes}
    findings = [f.with_(cause=cause_of.get(f.code)) if f.is_alarm else f for f in findings]
    recommendations = merge_recommendations(findings)
    name = _run_name(run)
    training = getattr(run, "training", None)
    return Diagnosis(
        run_name=name,
        findings=findings,
        causes=causes,
        conflicts=conflicts,
        recommendations=recommendations,
        claims=check_claims(findings, results),
        results=results,
        last_step=getattr(run, "last_step", None),
        planned_steps=getattr(training, "max_steps", None),
        files=sorted(getattr(run, "files", [])),
        warnings=[str(w) for w in getattr(run, "warnings", [])] + analysis_warnings,
        events=[_event(e) for e in getattr(run, "events", [])],
        locations={f.code: loc for f in findings if (loc := locate(f, run))},
        settings_origin=getattr(settings, "origin", "defaults"),
        facts=_facts(run),
        trainer=getattr(run, "trainer", None),
        model_kind=getattr(run, "model_kind", None),
        not_applicable=_not_applicable(findings, run),
    )


def with_changes(findings: list[Finding], run: Any) -> list[Finding]:
    """Each recommendation's flags as structured changes (advice.Action), with the run's current values.

    The rule's own offers (a remedy only some trainers have, such as HF's early stopping)
    join them as optional changes, except early stopping on a run that already has an
    early-stopping callback (offering another patience beside its own would contradict it).
    """
    from dataclasses import replace

    from .advice.flags import parse_flags
    from .analyzers.validation import early_stopping_state
    from .rules.registry import RULES

    offers = {r.code: r.offers for r in RULES}
    now = (getattr(run, "training", None), getattr(run, "generation", None))
    has_stopper = any(a.setting == "early_stopping" for f in findings if f.recommendation is not None
                      for a in offers.get(f.code, ())) and early_stopping_state(run) is not None
    out = []
    for f in findings:
        rec = f.recommendation
        if rec is not None:
            extra = tuple(a for a in offers.get(f.code, ()) if not (has_stopper and a.setting == "early_stopping"))
            rec = replace(rec, changes=parse_flags(rec.flags, rec.actions, now) + extra)
            f = f.with_(recommendation=rec)
        out.append(f)
    return out


def _not_applicable(findings: list[Finding], run: Any) -> tuple[str, ...]:
    """H-Net-only checks (they read only per-stage, routing or decoding results) of a run that is not an H-Net."""
    kind = getattr(run, "model_kind", None)
    trainer = getattr(getattr(run, "trainer", None), "id", "unknown")
    if kind is None or kind.hnet or trainer == "hnet-diag":
        return ()
    from .rules.registry import RULES

    hnet_only = {r.code for r in RULES if r.hnet_only}
    return tuple(f.code for f in findings if f.code in hnet_only and not f.is_alarm)


def diagnose_path(path: Any, select: Any = None, ignore: Any = None, thresholds: Any = (),
                  settings_file: Any = None, follow_external_links: bool = False,
                  options: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[Any, Diagnosis]:
    """Load a run and diagnose it as `hnet-diag analyze` does: (run, diagnosis).

    The run's own settings file (found by `load_run`), or `settings_file` when given
    (`--settings FILE`), applies, with the command line's select/ignore/thresholds on top.
    `analyze`, `check`, `scan`, `compare` and `verify-fix` call this, so every command judges
    a run the same way.
    """
    from pathlib import Path

    from .errors import InputError
    from .rules.engine import build_settings
    from .run import LoadWarning
    from .settings_file import inside_run, read_settings_file
    from .sources.discover import load_run

    given = None
    if settings_file:
        given = read_settings_file(settings_file)
        if given is None:
            raise InputError(settings_file, "has no [tool.hnet-diag] table")
    run = load_run(path, settings=given, follow_external_links=follow_external_links)
    project = run.project_settings
    cli = dict(select=select, ignore=ignore, thresholds=thresholds or ())
    try:
        settings = build_settings(project.table, project.origin, **cli)
    except InputError as err:
        # A settings file that came with the run folder is as untrusted as the rest of it:
        # invalid, it is a warning and the defaults apply. A project's own file (above the
        # run) or a bad command line stays an error the user can fix.
        if settings_file or project.path is None or not inside_run(project.path, Path(path)) or err.path != project.origin:
            raise
        run.warnings.append(LoadWarning(project.path.name, f"{err.problem}; its settings were ignored"))
        settings = build_settings({}, "defaults", **cli)
    return run, diagnose(run, settings, options=options)


def run_analyzers(run: Any, options: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[Results, list[str]]:
    """Every analyzer, each on its own: one that fails costs its own checks, not the report.

    The failure is reported (appendix and JSON warnings) rather than hidden, the same way a
    damaged file is; its rules say no-data with the reason. `options`: as for `diagnose`.
    """
    from .analyzers import ANALYZERS, analyzer
    from .analyzers.cache import cached

    view = cached(run)  # the shared view extracts metrics once for all analyzers (as analyze_all does)
    results: dict[str, Any] = {}
    failed: dict[str, str] = {}
    warnings: list[str] = []
    options = options or {}
    for name in ANALYZERS:
        try:
            given = dict(options.get(name) or {})
            results[name] = analyzer(name, **given)(view) if given else view.result(name, analyzer(name))
        except Exception as err:  # noqa: BLE001 - any analyzer bug must not take the report down
            failed[name] = f"the {name} analysis failed ({type(err).__name__}: {err})"
            warnings.append(f"analysis {name}: failed ({type(err).__name__}: {err}); its checks report no data")
    return Results.of({**results, "failed": failed}, run), warnings


def _run_name(run: Any) -> str:
    path = Path(getattr(run, "path", "run"))
    if path.is_file():
        path = path.parent
    return path.resolve().name or "run"


def _event(e: Any) -> str:
    where = f" at step {e.step}" if getattr(e, "step", None) is not None else ""
    detail = f": {e.detail}" if getattr(e, "detail", "") else ""
    return f"{e.kind}{where} ({e.source}){detail}"


def _facts(run: Any) -> dict[str, Any]:
    """A few numbers for the summary header, all from the Run itself."""
    out: dict[str, Any] = {}
    t = getattr(run, "training", None)
    m = getattr(run, "model", None)
    if t is not None:
        for k in ("learning_rate", "lr_multipliers", "warmup_steps", "max_steps", "schedule", "max_grad_norm",
                  "ratio_loss_weight", "target_compression", "seq_len", "batch_size"):
            v = getattr(t, k, None)
            if v is not None:
                out[k] = list(v) if isinstance(v, tuple) else v
    if m is not None and getattr(m, "num_stages", None) is not None:
        out["num_stages"] = m.num_stages
    return out


def locate(f: Finding, run: Any) -> str | None:
    """The file a finding is about, as a path the user can open (run path + relative file).

    The metric's log file when the evidence names a metric, else the config the settings
    came from (generation settings for the 5xx family).
    """
    rel: str | None = None
    scalars = getattr(run, "scalars", None)
    metric = f.evidence.metric
    if metric and scalars is not None and not scalars.empty:
        sel = scalars[scalars["metric"] == metric]
        if not sel.empty:
            rel = str(sel.groupby("stream", sort=True)["step"].nunique().idxmax())
            sources = sorted(sel[sel["stream"] == rel]["source"].unique())
            rel = sources[0] if sources else rel
    if rel is None and f.code.startswith("HND5"):
        gen = getattr(run, "generation", None)
        rel = getattr(gen, "source", None)
    if rel is None:
        rel = getattr(getattr(run, "training", None), "source", None)
    if rel is None:
        return None
    base = Path(getattr(run, "path", "."))
    if base.is_file():
        base = base.parent
    p = Path(rel)
    return str(p if p.is_absolute() else base / p)
