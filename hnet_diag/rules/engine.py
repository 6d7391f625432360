"""Apply the catalog to analyzer results: selection, thresholds, and Findings.

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
from .rule import Finding, Outcome, Recommendation, Rule, Severity, Status


@dataclass(frozen=True)
class EngineSettings:
    """Which rules run and with which thresholds. `origin` names where they were read."""

    select: tuple[str, ...] = ("HND",)
    ignore: tuple[str, ...] = ()
    thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    origin: str = "defaults"


def _catalog() -> dict[str, Rule]:
    from .catalog import RULES

    return {r.code: r for r in RULES}


def check_selector(entry: str, origin: str, rules: Mapping[str, Rule] | None = None) -> str:
    """Return the entry upper-cased, or raise InputError if it matches no rule."""
    rules = rules if rules is not None else _catalog()
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
    rules = _catalog()
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
        known = ", ".join(rule.defaults()) or "none"
        raise InputError(origin, f"{code} has no threshold {name!r} (known: {known})")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise InputError(origin, f"threshold {code}.{name} must be a finite number, got {value!r}")
    merged.setdefault(code, {})[name] = float(value)


# -- evaluation ------------------------------------------------------------------------------

def evaluate(rule: Rule, results: Mapping[str, Any], thresholds: Mapping[str, float] | None = None) -> Finding:
    """Run one rule on analyzer results and turn its outcome into a Finding.

    A missing analyzer result, or a predicate that reports nothing to measure, gives a
    `no-data` finding: absence of evidence never raises an alarm.
    """
    t = {**rule.defaults(), **(thresholds or {})}
    missing = [k for k in rule.reads if results.get(k) is None]
    empty = [results[k] for k in rule.reads if k not in missing and getattr(results[k], "ok", True) is False]
    if missing:
        outcome = Outcome(None, {"reason": f"no {', '.join(missing)} analysis was run"})
    elif empty:
        reason = "; ".join(getattr(r, "reason", "") or "not enough data" for r in empty)
        outcome = Outcome(None, {"reason": f"not enough data: {reason}"})
    else:
        outcome = rule.check(results, t)
    return _finding(rule, outcome, t)


def _finding(rule: Rule, outcome: Outcome, t: Mapping[str, float]) -> Finding:
    severity = outcome.severity or rule.severity
    # thresholds as typed (t_name) and as a percentage (tp_name) for fractions
    facts = {**{f"t_{k}": _num(v) for k, v in t.items()}, **{f"tp_{k}": f"{100 * v:.1f}%" for k, v in t.items()},
             **dict(outcome.facts)}
    if outcome.fired is None:
        status, message, rec = Status.NO_DATA, outcome.facts.get("reason", "not enough data to check this"), None
    elif rule.severity is Severity.POSITIVE:
        if outcome.fired:
            status, message, rec = Status.PASS, fill(rule.message, facts), None
        else:  # the healthy sign is absent: say nothing alarming, the problem rules speak
            status, message, rec = Status.NO_DATA, fill(rule.pass_message or "not observed", facts), None
    elif outcome.fired:
        status = Status.FAIL if severity.rank >= Severity.HIGH.rank else Status.WARN
        message = fill(rule.message, facts)
        rec = Recommendation(
            text=fill(rule.recommendation, facts),
            flags=tuple(split_flags(fill(x, facts) for x in rule.flags)),
            actions=outcome.actions if outcome.actions is not None else rule.actions,
            expect=fill(rule.expect, facts),
            risk=fill(rule.risk, facts),
        )
    else:
        status, message, rec = Status.PASS, fill(rule.pass_message or "no problem found", facts), None
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


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else v


class _Facts(dict):
    """Missing template keys render as '?', so a predicate bug never crashes a report."""

    def __missing__(self, key: str) -> str:
        return "?"


def fill(template: str, facts: Mapping[str, Any]) -> str:
    """`str.format_map` that tolerates missing keys and formats numbers compactly."""
    try:
        return string.Formatter().vformat(template, (), _Facts(facts))
    except (ValueError, TypeError, KeyError, IndexError):  # a format spec applied to '?'
        return _loose(template, facts)


def _loose(template: str, facts: Mapping[str, Any]) -> str:
    """Fallback: drop the format specs of values that cannot take them."""
    out = []
    for literal, fname, spec, conv in string.Formatter().parse(template):
        out.append(literal)
        if fname is None:
            continue
        value = facts.get(fname, "?")
        try:
            out.append(format(value, spec or ""))
        except (ValueError, TypeError):
            out.append(str(value))
    return "".join(out)


def run_rules(
    results: Mapping[str, Any],
    settings: EngineSettings | None = None,
    rules: Iterable[Rule] | None = None,
) -> list[Finding]:
    """Every selected rule, in catalog order, as a Finding (alarms, passes and no-data)."""
    settings = settings or EngineSettings()
    if rules is None:
        from .catalog import RULES

        rules = RULES
    out = []
    for rule in rules:
        if is_selected(rule.code, settings.select, settings.ignore):
            out.append(evaluate(rule, results, settings.thresholds.get(rule.code)))
    return out
