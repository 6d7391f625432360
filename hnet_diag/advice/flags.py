"""Structured actions from the bundled trainer's flags (`--warmup-steps 1100` -> an Action).

Rules state their fix as the bundled trainer's flags, formatted from the evidence
(`--learning-rate 1.5e-4`, `--resume --max-steps 300`): those flags are what `hnet-diag
train` takes, and what `compare`/`verify-fix` re-run with, so they stay exactly as the rule
wrote them. Every other use reads the `Action`s this module derives from them, through the
bundled table of `vocabulary.py` read backwards: the conflict check compares their
settings and directions, the JSON carries them, and the other trainers' tables render them.
One table serves both ways, so a flag and its action cannot drift apart.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from .actions import Action

#: bundled flag -> setting (the bundled table of vocabulary.py, read backwards)
FLAG_SETTINGS: dict[str, str] = {
    "--learning-rate": "learning_rate", "--lr-multipliers": "lr_multipliers", "--warmup-steps": "warmup_steps",
    "--max-steps": "max_steps", "--max-grad-norm": "max_grad_norm", "--schedule": "schedule", "--resume": "resume",
    "--weight-decay": "weight_decay", "--ratio-loss-weight": "ratio_loss_weight",
    "--target-compression": "target_compression", "--temperature": "temperature", "--top-p": "top_p",
    "--top-k": "top_k", "--repetition-penalty": "repetition_penalty", "--max-new-tokens": "max_new_tokens",
}
_VALUELESS = {"--resume"}
_TOKEN = re.compile(r"(--[a-z][a-z-]*)(?:[ =]+(<[^>]*>|[^\s-][^\s]*))?")


def parse_flags(flags: Iterable[str], declared: Iterable[str] = (), now: Any = None) -> tuple[Action, ...]:
    """The actions a rule's formatted flags ask for.

    `declared` are the rule's direction keys ("learning_rate:down"): they give each action
    its direction even when the current value is unknown. `now` is anything with the
    current values as attributes (the run's TrainingSettings / GenerationSettings), for
    `from`. Unknown flags are kept out (and the rule's flags still show them as written).
    """
    ways = dict(k.split(":", 1) for k in declared if ":" in k)
    out: list[Action] = []
    for flag in flags:
        for name, value in _TOKEN.findall(flag or ""):
            setting = FLAG_SETTINGS.get(name)
            if setting is None:
                continue
            if name in _VALUELESS:
                out.append(Action(setting, to=True, text="", direction=ways.get(setting, "on")))
                continue
            before = _current(now, setting)
            placeholder = value.startswith("<")
            out.append(Action(setting, to=None if placeholder else _value(value), from_=before,
                              text=value, direction=ways.get(setting, "")))
    return tuple(out)


def _current(now: Any, setting: str) -> Any:
    for obj in (now if isinstance(now, (list, tuple)) else (now,)):
        v = getattr(obj, setting, None)
        if v is not None:
            return list(v) if isinstance(v, tuple) else v
    return None


def _value(text: str) -> Any:
    parts = text.split(",")
    nums = []
    for p in parts:
        try:
            f = float(p)
        except ValueError:
            return text
        nums.append(int(f) if f.is_integer() and "." not in p and "e" not in p.lower() else f)
    return nums if len(nums) > 1 else nums[0]
