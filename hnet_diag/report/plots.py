"""PNG plots for the report, drawn by the analyzers' own `plot()` methods.

The report never redraws a curve itself: each analyzer result knows how to draw its
evidence (spikes, clip line, targets), and this module only chooses which ones go into the
report and saves them reproducibly (Agg backend, fixed size and dpi, no "Software"
metadata), so the same run gives the same bytes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

#: report plot file -> (analyzer result keys to try in order, caption, report area)
PLOTS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("loss.png", ("loss", "convergence"), "Training (and validation) loss", "convergence"),
    ("grad_norm.png", ("gradients",), "Gradient norm with detected spikes and the clipping threshold", "gradients"),
    ("lr.png", ("lr_ratio", "warmup"), "Learning rate per stage", "schedule"),
    ("compression.png", ("load_balance",), "Realized compression per stage against its target", "load balance"),
)


def has_data(result: Any) -> bool:
    """Analyzer results say whether they measured anything; accept the usual spellings."""
    if result is None:
        return False
    for attr in ("has_data", "ok", "available"):
        v = getattr(result, attr, None)
        if isinstance(v, bool):
            return v
    if getattr(result, "no_data", False) or getattr(result, "reason", None) == "not enough data":
        return False
    return True


def save_plots(results: Mapping[str, Any], folder: Path) -> dict[str, str]:
    """Draw every plot whose analyzer has data into `folder`; return {file name: caption}.

    A plot that fails to draw is left out rather than failing the report: the findings
    carry their numbers in the text, the figure is only a help.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    for fname, keys, caption, _area in PLOTS:
        result = next((results[k] for k in keys if has_data(results.get(k)) and hasattr(results[k], "plot")), None)
        if result is None:
            continue
        with matplotlib.rc_context({"figure.figsize": (8, 3.6), "figure.dpi": 100, "savefig.dpi": 100}):
            try:
                drawn = result.plot()
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                plt.close("all")
                continue
            fig = _figure_of(drawn)
            if fig is None:
                plt.close("all")
                continue
            fig.savefig(folder / fname, format="png", dpi=100, metadata={"Software": None})
            plt.close("all")
        written[fname] = caption
    return written


def _figure_of(drawn: Any) -> Any:
    """plot() may return a Figure, an Axes, an array of Axes, or draw on the current figure."""
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if isinstance(drawn, Figure):
        return drawn
    if isinstance(drawn, Axes):
        return drawn.figure
    if isinstance(drawn, (list, tuple)) and drawn and isinstance(drawn[0], Axes):
        return drawn[0].figure
    if hasattr(drawn, "flat"):  # numpy array of Axes
        first = next(iter(drawn.flat), None)
        if isinstance(first, Axes):
            return first.figure
    return plt.gcf() if plt.get_fignums() else None
