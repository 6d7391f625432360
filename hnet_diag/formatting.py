"""How numbers are written, in rule messages and in every report: one home for all of it.

Rule messages quote measured values and thresholds in sentences (`g`, `sci`, `pct`,
`listing`); report tables show evidence in cells (`fmt`). Both read the same conventions,
so a learning rate is "3e-4" everywhere and a ratio never shows float noise (2.9999998).
"""
from __future__ import annotations

import math
from typing import Any, Iterable


def g(v: Any, digits: int = 3) -> str:
    """A number for a sentence: 3 significant digits, thousands separated, sci for tiny."""
    if v is None:
        return "?"
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v != 0 and abs(v) < 1e-3:
        return sci(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def sci(v: float) -> str:
    """3e-4, 1.5e-4: how people type learning rates."""
    mant, exp = f"{v:.1e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


def pct(v: float | None) -> str:
    """0.1234 -> "12.3%"."""
    return "?" if v is None else f"{100 * v:.1f}%"


def plain(v: float) -> float | int:
    """A threshold as typed in a message: 3.0 -> 3, 0.5 stays 0.5."""
    return int(v) if float(v).is_integer() else v


def listing(values: Iterable[float]) -> str:
    """LR multipliers and targets as typed on a command line: "2.0,1.5,1.0", "2.63,0.7"."""
    out = []
    for v in values:
        v = round(float(v), 2)  # 2.9999998 (float32 LR ratios) is 3.0
        out.append(f"{v:.1f}" if v.is_integer() else f"{v:.2f}".rstrip("0"))
    return ",".join(out)


def fmt(v: Any) -> str:
    """Compact, stable number formatting for report tables: 1,810 / 0.17 / 3e-4 / nan / —."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10000 else str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        if v.is_integer() and abs(v) < 1e15:
            return fmt(int(v))
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 0.01:
            return f"{v:.3g}"
        return sci(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return str(v)
