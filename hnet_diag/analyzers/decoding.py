"""Step-wise decoding vs the teacher-forced forward pass, on a reference-trainer checkpoint.

Generation runs the model one byte at a time with caches; training runs the whole
sequence at once. If the two disagree (the official code once ignored its attention window
while decoding) samples are bad although every training metric looks healthy. Running
both on the same held-out bytes and comparing the logits catches it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import AnalyzerResult


@dataclass(frozen=True)
class DecodingResult(AnalyzerResult):
    checkpoint: str | None = None
    checkpoint_step: int | None = None
    n_sequences: int = 0
    seq_len: int = 0
    seed: int = 0
    corpus: str | None = None
    max_abs_diff: float | None = None  # over all sequences and positions
    mean_abs_diff: float | None = None
    max_abs_logit: float | None = None  # scale of the logits, to read the diff against
    relative_max_diff: float | None = None  # max_abs_diff / max_abs_logit
    per_position_max: tuple[float, ...] = ()  # max over sequences and vocabulary, per position
    first_position_above: int | None = None  # first position whose diff exceeds `tolerance`
    tolerance: float = 1e-3  # the level `first_position_above` uses (a detection parameter)
    attention_windows: tuple[int, ...] | None = None  # from the checkpoint's model config


def analyze_decoding(run, n_sequences: int = 4, seq_len: int = 256, **kwargs) -> DecodingResult:
    raise NotImplementedError
