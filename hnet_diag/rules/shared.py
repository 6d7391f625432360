"""Small helpers several rule families share: evidence windows and flag suggestions.

Flag suggestions start from the run's own settings (half its --learning-rate, clipping
only where it has none), so a recommendation is a command a user can paste.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..formatting import sci
from ..results import Results
from .rule import NO_DATA, Threshold

NO = NO_DATA


def T(name: str, default: float, doc: str) -> Threshold:
    """Shorthand for a rule's threshold declaration."""
    return Threshold(name, default, doc)


def after_warmup(spikes: Iterable[Any]) -> list[Any]:
    return [s for s in spikes if s.phase == "after_warmup"]


def window_of(steps: Iterable[int]) -> tuple[int, int] | None:
    steps = list(steps)
    return (min(steps), max(steps)) if steps else None


def base_lr(r: Results) -> float | None:
    """The run's --learning-rate: config first, else the peak of the logged LR."""
    t = r.training
    if t is not None and getattr(t, "learning_rate", None):
        return float(t.learning_rate)
    w = r.warmup
    if w is not None and getattr(w, "ok", False) and w.peak_lr:
        return float(w.peak_lr)
    return None


def lower_lr_flags(r: Results, factor: float = 0.5) -> tuple[str, str]:
    """('--learning-rate 1.5e-4', '3e-4 -> 1.5e-4'), or a placeholder flag when the LR is unknown."""
    lr = base_lr(r)
    if lr is None:
        return "--learning-rate <half the current value>", "half the current LR"
    return f"--learning-rate {sci(lr * factor)}", f"{sci(lr)} -> {sci(lr * factor)}"


def clip_flag(r: Results) -> str:
    """Recommend clipping only where the run has none."""
    clips = [getattr(r.gradients, "max_grad_norm", None), getattr(r.training, "max_grad_norm", None)]
    has_clip = any(c is not None and c > 0 for c in clips)  # the trainer's --max-grad-norm 0 disables clipping
    return "" if has_clip else "--max-grad-norm 1.0"
