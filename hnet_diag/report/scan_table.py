"""The scan table as Markdown, JSON or CSV: one row per run, worst first.

Built only from the ScanResult (rows the workers returned), so the three formats cannot
disagree. No timings, absolute paths or worker counts are written, so a scan of the same
folder gives the same bytes whatever the machine, the number of workers or the backend.
"""
from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..scan import ScanResult, ScanRow

CSV_COLUMNS = ("run", "last_step", "planned_steps", "worst", "codes", "top_cause", "error")


def steps_cell(row: "ScanRow") -> str:
    if row.last_step is None:
        return "—"
    return f"{row.last_step}/{row.planned_steps}" if row.planned_steps else str(row.last_step)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_line(result: "ScanResult") -> str:
    c = result.counts()
    parts = [f"{c[k]} {label}" for k, label in (("critical", "critical"), ("high", "high"), ("medium", "medium"),
                                                ("low", "low"), ("ok", "clean"), ("error", "unreadable")) if c[k]]
    n = len(result.rows)
    return f"{n} run{'s' if n != 1 else ''} (worst finding per run): " + ", ".join(parts)


def to_markdown(result: "ScanResult") -> str:
    lines = [f"# hnet-diag scan: `{result.root}`", "", summary_line(result), "",
             "| run | steps | worst | codes | top root cause |", "|---|---|---|---|---|"]
    for r in result.rows:
        cause = f"error: {r.error}" if r.error else (r.top_cause or "—")
        lines.append(f"| `{_cell(r.run)}` | {steps_cell(r)} | {r.worst} | {' '.join(r.codes) or '—'} | {_cell(cause)} |")
    return "\n".join(lines) + "\n"


def to_json_dict(result: "ScanResult") -> dict[str, Any]:
    from .. import __version__

    return {
        "tool": {"name": "hnet-diag", "version": __version__},
        "root": result.root,
        "summary": result.counts(),
        "runs": [r.to_dict() for r in result.rows],
    }


def to_json(result: "ScanResult") -> str:
    return json.dumps(to_json_dict(result), indent=2, sort_keys=True, allow_nan=False) + "\n"


def to_csv(result: "ScanResult") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in result.rows:
        w.writerow([r.run, "" if r.last_step is None else r.last_step, "" if r.planned_steps is None else r.planned_steps,
                    r.worst, " ".join(r.codes), r.top_cause, r.error or ""])
    return buf.getvalue()


RENDERERS = {"md": to_markdown, "json": to_json, "csv": to_csv}
