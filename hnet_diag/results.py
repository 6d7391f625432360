"""`Results`: the typed bridge from the analyzers to the rules.

A rule's predicate reads one `Results`: one typed field per analyzer result (the names are
`hnet_diag.analyzers.ANALYZERS`' keys, and a rule's `reads` names them), plus the run's
own training, model and generation settings. Registering an analyzer means adding its
field here too (tests/test_results.py checks the two agree). So what a rule may read is written down in
one place and a typo in a field name fails at once instead of reading None.

An analyzer that raised leaves its field None and its reason in `failed`, so its rules
report no-data with that reason while the rest of the report stands.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from .analyzers.boundaries import BoundaryResult
from .analyzers.convergence import ConvergenceResult
from .analyzers.decoding import DecodingResult
from .analyzers.generation import GenerationResult
from .analyzers.gradients import GradientResult
from .analyzers.load_balance import LoadBalanceResult
from .analyzers.learning import LearningResult
from .analyzers.loss import LossResult
from .analyzers.ranks import RankResult
from .analyzers.sample_quality import SamplesResult
from .analyzers.lr_ratio import LRRatioResult
from .analyzers.warmup import WarmupResult
from .analyzers.weights import WeightsResult
from .run import GenerationSettings, ModelSettings, RunProgress, TrainingSettings

#: the fields that hold run settings rather than analyzer results
SETTINGS = ("training", "model", "generation_settings")
#: fields that are neither: what failed, and how far a live run has got
NOT_ANALYSES = ("failed", "progress")


@dataclass(frozen=True)
class Results:
    """Analyzer results and run settings, as rules read them. Every field may be None."""

    gradients: GradientResult | None = None
    warmup: WarmupResult | None = None
    lr_ratio: LRRatioResult | None = None
    load_balance: LoadBalanceResult | None = None
    convergence: ConvergenceResult | None = None
    loss: LossResult | None = None
    generation: GenerationResult | None = None
    decoding: DecodingResult | None = None
    ranks: RankResult | None = None
    learning: LearningResult | None = None
    weights: WeightsResult | None = None
    boundaries: BoundaryResult | None = None
    samples: SamplesResult | None = None
    training: TrainingSettings | None = None
    model: ModelSettings | None = None
    generation_settings: GenerationSettings | None = None
    failed: Mapping[str, str] = field(default_factory=dict)  # analyzer name -> why it raised
    progress: RunProgress | None = None  # set while a run is still being written (watch, Monitor)

    @classmethod
    def of(cls, values: "Mapping[str, Any] | Results", run: Any = None) -> "Results":
        """From `analyze_all(run)`'s dict (or a Results), with the settings of `run`.

        Keys of `values` win over `run`'s settings. Unknown keys are an error: a misspelt
        name would otherwise silently feed no rule.
        """
        if isinstance(values, Results):
            values = {f.name: getattr(values, f.name) for f in fields(values)}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise KeyError(f"not a field of Results: {', '.join(unknown)} (fields: {', '.join(sorted(known))})")
        out: dict[str, Any] = {}
        failed = dict(values.get("failed") or {})
        for name in SETTINGS:
            out[name] = getattr(run, "generation" if name == "generation_settings" else name, None)
        # a setting left None (a Results made without a run) does not hide the run's own
        out.update((k, v) for k, v in values.items() if k != "failed" and not (k in SETTINGS and v is None))
        return cls(**out, failed=failed)

    def analyses(self) -> dict[str, Any]:
        """The analyzer results that are there, by name (what plots and the appendix draw)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in SETTINGS and f.name not in NOT_ANALYSES and getattr(self, f.name) is not None}
