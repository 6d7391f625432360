"""The Rule type and what a rule produces: a Finding.

A rule is data plus one small predicate, as in ruff or evidently: the code, name, severity,
thresholds, texts and its place among root causes live in fields so `hnet-diag rules`,
`explain`, the report, root-cause linking and the machine outputs all read the same object,
and the predicate only measures evidence (a typed `Results`) against thresholds. A
predicate never formats prose; it returns an `Outcome` whose `facts` fill the rule's
message and recommendation templates, so every message quotes the measured value and the
threshold it was compared with.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from ..results import Results


class Severity(str, enum.Enum):
    """How bad a finding is. `positive` marks a healthy sign worth saying out loud."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    POSITIVE = "positive"

    @property
    def rank(self) -> int:
        """Larger is worse; positive ranks below everything so `--fail-on` never counts it."""
        return {"critical": 4, "high": 3, "medium": 2, "low": 1, "positive": 0}[self.value]

    def __str__(self) -> str:
        return self.value


class Status(str, enum.Enum):
    """Outcome of one rule on one run (evidently's test statuses, minus `error`).

    `fail` and `warn` are alarms (fail for critical/high, warn for medium/low); `pass` means
    the evidence was there and the problem was not (or, for a positive rule, the healthy sign
    was); `no-data` means the analyzer had nothing to measure, which is never an alarm.
    """

    FAIL = "fail"
    WARN = "warn"
    PASS = "pass"
    NO_DATA = "no-data"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Threshold:
    """A named, documented knob of a rule; users override it by `CODE.name=value`."""

    name: str
    default: float
    doc: str


@dataclass(frozen=True)
class RuleDoc:
    """A rule's page: what it detects, why it matters, an example message, how to fix it."""

    what: str
    why: str
    example: str
    fix: str


@dataclass(frozen=True)
class Evidence:
    """What a finding rests on, so a reader (or root-cause linking) can check it.

    `window` is the (first, last) step the evidence covers; findings whose windows overlap,
    or which point at the same stage, may share a cause.
    """

    metric: str | None = None
    steps: tuple[int, ...] = ()
    values: tuple[float, ...] = ()
    threshold: float | None = None
    measured: float | None = None
    stage: int | None = None
    window: tuple[int, int] | None = None
    plot: str | None = None  # file name of the plot that shows it (report's plots/ folder)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "steps": list(self.steps),
            "values": [_json_float(v) for v in self.values],
            "threshold": _json_float(self.threshold),
            "measured": _json_float(self.measured),
            "stage": self.stage,
            "window": list(self.window) if self.window else None,
            "plot": self.plot,
        }


@dataclass(frozen=True)
class Recommendation:
    """What to do, with the exact trainer or generation flags.

    `actions` name the direction each flag moves a knob ("max_grad_norm:down"); the conflict
    checker in causes.py reads them, never the prose.
    """

    text: str
    flags: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    expect: str = ""  # what a run with the fix should show, as a check hnet-diag can repeat
    risk: str = ""  # what the fix may cost
    changes: tuple[Any, ...] = ()  # advice.Action: each change as data (setting, from, to)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "flags": list(self.flags), "actions": list(self.actions),
                "changes": [a.to_dict() for a in self.changes], "expect": self.expect, "risk": self.risk}

    @property
    def keys(self) -> tuple[str, ...]:
        """"setting:direction" of every change, then any declared action no change covers."""
        keys = [a.key for a in self.changes]
        covered = {a.setting for a in self.changes}
        keys += [k for k in self.actions if k.split(":", 1)[0] not in covered]
        return tuple(dict.fromkeys(keys))


@dataclass(frozen=True)
class Outcome:
    """What a predicate returns: did the problem (or healthy sign) show, and the facts.

    `fired` True means the rule's condition holds (an alarm, or for a positive rule the
    healthy sign); False means the evidence was there and the condition did not hold; None
    means there was nothing to measure. `facts` fill the message/recommendation templates.
    `severity` lets a predicate escalate or soften (a NaN loss is worse than a slow climb).
    """

    fired: bool | None
    facts: Mapping[str, Any] = field(default_factory=dict)
    evidence: Evidence = field(default_factory=Evidence)
    severity: Severity | None = None
    actions: tuple[str, ...] | None = None  # when the fix chosen from the evidence moves other knobs


NO_DATA = Outcome(None)

#: threshold name -> value in effect (defaults, then the user's settings)
Thresholds = Mapping[str, float]
Predicate = Callable[["Results", Thresholds], Outcome]


@dataclass(frozen=True)
class Cause:
    """A problem rule's place among root causes (`causes.py` reads these, never codes).

    `order`: lower is further upstream (a schedule knob explains a gradient symptom, not the
    reverse); the first code of a linked group in this order is its root. `title` names the
    cause when this rule is its root. `explains` pairs another code with the mechanism by
    which this rule's problem produces or accompanies it: two alarms are linked when such a
    pair exists (declared on either rule) and their evidence overlaps. `contradicted_by`
    lists actions ("max_grad_norm:up") never to recommend while this finding stands; their
    reasons live in `actions.py`. `generic_fix`: a symptom whose generic fix (lower the LR)
    is withdrawn when a `specific_fix` root explains it. `decides`: competing diagnoses this
    rule's evidence settles when both stand (see `Decides`).
    """

    order: int
    title: str = ""
    explains: tuple[tuple[str, str], ...] = ()
    contradicted_by: tuple[str, ...] = ()
    generic_fix: bool = False
    specific_fix: bool = False
    decides: tuple["Decides", ...] = ()


@dataclass(frozen=True)
class Decides:
    """This rule's evidence settles a competing diagnosis when both findings stand.

    Two causes can read the same run two ways: a training loss still falling at the end says
    "undertrained, train longer" (HND402), a validation loss risen from its best and staying
    up says "overfitting, stop earlier" (HND403). When one's evidence is what tells them apart,
    it decides: the competing finding (`code`) joins this rule's root cause (this rule its
    root, whatever the causal order), its recommendation is withdrawn whatever the
    priorities, and its message gains `note`. `evidence` is the sentence that says which
    evidence decided, shown as the root cause's link and as the withdrawn recommendation's
    reason. Both are `str.format` templates over the two findings, `this` (the deciding one)
    and `other`: "{this.evidence.metric} rose from step {this.evidence.steps[0]}".
    """

    code: str
    evidence: str
    note: str


@dataclass(frozen=True)
class Rule:
    """One check: stable code, readable name, severity, thresholds, texts and a predicate.

    `reads` names the analyzer results (fields of `Results`) the predicate needs; a
    missing one makes the finding `no-data` without calling the predicate. `message` and
    `recommendation` are `str.format` templates over the outcome's facts plus the thresholds
    (as `t_<name>`, and `tp_<name>` as a percentage). `flags` are templates too (e.g.
    "--warmup-steps {suggested_warmup}").

    A healthy sign (severity positive) names the problem rules it `mirrors`: it is judged
    with their thresholds in effect (a user's override of HND202 moves HND907 too), plus
    its own `thresholds`, which may only add a stricter band; and it never passes beside an
    alarm of a rule it mirrors (the engine enforces it).
    """

    code: str
    name: str
    title: str
    severity: Severity
    area: str  # report section: gradients, schedule, load balance, convergence, loss, generation, decoding
    reads: tuple[str, ...]
    message: str
    recommendation: str
    doc: RuleDoc
    check: Predicate
    thresholds: tuple[Threshold, ...] = ()
    flags: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    pass_message: str = ""  # what a pass says, for the JSON/JUnit outputs
    expect: str = ""  # template: the measurable outcome of following the recommendation
    risk: str = ""  # template: what following it may cost
    cause: Cause | None = None  # problem rules: their place among root causes
    mirrors: tuple["Rule", ...] = ()  # healthy signs: the problem rules they are the absence of
    needs: tuple[str, ...] = ()  # what it measures, for "checks without data" (keys of advice.enable.NEEDS)
    offers: tuple[Any, ...] = ()  # advice.Action: optional extra remedies, shown where a trainer has them
    only_hnet: bool = False  # judges an H-Net part (a stage) although its results exist for any model
    #: results the predicate reads even when their analyzer lacked data for the rest of them
    #: (the predicate checks the fields it uses): a run's plan and last step need no loss curve
    reads_partial: tuple[str, ...] = ()
    #: when it can judge a run still being written (Results.progress set): "any" time,
    #: once routing has "settled" (past warmup and a quarter of the plan), or at the "end"
    live: str = "any"

    @property
    def hnet_only(self) -> bool:
        """Whether the rule applies to H-Nets only: it says so, or reads only what an H-Net has (analyzers.HNET_ONLY)."""
        from ..analyzers import HNET_ONLY

        return self.only_hnet or (bool(self.reads) and set(self.reads) <= HNET_ONLY)

    def defaults(self) -> dict[str, float]:
        """This rule's own thresholds (a healthy sign's mirrored ones come from its mirrors)."""
        return {t.name: t.default for t in self.thresholds}

    def all_thresholds(self) -> tuple[Threshold, ...]:
        """Every threshold the predicate is judged by: the mirrored rules' first, then its own."""
        seen: dict[str, Threshold] = {}
        for m in self.mirrors:
            for t in m.all_thresholds():
                seen[t.name] = t
        for t in self.thresholds:
            seen[t.name] = t
        return tuple(seen.values())

    def threshold(self, name: str) -> Threshold:
        for t in self.all_thresholds():
            if t.name == name:
                return t
        raise KeyError(name)


@dataclass(frozen=True)
class Finding:
    """The result of one rule on one run, ready to render."""

    code: str
    name: str
    severity: Severity
    status: Status
    title: str
    message: str
    area: str
    evidence: Evidence = field(default_factory=Evidence)
    recommendation: Recommendation | None = None
    priority: int = 99  # 1 is first; set by severity, then by root cause order
    thresholds: Mapping[str, float] = field(default_factory=dict)
    cause: str | None = None  # id of the root cause it belongs to (causes.py)

    @property
    def is_alarm(self) -> bool:
        return self.status in (Status.FAIL, Status.WARN)

    @property
    def is_positive(self) -> bool:
        return self.severity is Severity.POSITIVE and self.status is Status.PASS

    def with_(self, **changes: Any) -> "Finding":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value,
            "status": self.status.value,
            "title": self.title,
            "message": self.message,
            "area": self.area,
            "priority": self.priority,
            "evidence": self.evidence.to_dict(),
            "recommendation": self.recommendation.to_dict() if self.recommendation else None,
            "thresholds": {k: _json_float(v) for k, v in sorted(self.thresholds.items())},
            "cause": self.cause,
        }


def _json_float(v: Any) -> Any:
    """JSON has no NaN/Inf: write them as strings so a NaN loss stays visible and valid."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    if f != f or f in (float("inf"), float("-inf")):
        return str(f)
    return int(f) if f.is_integer() and abs(f) < 2**53 and isinstance(v, int) else f
