"""Root causes and recommendation conflicts: the step between findings and a report.

Several findings are often one problem seen from several sides: gradient spikes at the end
of warmup, on the stage with the largest LR multiplier, are HND101, HND201 and HND202 at
once. Two findings are linked when a known mechanism connects their codes (MECHANISMS) AND
their evidence overlaps (same steps window, or same stage); the first code of a linked group
in CAUSAL_ORDER (upstream knobs before downstream symptoms) is its root. The tables are
derived by `registry.py` from each rule's `cause` (its family module), never written here.

Recommendations are then deduplicated and checked against each other: each carries
`actions` ("max_grad_norm:up"), and CONFLICTS lists which actions contradict which findings
(never "loosen clipping" beside "gradient explosion"). When a pair contradicts, the
recommendation of the lower-priority finding is withdrawn and the report says why.

Two causes can also compete: read one way the run is undertrained (HND402, the training
loss still falls), read the other it overfits (HND403, the validation loss rose from its
best). Where a rule declares that its evidence decides such a pair (`Cause.decides`, table
DECIDES), `settle_competitions` says so before any priority is weighed: the competing
finding says what it still means, its recommendation is withdrawn with the deciding
evidence as the reason, and `link_causes` puts it under the deciding rule's root cause with
that evidence as the link.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .registry import CAUSAL_ORDER, CAUSE_TITLES, CONFLICTS, DECIDES, GENERIC_SYMPTOMS, MECHANISMS, SPECIFIC_ROOTS
from .rule import Finding, Recommendation


@dataclass(frozen=True)
class RootCause:
    """A group of linked findings with one root."""

    id: str
    root: str  # code
    codes: tuple[str, ...]
    title: str
    links: tuple[str, ...]  # the mechanism sentences that joined the group
    window: tuple[int, int] | None = None
    stage: int | None = None


@dataclass(frozen=True)
class Conflict:
    """Two recommendations (or a recommendation and a finding) that contradict."""

    kept: str  # code whose recommendation stays
    dropped: str  # code whose recommendation is withdrawn
    action: str
    reason: str


@dataclass(frozen=True)
class MergedRecommendation:
    """One line of the report's recommendation list: deduplicated across findings."""

    text: str
    flags: tuple[str, ...]
    codes: tuple[str, ...]
    priority: int
    severity: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    changes: tuple = ()  # advice.Action of the flags kept here (and optional extras): what to render per trainer


def _order(code: str) -> int:
    return CAUSAL_ORDER.index(code) if code in CAUSAL_ORDER else len(CAUSAL_ORDER)


def shares_evidence(a: Finding, b: Finding) -> bool:
    """Same stage, or overlapping step windows (both findings must say where they are)."""
    ea, eb = a.evidence, b.evidence
    if ea.stage is not None and eb.stage is not None and ea.stage == eb.stage:
        return True
    if ea.window and eb.window:
        return ea.window[0] <= eb.window[1] and eb.window[0] <= ea.window[1]
    return False


def deciding_evidence(this: Finding, other: Finding) -> str | None:
    """The sentence saying which evidence of `this` finding settles the competing `other`
    (`Cause.decides`), or None when `this` rule does not decide `other`'s."""
    d = DECIDES.get((this.code, other.code))
    if d is None:
        return None
    return _fill(d.evidence, this, other, f"{this.code}'s evidence decides: {this.message.rstrip('.')}")


def _fill(template: str, this: Finding, other: Finding, fallback: str) -> str:
    try:
        return template.format(this=this, other=other)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):  # evidence lacking a field the text quotes
        return fallback


def settle_competitions(findings: Sequence[Finding]) -> tuple[list[Finding], list[Conflict]]:
    """Where one alarm's evidence decides a competing alarm (`Cause.decides`), the competing
    finding's message says what it still means and its recommendation is withdrawn.

    This runs before the priority-based conflict check on purpose: the evidence decides, not
    the severities, so a user's severity override cannot turn "overfitting, stop at the best
    step" back into "undertrained, train longer". Returns the findings and one Conflict per
    withdrawn recommendation, whose reason is the deciding evidence.
    """
    alarms = {f.code: f for f in findings if f.is_alarm}
    settled: dict[str, tuple[Finding, Any]] = {}
    for (code, other), d in DECIDES.items():
        if code in alarms and other in alarms and other not in settled:
            settled[other] = (alarms[code], d)
    if not settled:
        return list(findings), []
    out: list[Finding] = []
    conflicts: list[Conflict] = []
    for f in findings:
        if f.code not in settled or not f.is_alarm:
            out.append(f)
            continue
        this, d = settled[f.code]
        if f.recommendation:
            conflicts.append(Conflict(kept=this.code, dropped=f.code, action=", ".join(f.recommendation.keys),
                                      reason=deciding_evidence(this, f) or ""))
        note = _fill(d.note, this, f, f"{this.code}'s evidence decides between them")
        out.append(f.with_(message=f"{f.message.rstrip('.')}; {note}.", recommendation=None))
    return out, conflicts


def link_causes(findings: Sequence[Finding]) -> list[RootCause]:
    """Group alarm findings into root causes (singletons included), root first.

    A pair is linked by a known mechanism when their evidence overlaps, and always when one
    decides the other (`Cause.decides`: the deciding evidence is the link, the deciding rule
    the root whatever the causal order).
    """
    alarms = [f for f in findings if f.is_alarm]
    parent = {f.code: f.code for f in alarms}
    joined: list[tuple[str, str, str]] = []  # (code, code, mechanism) for every link made

    def find(c: str) -> str:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for i, a in enumerate(alarms):
        for b in alarms[i + 1:]:
            decided = deciding_evidence(a, b) or deciding_evidence(b, a)
            why = decided or MECHANISMS.get(frozenset({a.code, b.code}))
            if why and (decided or shares_evidence(a, b)):
                ra, rb = find(a.code), find(b.code)
                if ra != rb:
                    parent[rb] = ra
                joined.append((a.code, b.code, why))

    groups: dict[str, list[Finding]] = {}
    for f in alarms:
        groups.setdefault(find(f.code), []).append(f)
    causes = []
    for members in groups.values():
        present = {f.code for f in members}
        beaten = {other for code, other in DECIDES if code in present and other in present}
        members.sort(key=lambda f: (f.code in beaten, _order(f.code)))
        codes = tuple(f.code for f in members)
        links = tuple(why for a, b, why in joined if a in codes and b in codes)
        root = members[0]
        windows = [f.evidence.window for f in members if f.evidence.window]
        stages = {f.evidence.stage for f in members if f.evidence.stage is not None}
        causes.append(
            RootCause(
                id="",
                root=root.code,
                codes=codes,
                title=CAUSE_TITLES.get(root.code, root.title),
                links=links,
                window=(min(w[0] for w in windows), max(w[1] for w in windows)) if windows else None,
                stage=stages.pop() if len(stages) == 1 else None,
            )
        )
    by_code = {f.code: f for f in alarms}
    causes.sort(key=lambda c: (min(by_code[x].priority for x in c.codes), -len(c.codes), _order(c.root)))
    return [RootCause(**{**c.__dict__, "id": f"C{i + 1}"}) for i, c in enumerate(causes)]


def find_conflicts(findings: Iterable[Finding]) -> list[Conflict]:
    """Every contradiction between an emitted recommendation and another alarm or recommendation.

    Two kinds: an action listed in CONFLICTS beside one of its codes, and the same knob
    moved both ways ("max_steps:up" and "max_steps:down"). The finding with the better
    (lower) priority keeps its recommendation.
    """
    alarms = sorted((f for f in findings if f.is_alarm), key=lambda f: (f.priority, _order(f.code)))
    out: list[Conflict] = []
    for f in alarms:
        if not f.recommendation:
            continue
        for action in f.recommendation.keys:
            codes, why = CONFLICTS.get(action, (frozenset(), ""))
            for other in alarms:
                if other.code == f.code:
                    continue
                if other.code in codes:
                    out.append(_conflict(f, other, action, why))
                    continue
                if other.recommendation and _opposite(action) and _opposite(action) in other.recommendation.keys:
                    out.append(_conflict(f, other, action, f"moving {action.split(':')[0]} both ways", both_ways=True))
    seen, unique = set(), []
    for c in out:
        key = (c.kept, c.dropped, c.action)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


def _opposite(action: str) -> str:
    """"max_steps:up" -> "max_steps:down"; actions without a direction have no opposite."""
    knob, _, way = action.partition(":")
    other = {"up": "down", "down": "up"}.get(way)
    return f"{knob}:{other}" if other else ""


def _conflict(f: Finding, other: Finding, action: str, why: str, both_ways: bool = False) -> Conflict:
    """Decide whose recommendation goes.

    An action that contradicts another finding's very presence ("loosen clipping" beside
    gradient explosion) is incoherent whatever the priorities, so its carrier loses it. A
    knob moved both ways is a genuine trade-off: the more important finding keeps its say.
    """
    if both_ways:  # say which evidence decided: the more important finding's own measurement
        kept, dropped = (f, other) if (other.priority, _order(other.code)) > (f.priority, _order(f.code)) else (other, f)
        why = (f"{why}; {kept.code} ({kept.severity}) outranks {dropped.code} ({dropped.severity}), so its evidence "
               f"decides: {kept.message.rstrip('.')}")
        if kept is f:
            return Conflict(kept=f.code, dropped=other.code, action=_opposite(action), reason=why)
    return Conflict(kept=other.code, dropped=f.code, action=action, reason=why)


def resolve_conflicts(findings: Sequence[Finding]) -> tuple[list[Finding], list[Conflict]]:
    """Withdraw recommendations until no pair contradicts; return the findings and what was done."""
    current = list(findings)
    applied: list[Conflict] = []
    for _ in range(len(current) + 1):
        conflicts = find_conflicts(current)
        if not conflicts:
            return current, applied
        c = conflicts[0]
        applied.append(c)
        current = [f.with_(recommendation=None) if f.code == c.dropped else f for f in current]
    return current, applied


def defer_to_roots(findings: Sequence[Finding], causes: Sequence[RootCause]) -> tuple[list[Finding], list[Conflict]]:
    """Drop a symptom's generic fix when its root cause has a specific one.

    Spikes explained by steep multipliers or a short warmup are fixed by that knob; also
    lowering the global LR would change two things at once and hide which one worked.
    """
    dropped: dict[str, Conflict] = {}
    for c in causes:
        if c.root not in SPECIFIC_ROOTS:
            continue
        for code in c.codes:
            if code in GENERIC_SYMPTOMS:
                dropped[code] = Conflict(kept=c.root, dropped=code, action="learning_rate:down",
                                         reason="the root cause's own fix addresses it; change one knob at a time")
    if not dropped:
        return list(findings), []
    out = [f.with_(recommendation=None) if f.code in dropped and f.recommendation else f for f in findings]
    return out, [dropped[f.code] for f in findings if f.code in dropped and f.recommendation]


def merge_recommendations(findings: Sequence[Finding]) -> list[MergedRecommendation]:
    """Deduplicate recommendations: identical flags (or identical text) become one line.

    Each flag is kept once across the whole list, at the priority of the most important
    finding asking for it, so `--learning-rate` is never recommended twice with two values.
    A line keeps the structured changes of the flags it kept (plus optional extras), so
    every trainer's rendering says the same as the bundled flags.
    """
    from ..advice.flags import parse_flags

    alarms = sorted((f for f in findings if f.is_alarm and f.recommendation), key=lambda f: (f.priority, _order(f.code)))
    merged: list[MergedRecommendation] = []
    flag_owner: dict[str, int] = {}
    for f in alarms:
        rec: Recommendation = f.recommendation  # type: ignore[assignment]
        flags = []
        owners = []
        for flag in rec.flags:
            name = flag.split()[0] if flag.startswith("--") else flag
            if name in flag_owner:
                owners.append(flag_owner[name])
                m = merged[flag_owner[name]]
                if f.code not in m.codes:
                    merged[flag_owner[name]] = MergedRecommendation(**{**m.__dict__, "codes": m.codes + (f.code,)})
                continue
            flags.append(flag)
        if rec.flags and not flags:  # every flag already asked for by a more important finding
            continue
        kept = {a.setting for a in parse_flags(flags)}
        changes = tuple(a for a in rec.changes if a.setting in kept or a.optional or not rec.flags)
        same_text = next((i for i, m in enumerate(merged) if m.text == rec.text), None)
        if same_text is not None:
            m = merged[same_text]
            merged[same_text] = MergedRecommendation(
                **{**m.__dict__, "codes": tuple(dict.fromkeys(m.codes + (f.code,))), "flags": tuple(dict.fromkeys(m.flags + tuple(flags))),
                   "changes": tuple(dict.fromkeys(m.changes + changes))}
            )
            continue
        merged.append(MergedRecommendation(text=rec.text, flags=tuple(flags), codes=(f.code,), priority=f.priority,
                                           severity=f.severity.value, changes=changes))
        for flag in flags:
            flag_owner[flag.split()[0] if flag.startswith("--") else flag] = len(merged) - 1
    return merged
