"""A recommended change as data: which setting, from what, to what.

A recommendation's prose is for people; its `Action`s are for everything else. The conflict
check compares actions (never "loosen clipping" beside "gradient explosion"), the JSON
report carries them so other tools can apply the advice, and the vocabulary
(`hnet_diag.advice.vocabulary`) renders each one in the words of the trainer that wrote the
run: `{"setting": "warmup_steps", "from": 525, "to": 1100}` is `--warmup-steps 1100` for the
bundled trainer, `TrainingArguments(warmup_steps=1100)` for Hugging Face, `warmup_iters =
1100` for nanoGPT and `-u 1100` for llm.c.

Settings are named as in `TrainingSettings` / `GenerationSettings` where one exists; the
few that are not a number (`resume`, `early_stopping`, `schedule`) carry their own value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: setting -> (what it is, in a sentence; the unit its value is counted in)
SETTINGS: dict[str, tuple[str, str]] = {
    "learning_rate": ("the peak learning rate", ""),
    "lr_multipliers": ("the per-stage learning-rate multipliers", ""),
    "warmup_steps": ("the warmup", "steps"),
    "max_steps": ("the planned training length", "steps"),
    "max_grad_norm": ("the gradient-clipping norm", ""),
    "schedule": ("the learning-rate schedule", ""),
    "resume": ("resuming from the last checkpoint", ""),
    "early_stopping": ("early stopping on the validation loss", ""),
    "weight_decay": ("the weight decay", ""),
    "ratio_loss_weight": ("the ratio (load-balancing) loss weight", ""),
    "target_compression": ("the target compression per stage", ""),
    "temperature": ("the sampling temperature", ""),
    "top_p": ("top-p (nucleus) sampling", ""),
    "top_k": ("top-k sampling", ""),
    "repetition_penalty": ("the repetition penalty", ""),
    "max_new_tokens": ("the generation length", "tokens"),
}

#: settings that belong to sampling, not training (the plan's generation phase)
GENERATION = frozenset({"temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens"})


@dataclass(frozen=True)
class Action:
    """One change: `setting` moves from `from_` to `to` (None when unknown).

    `text` is the value as the rule wrote it for people ("1.5e-4", "2.0,1.5,1.0"), so every
    vocabulary shows the same number; `direction` is "up", "down" or another verb ("anneal",
    "on") for the conflict check, derived from the numbers when not given. `optional`
    marks a remedy shown only where the trainer has it natively (HF's
    `EarlyStoppingCallback`), never as a neutral sentence. `params` carry what a
    non-numeric action needs (early stopping's patience and metric).
    """

    setting: str
    to: Any = None
    from_: Any = None
    text: str = ""
    direction: str = ""
    optional: bool = False
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.setting not in SETTINGS:
            raise ValueError(f"unknown setting {self.setting!r}; known: {', '.join(SETTINGS)}")
        if not self.direction:
            object.__setattr__(self, "direction", _direction(self.from_, self.to))
        if not self.text and self.to is not None:
            object.__setattr__(self, "text", _text(self.to))

    @property
    def key(self) -> str:
        """"warmup_steps:up": what the conflict check compares."""
        return f"{self.setting}:{self.direction}" if self.direction else self.setting

    def param(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)

    @property
    def value(self) -> str:
        """The value to show: the rule's text, else a placeholder that says what to put."""
        if self.text:
            return self.text
        return "<lower than now>" if self.direction == "down" else "<higher than now>" if self.direction == "up" else "<value>"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"setting": self.setting, "from": _plain(self.from_), "to": _plain(self.to),
                               "direction": self.direction or None}
        if self.params:
            out["params"] = {k: _plain(v) for k, v in self.params}
        if self.optional:
            out["optional"] = True
        return out


def _direction(before: Any, after: Any) -> str:
    a, b = _number(before), _number(after)
    if a is None or b is None or a == b:
        return ""
    return "up" if b > a else "down"


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) for x in v):
        return float(max(v)) / float(min(v)) if min(v) > 0 else None  # multipliers: compare their spread
    return None


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ",".join(_text(x) for x in v)
    return str(v)


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v
