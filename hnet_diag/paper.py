"""The H-Net paper's numbers (Hwang, Wang & Gu, "Dynamic Chunking for End-to-End
Hierarchical Sequence Modeling", 2025), in one place.

Rules quote them in advice ("the paper's alpha"), analyzers compute references from them
(Eq. 11) and the bundled trainer uses them as defaults, so a correction here moves all
three together.
"""
from __future__ import annotations

import math
from typing import Sequence

#: weight alpha of the ratio (load-balancing) loss in every experiment of the paper
RATIO_LOSS_WEIGHT = 0.03

#: "a reasonable set that works well in general" for a 2-stage H-Net, outermost first
SUGGESTED_MULTIPLIERS: tuple[float, ...] = (2.0, 1.5, 1.0)
#: its max/min ratio: the steepness the paper itself recommends
SUGGESTED_RATIO: float = max(SUGGESTED_MULTIPLIERS) / min(SUGGESTED_MULTIPLIERS)
#: LR multipliers per hierarchy level by number of chunking stages (the trainer's defaults)
MULTIPLIERS_BY_STAGES: dict[int, tuple[float, ...]] = {0: (1.0,), 1: (2.0, 1.0), 2: SUGGESTED_MULTIPLIERS}

#: compression targets N per chunking stage, outermost first, by number of stages
TARGETS_BY_STAGES: dict[int, tuple[float, ...]] = {1: (6.0,), 2: (3.0, 3.0)}

#: Eq. 11's constant: bytes per BPE token of the paper's GPT baseline
N_GPT = 4.6

#: warmup over the first 10% of the steps; WSD decays over the last 20%
WARMUP_FRACTION = 0.1
DECAY_FRACTION = 0.2


def eq11_multipliers(targets: Sequence[float], widths: Sequence[float], n_gpt: float = N_GPT) -> tuple[float, ...]:
    """The paper's Eq. 11 LR multipliers, outermost stage first.

    lambda_s = sqrt(N_GPT * prod_{i=s..S} N_i / prod_{i=0..S} N_i * D_S / D_s), N_S = 1:
    a stage's LR grows with the square root of the tokens it sees per step (fewer after
    each compression) and shrinks with the square root of its width. `targets` has one N
    per chunking stage (S values); `widths` one D per level (S + 1 values).
    """
    n = [float(x) for x in targets] + [1.0]
    d = [float(x) for x in widths]
    if len(d) != len(n):
        raise ValueError(f"need {len(n)} widths for {len(n) - 1} compression targets, got {len(d)}")
    total = math.prod(n)
    return tuple(math.sqrt(n_gpt * math.prod(n[s:]) / total * d[-1] / d[s]) for s in range(len(n)))
