"""Every rule, collected from the family modules; and the tables derived from them.

Nothing is defined here: a rule lives in its family module (gradients, schedule,
load_balance, convergence, generation, distributed, weights, healthy), and this module only gathers them in
code order and derives what root-cause linking needs from each rule's `cause`. Adding a
rule to a family's `RULES` is all it takes to register it.
"""
from __future__ import annotations

from . import convergence, distributed, generation, gradients, healthy, load_balance, schedule, weights
from .actions import CONFLICT_REASONS
from .rule import Decides, Rule, Severity

#: the family modules, in code order (HND1xx ... HND7xx, then the HND9xx healthy signs)
FAMILIES = (gradients, schedule, load_balance, convergence, generation, distributed, weights, healthy)

RULES: tuple[Rule, ...] = tuple(r for family in FAMILIES for r in family.RULES)
BY_CODE: dict[str, Rule] = {r.code: r for r in RULES}

#: the codes of the problem rules, and of the healthy signs (pinned by tests)
PROBLEM_CODES = tuple(r.code for r in RULES if r.severity is not Severity.POSITIVE)
POSITIVE_CODES = tuple(r.code for r in RULES if r.severity is Severity.POSITIVE)

_CAUSED = sorted((r for r in RULES if r.cause is not None), key=lambda r: r.cause.order)  # type: ignore[union-attr]

#: upstream causes first: a schedule knob explains a gradient symptom, not the reverse
CAUSAL_ORDER: tuple[str, ...] = tuple(r.code for r in _CAUSED)

#: {code, code} -> how the first can produce or accompany the second
MECHANISMS: dict[frozenset[str], str] = {
    frozenset({r.code, other}): why for r in _CAUSED for other, why in r.cause.explains  # type: ignore[union-attr]
}

#: short names for a cause, by its root code
CAUSE_TITLES: dict[str, str] = {r.code: r.cause.title for r in _CAUSED if r.cause.title}  # type: ignore[union-attr]

#: action -> (codes it must not be recommended beside, why)
CONFLICTS: dict[str, tuple[frozenset[str], str]] = {
    action: (frozenset(r.code for r in _CAUSED if action in r.cause.contradicted_by), why)  # type: ignore[union-attr]
    for action, why in CONFLICT_REASONS.items()
}

#: (deciding code, competing code) -> how the first's evidence settles the second (`Cause.decides`)
DECIDES: dict[tuple[str, str], Decides] = {
    (r.code, d.code): d for r in _CAUSED for d in r.cause.decides  # type: ignore[union-attr]
}

#: symptoms whose generic fix (lower the LR) is withdrawn when a linked root names the knob
GENERIC_SYMPTOMS = frozenset(r.code for r in _CAUSED if r.cause.generic_fix)  # type: ignore[union-attr]
SPECIFIC_ROOTS = frozenset(r.code for r in _CAUSED if r.cause.specific_fix)  # type: ignore[union-attr]


def check_registry() -> None:
    """Raise if the collected rules break an invariant a new rule could break."""
    if len(BY_CODE) != len(RULES):
        raise ValueError("duplicate rule code")
    for r in RULES:
        positive = r.severity is Severity.POSITIVE
        if positive != bool(r.mirrors) or (positive and r.cause is not None) or (not positive and r.cause is None):
            raise ValueError(f"{r.code}: a healthy sign mirrors problem rules and has no cause; a problem rule has a cause")
        for m in r.mirrors:
            if BY_CODE.get(m.code) is not m:
                raise ValueError(f"{r.code} mirrors {m.code}, which is not registered")
        for action in r.cause.contradicted_by if r.cause else ():
            if action not in CONFLICT_REASONS:
                raise ValueError(f"{r.code}: action {action!r} has no reason in actions.CONFLICT_REASONS")
        for other, _ in r.cause.explains if r.cause else ():
            if other not in BY_CODE:
                raise ValueError(f"{r.code} explains unknown code {other}")
        for d in r.cause.decides if r.cause else ():
            if d.code not in BY_CODE or d.code == r.code or (d.code, r.code) in DECIDES:
                raise ValueError(f"{r.code} decides {d.code}: an unknown code, itself, or one that decides it back")
    orders = [r.cause.order for r in _CAUSED]  # type: ignore[union-attr]
    if len(set(orders)) != len(orders):
        raise ValueError("two rules share a causal order")
    pairs = [frozenset({r.code, o}) for r in _CAUSED for o, _ in r.cause.explains]  # type: ignore[union-attr]
    if len(set(pairs)) != len(pairs):
        raise ValueError("a mechanism is declared twice")


check_registry()
