"""Learning-rate schedule: warmup length and the per-stage LR multipliers.

Warmup: the ratio alone (10% in the paper) is not evidence; instability concentrated at
the end of warmup, when the LR first reaches its peak, is. So the result carries the
spikes around that step next to the ratio.

LR ratio: H-Net trains outer stages with larger LRs (multipliers). The paper's Eq. 11
gives multipliers from each stage's compression and width; a run's multipliers are only a
problem when the stage with the largest one is where the gradients misbehave.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import AnalyzerResult
from .spikes import Spike

#: H-Net paper: "a reasonable set that works well in general" (2-stage)
PAPER_SUGGESTED_MULTIPLIERS: tuple[float, ...] = (2.0, 1.5, 1.0)
#: H-Net paper's Eq. 11 constant: tokens per BPE token of the GPT baseline
N_GPT = 4.6
#: paper compression targets by number of chunking stages
PAPER_TARGETS: dict[int, tuple[float, ...]] = {1: (6.0,), 2: (3.0, 3.0)}


@dataclass(frozen=True)
class WarmupResult(AnalyzerResult):
    """Warmup length and the instability around its end."""

    warmup_steps: int | None = None  # the value used (LR series first, else config)
    warmup_steps_lr: int | None = None  # from the LR series: first step at the peak
    warmup_steps_config: int | None = None
    source: str | None = None  # "lr_series", "config"
    lr_metric: str | None = None
    peak_lr: float | None = None
    peak_lr_step: int | None = None
    planned_steps: int | None = None
    warmup_fraction: float | None = None  # warmup_steps / planned_steps (last step if no plan)
    fraction_of: str | None = None  # "planned_steps" or "last_step"
    tokens_per_step: int | None = None  # batch_size * seq_len
    warmup_tokens: int | None = None
    # evidence: spikes around the end of warmup
    near_window: tuple[int, int] | None = None  # steps [lo, hi] counted as "near the end of warmup"
    spikes_near_end: tuple[Spike, ...] = ()  # gradient and loss spikes in that window
    grad_spikes_near_end: int = 0
    loss_spikes_near_end: int = 0
    spikes_total: int = 0  # gradient + loss spikes outside the first steps
    fraction_near_end: float | None = None  # spikes near end / spikes_total
    window_fraction: float | None = None  # share of the run's steps the window covers
    concentration: float | None = None  # fraction_near_end / window_fraction (1 = uniform)


@dataclass(frozen=True)
class LRRatioResult(AnalyzerResult):
    """Per-stage LRs, their multipliers, and the paper's references."""

    source: str | None = None  # "logs", "checkpoint" or "config"
    series_used: tuple[str, ...] = ()
    reference_step: int | None = None  # step the LRs were read at (the peak of the base LR)
    stage_lrs: tuple[float, ...] = ()  # absolute LR per stage (outermost first), when known
    multipliers: tuple[float, ...] = ()  # per stage, relative to the base LR (innermost when no base)
    multipliers_relative_to: str | None = None  # "base_lr" or "innermost_stage"
    max_min_ratio: float | None = None
    largest_stage: int | None = None
    # the paper's Eq. 11
    rule_multipliers: tuple[float, ...] | None = None
    rule_max_min_ratio: float | None = None
    rule_targets: tuple[float, ...] | None = None  # N_s used
    rule_targets_source: str | None = None  # "config" or "paper_default"
    rule_widths: tuple[int, ...] | None = None  # D_s used
    multipliers_over_rule: tuple[float, ...] | None = None
    paper_suggested: tuple[float, ...] = PAPER_SUGGESTED_MULTIPLIERS
    paper_suggested_ratio: float = 2.0
    # per-stage gradient behaviour
    stage_spike_counts: tuple[int, ...] | None = None  # gradient spikes after the first steps, per stage
    most_spiky_stage: int | None = None
    largest_stage_is_most_spiky: bool | None = None


def analyze_warmup(run, **kwargs) -> WarmupResult:
    raise NotImplementedError


def analyze_lr_ratio(run, **kwargs) -> LRRatioResult:
    raise NotImplementedError
