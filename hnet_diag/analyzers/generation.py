"""Sampling settings: how random generation is, and how long against the training context."""
from __future__ import annotations

from dataclasses import dataclass

from .base import AnalyzerResult


@dataclass(frozen=True)
class GenerationResult(AnalyzerResult):
    source: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    max_new_tokens: int | None = None
    training_seq_len: int | None = None
    max_new_over_seq_len: float | None = None
    pure_sampling: bool | None = None  # temperature >= 1, top_p >= 1 (or unset) and no top_k
    has_repetition_penalty: bool | None = None  # penalty set and != 1.0


def analyze_generation(run) -> GenerationResult:
    raise NotImplementedError
