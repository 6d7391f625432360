"""Sampling settings: how random generation is, and how long against the training context."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import AnalyzerResult, new_axes, no_data_axes


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


    def plot(self, ax: Any = None) -> Any:
        """Bars: max_new_tokens against the training sequence length, with the settings in the title."""
        title = "Generation settings"
        if not self.ok:
            return no_data_axes(ax, self.reason, title)
        ax = new_axes(ax, title)
        labels, values = [], []
        if self.max_new_tokens is not None:
            labels.append("max_new_tokens")
            values.append(self.max_new_tokens)
        if self.training_seq_len is not None:
            labels.append("training seq_len")
            values.append(self.training_seq_len)
        if values:
            ax.bar(labels, values, color=["tab:blue", "tab:gray"][: len(values)])
            ax.set_ylabel("bytes / tokens")
        settings = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in [("temperature", self.temperature), ("top_p", self.top_p), ("top_k", self.top_k),
                         ("repetition_penalty", self.repetition_penalty)]
            if v is not None
        )
        ax.set_title(f"{title}: {settings}" if settings else title, fontsize=9)
        return ax


def is_pure_sampling(temperature: float | None, top_p: float | None, top_k: int | None) -> bool | None:
    """Sampling straight from the model's distribution: temperature >= 1, no nucleus, no top-k.

    Unknown temperature -> None (cannot tell). top_p / top_k unset mean "not applied", as in
    the official generate.py, whose defaults are temperature 1.0 and top_p 1.0.
    """
    if temperature is None:
        return None
    return temperature >= 1.0 and (top_p is None or top_p >= 1.0) and (top_k is None or top_k <= 0)


def analyze_generation(run) -> GenerationResult:
    """Sampling settings from the run's generation config, against the training context.

    No generation settings anywhere in the run -> no data (the run may never have sampled).
    With settings present, a missing repetition penalty means none is applied.
    """
    g = run.generation
    seq_len = run.training.seq_len
    if g is None:
        return GenerationResult.no_data("no generation settings (generation config, sampling flags) in the run", training_seq_len=seq_len)
    values = (g.temperature, g.top_p, g.top_k, g.repetition_penalty, g.max_new_tokens)
    if all(v is None for v in values):
        return GenerationResult.no_data(f"{g.source or 'generation settings'} states no sampling parameter",
                                        source=g.source, training_seq_len=seq_len)
    ratio = g.max_new_tokens / seq_len if g.max_new_tokens is not None and seq_len else None
    return GenerationResult(
        source=g.source,
        temperature=g.temperature,
        top_p=g.top_p,
        top_k=g.top_k,
        repetition_penalty=g.repetition_penalty,
        max_new_tokens=g.max_new_tokens,
        training_seq_len=seq_len,
        max_new_over_seq_len=ratio,
        pure_sampling=is_pure_sampling(g.temperature, g.top_p, g.top_k),
        has_repetition_penalty=g.repetition_penalty is not None and g.repetition_penalty != 1.0,
    )
