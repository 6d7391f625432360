"""Apply the rules to analyzer results: selection, thresholds, and Findings.

Selection follows ruff: `select` and `ignore` take full codes or prefixes ("HND1", "HND"),
and when both match a code the more specific (longer) entry wins; on a tie, ignore wins.
Settings come from `[tool.hnet-diag]` (pyproject.toml or hnet-diag.toml, found by the caller:
see `hnet_diag.settings_file`) and then from the CLI, the CLI overriding. Every unknown code, prefix or threshold name is an error naming
where it came from, because a typo that silently disables a check is worse than no check.
"""
from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..errors import InputError
from ..formatting import pct, plain
from ..results import Results
from .rule import Finding, Outcome, Recommendation, Rule, Severity, Status


@dataclass(frozen=True)
class EngineSettings:
    """Which rules run and with which thresholds. `origin` names where they were read."""

    select: tuple[str, ...] = ("HND",)
    ignore: tuple[str, ...] = ()
    thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    origin: str = "defaults"


def _rules_by_code() -> dict[str, Rule]:
    from .registry import BY_CODE

    return BY_CODE


def check_selector(entry: str, origin: str, rules: Mapping[str, Rule] | None = None) -> str:
    """Return the entry upper-cased, or raise InputError if it matches no rule."""
    rules = rules if rules is not None else _rules_by_code()
    key = entry.strip().upper()
    if not key or not any(code.startswith(key) for code in rules):
        raise InputError(origin, f"unknown rule code or prefix {entry!r} (see `hnet-diag rules`)")
    return key


def is_selected(code: str, select: Iterable[str], ignore: Iterable[str]) -> bool:
    """True when the longest matching `select` entry is longer than the longest `ignore` one."""
    best_sel = max((len(s) for s in select if code.startswith(s)), default=-1)
    best_ign = max((len(s) for s in ignore if code.startswith(s)), default=-1)
    return best_sel >= 0 and best_sel > best_ign


def parse_threshold_arg(arg: str) -> tuple[str, str, float]:
    """`"HND101.min_ratio=8"` -> ("HND101", "min_ratio", 8.0)."""
    try:
        left, value = arg.split("=", 1)
        code, name = left.split(".", 1)
        return code.strip().upper(), name.strip(), float(value)
    except ValueError:
        raise InputError("--threshold", f"expected CODE.name=number, got {arg!r}") from None


def build_settings(
    table: Mapping[str, Any] | None = None,
    origin: str = "[tool.hnet-diag]",
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    thresholds: Iterable[str] = (),
) -> EngineSettings:
    """Merge a `[tool.hnet-diag]` table with CLI options (CLI wins) and validate everything.

    `select`/`ignore` from the CLI replace the file's lists; `--threshold` entries override
    single values on top of the file's `thresholds` tables.
    """
    rules = _rules_by_code()
    # the table is shared with other readers (log patterns...): only our keys are ours to check
    table = dict(table or {})

    def as_list(value: Any, key: str) -> list[str]:
        if isinstance(value, str):
            return [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise InputError(origin, f"`{key}` must be a list of rule codes")
        return list(value)

    sel = as_list(table.get("select", ["HND"]), "select")
    sel += as_list(table.get("extend-select", table.get("extend_select", [])), "extend-select")
    ign = as_list(table.get("ignore", []), "ignore")
    sel = [check_selector(s, origin, rules) for s in sel]
    ign = [check_selector(s, origin, rules) for s in ign]
    if select is not None:
        sel = [check_selector(s, "--select", rules) for s in _split(select)]
    if ignore is not None:
        ign = [check_selector(s, "--ignore", rules) for s in _split(ignore)]

    merged: dict[str, dict[str, float]] = {}
    file_thresholds = table.get("thresholds", {})
    if not isinstance(file_thresholds, Mapping):
        raise InputError(origin, "`thresholds` must be a table of [thresholds.HNDxxx] tables")
    for code, values in file_thresholds.items():
        if not isinstance(values, Mapping):
            raise InputError(origin, f"`thresholds.{code}` must be a table of name = number")
        for name, value in values.items():
            _set_threshold(merged, rules, code, name, value, origin)
    for arg in thresholds:
        code, name, value = parse_threshold_arg(arg)
        _set_threshold(merged, rules, code, name, value, "--threshold")
    return EngineSettings(select=tuple(sel), ignore=tuple(ign), thresholds=merged, origin=origin)


def _split(values: Iterable[str]) -> list[str]:
    """CLI lists may be repeated flags or comma-separated: `--select HND1,HND4`."""
    out: list[str] = []
    for v in values:
        out += [p for p in v.split(",") if p.strip()]
    return out


def _set_threshold(merged: dict, rules: Mapping[str, Rule], code: str, name: str, value: Any, origin: str) -> None:
    code = str(code).upper()
    if code not in rules:
        raise InputError(origin, f"threshold for unknown rule {code!r}")
    rule = rules[code]
    if name not in rule.defaults():
        owner = next((m.code for m in rule.mirrors if name in {t.name for t in m.all_thresholds()}), None)
        if owner:  # a healthy sign judges with its problem rule's threshold: one value for both
            raise InputError(origin, f"{code}.{name} is {owner}'s threshold (healthy signs mirror their problem "
                                     f"rule): set {owner}.{name}")
        known = ", ".join(rule.defaults()) or "none"
        raise InputError(origin, f"{code} has no threshold {name!r} (known: {known})")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise InputError(origin, f"threshold {code}.{name} must be a finite number, got {value!r}")
    merged.setdefault(code, {})[name] = float(value)


# -- evaluation ------------------------------------------------------------------------------

def thresholds_for(rule: Rule, overrides: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, float]:
    """The thresholds `rule` is judged by: its mirrored rules' in effect, then its own."""
    overrides = overrides or {}
    t: dict[str, float] = {}
    for m in rule.mirrors:
        t.update(thresholds_for(m, overrides))
    return {**t, **rule.defaults(), **overrides.get(rule.code, {})}


def evaluate(rule: Rule, results: Results | Mapping[str, Any], thresholds: Mapping[str, float] | None = None,
             strict: bool = False) -> Finding:
    """Run one rule on analyzer results and turn its outcome into a Finding.

    `thresholds` override the rule's defaults (for a healthy sign, the defaults include
    those of the rules it mirrors). A missing analyzer result, or a predicate that reports
    nothing to measure, gives a `no-data` finding: absence of evidence never raises an alarm.
    `strict` raises MissingFact for a text placeholder without a value (see `fill`).
    """
    r = results if isinstance(results, Results) else Results.of(results)
    t = {**thresholds_for(rule), **(thresholds or {})}
    return _finding(rule, outcome_of(rule, r, t), t, strict)


def outcome_of(rule: Rule, r: Results, t: Mapping[str, float]) -> Outcome:
    """The rule's predicate on `r`, or no-data when a result it reads is missing or empty."""
    waiting = live_wait(rule, r.progress)
    if waiting:
        return Outcome(None, {"reason": waiting})
    missing = [k for k in rule.reads if getattr(r, k) is None and k not in r.failed]
    empty = [r.failed[k] if k in r.failed else (getattr(getattr(r, k), "reason", "") or "not enough data")
             for k in rule.reads if k not in missing and (k in r.failed or (
                 getattr(getattr(r, k), "ok", True) is False and k not in rule.reads_partial))]
    if missing:
        outcome = Outcome(None, {"reason": f"no {', '.join(missing)} analysis was run"})
    elif empty:
        outcome = Outcome(None, {"reason": f"not enough data: {'; '.join(empty)}"})
    else:
        outcome = rule.check(r, t)
    return outcome


def live_wait(rule: Rule, progress: Any) -> str | None:
    """Why a rule does not judge a run still being written yet, or None when it can."""
    if progress is None or progress.finished or rule.live == "any":
        return None
    if rule.live == "end":
        return "the run is still being written; judged when it has ended"
    if rule.live == "settled" and not progress.settled:
        return "the run is still being written; judged once past warmup and a quarter of its planned steps"
    return None


def _finding(rule: Rule, outcome: Outcome, t: Mapping[str, float], strict: bool = False) -> Finding:
    severity = outcome.severity or rule.severity
    # thresholds as typed (t_name) and as a percentage (tp_name) for fractions
    facts = {**{f"t_{k}": plain(v) for k, v in t.items()}, **{f"tp_{k}": pct(v) for k, v in t.items()},
             **dict(outcome.facts)}

    def text(template: str) -> str:
        return fill(template, facts, strict)

    if outcome.fired is None:
        status, message, rec = Status.NO_DATA, outcome.facts.get("reason", "not enough data to check this"), None
    elif rule.severity is Severity.POSITIVE:
        if outcome.fired:
            status, message, rec = Status.PASS, text(rule.message), None
        else:  # the healthy sign is absent: say nothing alarming, the problem rules speak
            status, message, rec = Status.NO_DATA, text(rule.pass_message or "not observed"), None
    elif outcome.fired:
        status = Status.FAIL if severity.rank >= Severity.HIGH.rank else Status.WARN
        message = text(rule.message)
        rec = Recommendation(
            text=text(rule.recommendation),
            flags=tuple(split_flags(text(x) for x in rule.flags)),
            actions=outcome.actions if outcome.actions is not None else rule.actions,
            expect=text(rule.expect),
            risk=text(rule.risk),
        )
    else:
        status, message, rec = Status.PASS, text(rule.pass_message or "no problem found"), None
    return Finding(
        code=rule.code,
        name=rule.name,
        severity=severity,
        status=status,
        title=rule.title,
        message=message,
        area=rule.area,
        evidence=outcome.evidence,
        recommendation=rec,
        priority=_priority(severity) if status in (Status.FAIL, Status.WARN) else 99,
        thresholds=dict(t),
    )


def split_flags(texts: Iterable[str]) -> list[str]:
    """`["--resume --max-steps 600"]` -> `["--resume", "--max-steps 600"]`: one flag per entry,
    so deduplication across findings works per flag."""
    out: list[str] = []
    for text in texts:
        for token in text.split():
            if token.startswith("--") or not out:
                out.append(token)
            else:
                out[-1] += " " + token
    return list(dict.fromkeys(out))


def _priority(severity: Severity) -> int:
    return {Severity.CRITICAL: 1, Severity.HIGH: 2, Severity.MEDIUM: 3, Severity.LOW: 4}.get(severity, 99)


class MissingFact(KeyError):
    """A message placeholder with no value: a predicate bug (raised only when strict)."""


def fill(template: str, facts: Mapping[str, Any], strict: bool = False) -> str:
    """Fill the `{name}` placeholders of a rule's text from the facts.

    A placeholder without a value renders "?" so a predicate bug never takes a user's
    report down; `strict=True` (what the tests use) raises MissingFact instead, also for a
    value that is None or contains "?" (what `formatting.g(None)` gives).
    """
    out = []
    for literal, name, spec, _conv in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        if name not in facts:
            if strict:
                raise MissingFact(f"{{{name}}} in {template!r}")
            out.append("?")
            continue
        value = facts[name]
        if strict and (value is None or "?" in str(value)):
            raise MissingFact(f"{{{name}}} = {value!r} in {template!r}")
        try:
            out.append(format(value, spec or ""))
        except (ValueError, TypeError):
            out.append(str(value))
    return "".join(out)


def run_rules(
    results: Results | Mapping[str, Any],
    settings: EngineSettings | None = None,
    rules: Iterable[Rule] | None = None,
) -> list[Finding]:
    """Every selected rule, in code order, as a Finding (alarms, passes and no-data).

    A healthy sign that would pass beside an alarm of a rule it mirrors is withdrawn (shown
    as not observed): a report never calls healthy what it also calls a problem.
    """
    settings = settings or EngineSettings()
    r = results if isinstance(results, Results) else Results.of(results)
    if rules is None:
        from .registry import RULES

        rules = RULES
    selected = [rule for rule in rules if is_selected(rule.code, settings.select, settings.ignore)]
    t_of = {rule.code: thresholds_for(rule, settings.thresholds) for rule in selected}
    outcomes = {rule.code: outcome_of(rule, r, t_of[rule.code]) for rule in selected}
    findings = {rule.code: _finding(rule, outcomes[rule.code], t_of[rule.code]) for rule in selected}
    alarms = {code for code, f in findings.items() if f.is_alarm}
    for rule in selected:
        if findings[rule.code].is_positive and any(m.code in alarms for m in rule.mirrors):
            o = outcomes[rule.code]
            findings[rule.code] = _finding(rule, Outcome(False, o.facts, o.evidence), t_of[rule.code])
    return [findings[rule.code] for rule in selected]
