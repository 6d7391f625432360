"""The compare report: a Comparison as Markdown (template compare.md.j2), JSON and overlay plots.

As with the run report, every sentence that depends on the data is decided here and the
template only lays it out; the output is reproducible (no timestamps, plots named by
family, fixed figure size and dpi, no "Software" metadata).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from ..compare import Comparison, FindingChange
    from ..rules.rule import Finding

HELD = {True: "✅ held", False: "❌ not held", None: "— cannot tell"}


def to_json(c: "Comparison") -> str:
    return json.dumps(c.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n"


def _side_text(f: "Finding | None", run: str) -> str:
    from .markdown import _evidence_line, cell

    if f is None:
        return f"not checked on {run}"
    evidence = _evidence_line(f)
    return cell(f"{f.status.value}: {f.message}" + (f" [{evidence}]" if evidence else ""))


def verdict(c: "Comparison") -> str:
    """One paragraph: how many of A's serious findings the other runs resolved, and the outcomes."""
    a = c.baseline
    parts = []
    for other in c.runs[1:]:
        serious = [x for key in ("resolved", "persisting") for x in c.findings[key]
                   if x.run == other.label and x.a is not None and x.a.severity.rank >= 3]
        fixed = [x for x in serious if x.change == "resolved"]
        new = [x for x in c.findings["new"] if x.run == other.label and x.b is not None and x.b.severity.rank >= 3]
        held = [o for o in c.outcomes if o.run == other.label and o.held]
        checked = [o for o in c.outcomes if o.run == other.label]
        text = f"`{other.label}` against `{a.label}`: "
        if serious:
            text += f"{len(fixed)} of {len(serious)} critical/high finding{'s' if len(serious) != 1 else ''} resolved"
            if fixed:
                text += f" ({', '.join(x.code for x in fixed)})"
        else:
            text += f"`{a.label}` had no critical or high finding"
        text += f"; {len(new)} new critical/high finding{'s' if len(new) != 1 else ''}"
        if new:
            text += f" ({', '.join(x.code for x in new)})"
        if checked:
            text += f"; {len(held)} of {len(checked)} expected outcome{'s' if len(checked) != 1 else ''} held"
        parts.append(text + ".")
    return " ".join(parts)


def build_context(c: "Comparison", plots: Mapping[str, str] | None = None) -> dict[str, Any]:
    from .. import __version__
    from .markdown import cell, fmt

    plots = dict(plots or {})
    runs = [{
        "label": r.label, "path": r.path,
        "steps": (f"{r.last_step} of {r.planned_steps}" if r.planned_steps else fmt(r.last_step)),
        "final_loss": fmt(r.final_loss), "final_val_loss": fmt(r.final_val_loss), "worst": r.worst,
        "codes": " ".join(r.codes) or "—",
    } for r in c.runs]
    settings = [{"flag": k, "cells": [cell(v) if v is not None else "—" for v in vals]} for k, vals in c.settings_diff.items()]

    def change_row(x: "FindingChange") -> dict[str, Any]:
        return {"code": x.code, "title": cell(x.title), "severity": x.severity, "run": x.run,
                "a": _side_text(x.a, c.baseline.label), "b": _side_text(x.b, x.run), "note": cell(x.note)}

    groups = [
        {"title": "Resolved", "lead": "An alarm on A, and the same check passes on the other run.",
         "rows": [change_row(x) for x in c.findings["resolved"]]},
        {"title": "New", "lead": "No alarm on A, an alarm on the other run.",
         "rows": [change_row(x) for x in c.findings["new"]]},
        {"title": "Persisting", "lead": "Still an alarm on the other run, or the other run cannot show it gone (the note says why).",
         "rows": [change_row(x) for x in c.findings["persisting"]]},
    ]
    outcomes = [{"number": i + 1, "code": o.code, "expected": cell(o.expected), "observed": cell(o.observed),
                 "held": HELD[o.held], "measured": fmt(o.measured), "run": o.run} for i, o in enumerate(c.outcomes)]
    from ..compare import OVERLAYS

    figures = [{"file": f"plots/compare_{family}.png", "caption": title}
               for family, _m, title in OVERLAYS if f"compare_{family}.png" in plots]
    return {
        "a": c.baseline.label, "others": [r.label for r in c.runs[1:]], "runs": runs, "settings": settings,
        "labels": [r.label for r in c.runs], "groups": groups, "outcomes": outcomes, "plots": figures,
        "verdict": verdict(c), "many": len(c.runs) > 2, "version": __version__,
    }


def render_markdown(c: "Comparison", plots: Mapping[str, str] | None = None) -> str:
    from .markdown import render_template

    return render_template("compare.md.j2", build_context(c, plots))


def save_overlays(c: "Comparison", folder: Path) -> dict[str, str]:
    """One PNG per family (loss, grad norm, LR, compression), a panel per stage, every run
    overlaid on the same step axis; returns {file name: caption}."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from ..compare import OVERLAYS

    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    labels = [r.label for r in c.runs]
    colors = {label: f"C{i}" for i, label in enumerate(labels)}
    for family, _metric, title in OVERLAYS:
        panels = c.overlays.get(family)
        if not panels:
            continue
        n = len(panels)
        with matplotlib.rc_context({"figure.dpi": 100, "savefig.dpi": 100}):
            fig, axes = plt.subplots(1, n, figsize=(8 if n == 1 else 4.2 * n, 3.6), squeeze=False, sharex=True)
            for ax, (stage, series) in zip(axes[0], panels.items()):
                for label in labels:
                    s = series.get(label)
                    if s is None or s.empty:
                        continue
                    s = _thin(s)
                    ax.plot(s.index, s.values, color=colors[label], lw=1.0, label=label,
                            ls="-" if label == labels[0] else "--" if len(labels) == 2 else "-")
                if family in ("grad_norm",):
                    ax.set_yscale("log")
                ax.set_title(title if stage is None else f"{title.replace(' per stage', '')}: stage {stage}", fontsize=9)
                ax.set_xlabel("step")
                ax.grid(alpha=0.3)
            axes[0][0].legend(fontsize=8)
            fig.tight_layout()
            name = f"compare_{family}.png"
            fig.savefig(folder / name, format="png", dpi=100, metadata={"Software": None})
            plt.close(fig)
        written[name] = title
    return written


def _thin(s: Any, limit: int = 4000) -> Any:
    """At most `limit` points per curve: a 1M-step run plots as fast as a short one."""
    if len(s) <= limit:
        return s
    return s.iloc[:: max(1, len(s) // limit)]


def write_report(c: "Comparison", out: Path, with_plots: bool = True) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    plots = save_overlays(c, out.parent / "plots") if with_plots else {}
    out.write_text(render_markdown(c, plots), encoding="utf-8")
    return out
