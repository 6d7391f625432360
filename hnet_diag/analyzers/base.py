"""What every analyzer result shares: a status, a reason, and a way to draw itself.

Analyzers measure; they never judge. A result therefore carries numbers and the evidence
behind them (steps, series names), and says `status="no_data"` with a `reason` when the
run lacks what the analysis needs, so a rule can stay silent instead of raising a false
alarm on a missing series.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, TypeVar

OK = "ok"
NO_DATA = "no_data"

R = TypeVar("R", bound="AnalyzerResult")


@dataclass(frozen=True)
class AnalyzerResult:
    """Base of every result. Every field of a subclass has a default so `no_data` works."""

    status: str = OK  # "ok" or "no_data"
    reason: str = ""  # why there is no data (empty when status is "ok")

    @property
    def ok(self) -> bool:
        return self.status == OK

    @classmethod
    def no_data(cls: type[R], reason: str, **fields: Any) -> R:
        """A result that says what was missing; extra fields keep what *was* known."""
        return cls(status=NO_DATA, reason=reason, **fields)

    def to_dict(self) -> dict[str, Any]:
        """The measured fields as plain data (JSON-ready), without the series kept for plots.

        Fields whose name starts with "_" hold plotting data (pandas Series) and are left out.
        """
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if not f.name.startswith("_")}

    def plot(self, ax: Any = None) -> Any:  # pragma: no cover - overridden
        """Draw the result on `ax` (a new figure when None) and return the axes."""
        ax = new_axes(ax)
        ax.text(0.5, 0.5, self.reason or "nothing to plot", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax


def new_axes(ax: Any = None, title: str | None = None) -> Any:
    """Return `ax`, or a fresh axes on a new figure using the non-interactive Agg backend.

    matplotlib is imported here, not at module level, so `import hnet_diag` stays fast and
    a headless CI machine never tries to open a window.
    """
    if ax is None:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
    if title:
        ax.set_title(title)
    return ax


def no_data_axes(ax: Any, reason: str, title: str | None = None) -> Any:
    """Draw 'not enough data: <reason>' so a report's plot slot is never empty or wrong."""
    ax = new_axes(ax, title)
    ax.text(0.5, 0.5, f"not enough data: {reason}", ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _plain(value: Any) -> Any:
    """Dataclasses, tuples and floats -> dicts, lists and JSON-safe numbers (NaN/Inf -> None)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value) if not f.name.startswith("_")}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return _plain(value.item())
    return value
