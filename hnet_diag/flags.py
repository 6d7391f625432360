"""The bundled trainer's vocabulary: which setting each `hnet-diag train` / `generate` flag sets.

`compare` names the settings two runs differ in by these flags, and `verify-fix` turns a
report's recommendations into a follow-up command with them. The flag of a setting is its
name with dashes (`lr_multipliers` -> `--lr-multipliers`), as `commands/train.py` and
`commands/generate.py` define them; lists are written comma-separated, as those flags take
them.
"""
from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import Any, Iterable

#: settings `hnet-diag train` takes as flags (TrainConfig fields), in the order printed
TRAIN_SETTINGS: tuple[str, ...] = (
    "learning_rate", "lr_multipliers", "warmup_steps", "max_steps", "schedule", "max_grad_norm",
    "batch_size", "seq_len", "weight_decay", "ratio_loss_weight", "target_compression", "stop_at_step",
    "seed", "eval_every", "save_every", "data",
)

#: settings `hnet-diag generate` takes as flags (SamplingSettings fields)
GENERATE_SETTINGS: tuple[str, ...] = ("temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens")

#: flags without a value: they switch a mode of the command
SWITCHES: tuple[str, ...] = ("resume",)


def flag(setting: str) -> str:
    """`lr_multipliers` -> `--lr-multipliers`."""
    return "--" + setting.replace("_", "-")


def setting_of(flag_name: str) -> str:
    """`--lr-multipliers` -> `lr_multipliers`."""
    return flag_name.lstrip("-").replace("-", "_")


def value_text(v: Any) -> str:
    """A setting's value as the flag takes it: 2e-3 -> '0.002', (2.0, 1.5) -> '2.0,1.5'."""
    if isinstance(v, (list, tuple)):
        return ",".join(value_text(x) for x in v)
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) < 1e6:
        return repr(v)  # 1.0 stays 1.0 (a float flag), not 1
    return str(v)


@dataclass(frozen=True)
class FlagValue:
    """One parsed flag: the setting it sets and the value as typed ('' for a switch)."""

    setting: str
    value: str

    @property
    def is_switch(self) -> bool:
        return self.setting in SWITCHES

    @property
    def is_generation(self) -> bool:
        return self.setting in GENERATE_SETTINGS

    def argv(self) -> list[str]:
        return [flag(self.setting)] if self.is_switch else [flag(self.setting), self.value]


def parse_flags(texts: Iterable[str]) -> list[FlagValue]:
    """'--resume --max-steps 600' -> [resume, max_steps=600]; a flag followed by another flag is a switch.

    A value in angle brackets ('<half the current value>') is a placeholder, not a value,
    and is returned as such so the caller can refuse to run it.
    """
    out: list[FlagValue] = []
    for text in texts:
        tokens = shlex.split(text)
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if not tok.startswith("--"):
                i += 1
                continue
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is None or nxt.startswith("--") or setting_of(tok) in SWITCHES:
                out.append(FlagValue(setting_of(tok), ""))
                i += 1
            else:
                # a placeholder may span several words: "<half the current value>"
                if nxt.startswith("<"):
                    j = i + 1
                    while j < len(tokens) and not tokens[j].endswith(">"):
                        j += 1
                    nxt = " ".join(tokens[i + 1 : j + 1])
                    i = j + 1
                else:
                    i += 2
                out.append(FlagValue(setting_of(tok), nxt))
    return out
