"""PNG plots for the report, drawn by the analyzers' own `plot()` methods.

The report never redraws a curve itself: each analyzer result knows how to draw its
evidence (spikes, clip line, targets), and this module only chooses which ones go into the
report and saves them reproducibly (Agg backend, fixed size and dpi, no "Software"
metadata), so the same run gives the same bytes.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..results import Results

#: report plot file -> (analyzer results to try in order, caption, report area)
PLOTS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("loss.png", ("loss", "convergence"), "Training (and validation) loss", "convergence"),
    ("grad_norm.png", ("gradients",), "Gradient norm with detected spikes and the clipping threshold", "gradients"),
    ("lr.png", ("lr_ratio", "warmup"), "Learning rate per stage", "schedule"),
    ("compression.png", ("load_balance",), "Realized compression per stage against its target", "load balance"),
    ("boundaries.png", ("boundaries",), "Chunk boundaries per stage on the reference passage (dark) against word "
                                        "starts (shaded)", "load balance"),
    ("ranks.png", ("ranks",), "Loss per rank (the departing rank highlighted)", "loss"),
    ("weights.png", ("weights",), "Weight-matrix RMS per stage and component (newest checkpoint; outlined: the "
                                  "oldest), with Adam's update proxy where the checkpoint holds moments", "weights"),
    ("samples.png", ("samples",), "The checkpoint's samples measured per sampling setting", "samples"),
)


def save_plots(results: "Results", folder: Path) -> dict[str, str]:
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
        result = next((r for k in keys if (r := getattr(results, k)) is not None and r.ok), None)
        if result is None:
            continue
        with matplotlib.rc_context({"figure.figsize": (8, 3.6), "figure.dpi": 100, "savefig.dpi": 100}):
            try:
                fig = result.plot().figure  # every result's plot() returns the axes it drew on
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                plt.close("all")
                continue
            fig.savefig(folder / fname, format="png", dpi=100, metadata={"Software": None})
            plt.close("all")
        written[fname] = caption
    return written
