"""What a report asks the next run to change, and how: one home for the report's plan,
its expected outcomes, and the follow-up `verify-fix` trains.

The report's "Implementation Plan" (a new run, or a resume) and its "Expected Outcomes"
are read from here, so `verify-fix` does exactly what the report says and `compare` checks
exactly the outcomes the report promised.

`recommended_changes` is the one adapter between recommendations and settings. Today it
parses the bundled trainer's flags of the merged recommendations; when recommendations
carry structured actions ({"setting", "from", "to"}), only this function changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .diagnosis import Diagnosis

#: settings whose change acts from step 0 (warmup, LR, multipliers, schedule, chunking
#: targets, clipping, weight decay): a resumed run cannot show their effect, so the
#: follow-up starts over (the report's plan, for every trainer, reads this)
RESTART_SETTINGS = frozenset({
    "learning_rate", "lr_multipliers", "warmup_steps", "schedule", "ratio_loss_weight",
    "target_compression", "max_grad_norm", "weight_decay",
})


@dataclass(frozen=True)
class Change:
    """One setting the report asks to change: `to` as the bundled flag takes it."""

    setting: str
    to: str
    codes: tuple[str, ...]  # the findings whose recommendation asks for it
    generation: bool = False  # a sampling setting (`hnet-diag generate`), not a training one

    @property
    def flag(self) -> str:
        from .flags import flag

        return flag(self.setting)

    @property
    def placeholder(self) -> bool:
        """'<half the current value>': the report could not compute the value."""
        return self.to.startswith("<")


@dataclass(frozen=True)
class FollowUpPlan:
    """The report's plan as data: which settings change, and a new run or a resume."""

    train: tuple[Change, ...] = ()
    generate: tuple[Change, ...] = ()
    resume: bool = False  # continue the run (else: a new run, when `train` is not empty)
    notes: tuple[str, ...] = ()  # recommendations without settings (things to check by hand)
    dropped: tuple[str, ...] = field(default_factory=tuple)  # a setting asked twice: the later values

    @property
    def restart(self) -> bool:
        return bool(self.train) and not self.resume

    @property
    def empty(self) -> bool:
        return not self.train and not self.generate and not self.resume


def recommended_changes(d: "Diagnosis") -> tuple[list[Change], bool, list[str]]:
    """(changes, resume asked, dropped duplicates) from the merged recommendations, most important first.

    ADAPTER between recommendations and settings: a recommendation's structured actions
    (`changes`: objects with `setting` and `text`/`to`) when it carries them, else its
    bundled-trainer flag strings, parsed. Settings the bundled trainer has no flag for
    (another trainer's remedy) are left out. A setting asked by two recommendations keeps
    the first (higher-priority) value; the others are reported.
    """
    from .flags import GENERATE_SETTINGS, SWITCHES, TRAIN_SETTINGS

    changes: dict[str, Change] = {}
    dropped: list[str] = []
    resume = False
    for r in d.recommendations:
        for setting, value in _asked(r):
            if setting in SWITCHES:
                resume = resume or setting == "resume"
                continue
            if setting not in TRAIN_SETTINGS and setting not in GENERATE_SETTINGS:
                continue
            if setting in changes:
                if changes[setting].to != value:
                    dropped.append(f"{setting} {value} ({', '.join(r.codes)})")
                continue
            changes[setting] = Change(setting, value, tuple(r.codes), generation=setting in GENERATE_SETTINGS)
    return list(changes.values()), resume, dropped


def _asked(r: Any) -> list[tuple[str, str]]:
    """(setting, value text) pairs one recommendation asks for."""
    from .flags import parse_flags, value_text

    actions = getattr(r, "changes", None)
    if actions:
        return [(a.setting, a.text or ("" if a.to is None or a.to is True else value_text(a.to))) for a in actions
                if not getattr(a, "optional", False)]
    return [(fv.setting, fv.value) for fv in parse_flags(r.flags)]


def plan(d: "Diagnosis") -> FollowUpPlan:
    """The follow-up the report recommends: a new run when a setting acting from step 0
    changes (warmup, LR, multipliers...) or the plan gets shorter than the steps already
    trained, else a resume when the report asks for one or only the length grows."""
    changes, resume_asked, dropped = recommended_changes(d)
    train = tuple(c for c in changes if not c.generation)
    generate = tuple(c for c in changes if c.generation)
    restart = any(c.setting in RESTART_SETTINGS or _shortens(c, d.last_step) for c in train)
    resume = not restart and (resume_asked or bool(train))
    notes = tuple(r.text for r in d.recommendations if not r.flags)
    return FollowUpPlan(train=train, generate=generate, resume=resume, notes=notes, dropped=tuple(dropped))


def _shortens(c: Change, last_step: int | None) -> bool:
    """A plan shorter than the steps already trained (stop earlier) cannot be a resume."""
    if c.setting != "max_steps" or last_step is None:
        return False
    try:
        return int(float(c.to)) < last_step
    except ValueError:
        return False


def expected_outcomes(d: "Diagnosis") -> list[tuple[str, str]]:
    """The report's "Expected Outcomes": (code, outcome) for each alarm's recommendation,
    most important first, each text once (several findings can share one outcome)."""
    seen: dict[str, str] = {}
    for f in d.alarms:
        rec = f.recommendation
        if rec and rec.expect and rec.expect not in seen:
            seen[rec.expect] = f.code
    return [(code, text) for text, code in seen.items()]


def describe(p: FollowUpPlan) -> dict[str, Any]:
    """A plain summary for JSON and messages."""
    return {
        "kind": "resume" if p.resume else ("new run" if p.train else ("generation only" if p.generate else "nothing")),
        "train": {c.flag: c.to for c in p.train},
        "generate": {c.flag: c.to for c in p.generate},
        "notes": list(p.notes),
        "dropped": list(p.dropped),
    }
