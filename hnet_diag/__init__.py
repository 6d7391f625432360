"""hnet-diag: diagnose H-Net and other LLM training runs from the files they leave behind.

    from hnet_diag import load_run
    run = load_run("runs/exp1")
    run.metric("grad_norm")          # step-indexed pandas Series

Imports are lazy so `import hnet_diag` stays fast: torch, matplotlib and tensorboard load
only when a function that needs them runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "load_run": ("hnet_diag.sources.discover", "load_run"),
    "Run": ("hnet_diag.run", "Run"),
    "TrainingSettings": ("hnet_diag.run", "TrainingSettings"),
    "ModelSettings": ("hnet_diag.run", "ModelSettings"),
    "GenerationSettings": ("hnet_diag.run", "GenerationSettings"),
    "CheckpointSummary": ("hnet_diag.run", "CheckpointSummary"),
    "HnetDiagError": ("hnet_diag.errors", "HnetDiagError"),
    "InputError": ("hnet_diag.errors", "InputError"),
    "diagnose": ("hnet_diag.diagnosis", "diagnose"),
    "Diagnosis": ("hnet_diag.diagnosis", "Diagnosis"),
    "Finding": ("hnet_diag.rules.rule", "Finding"),
    "Severity": ("hnet_diag.rules.rule", "Severity"),
    "Monitor": ("hnet_diag.live.monitor", "Monitor"),
    "LiveFinding": ("hnet_diag.live.judge", "LiveFinding"),
}

__all__ = sorted(_LAZY) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .diagnosis import Diagnosis, diagnose
    from .errors import HnetDiagError, InputError
    from .live.judge import LiveFinding
    from .live.monitor import Monitor
    from .rules.rule import Finding, Severity
    from .run import CheckpointSummary, GenerationSettings, ModelSettings, Run, TrainingSettings
    from .sources.discover import load_run


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hnet_diag' has no attribute {name!r}")
