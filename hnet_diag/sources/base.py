"""What every source returns, so the loader can merge formats it knows nothing about."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..run import CheckpointSummary, LoadWarning, RunEvent

#: columns a source fills; the loader adds `metric` (canonical name) and, if absent, `stream`
SOURCE_COLUMNS = ["tag", "step", "value", "wall_time", "source"]


@dataclass
class SourceData:
    scalars: pd.DataFrame | None = None  # SOURCE_COLUMNS (+ optional "stream"), in write order
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> parsed mapping
    checkpoints: list[CheckpointSummary] = field(default_factory=list)
    events: list[RunEvent] = field(default_factory=list)
    warnings: list[LoadWarning] = field(default_factory=list)


def scalars_frame(records: list[tuple[str, int, float, float | None]], source: str) -> pd.DataFrame:
    """Build the tidy frame from (tag, step, value, wall_time) tuples of one file."""
    df = pd.DataFrame.from_records(records, columns=["tag", "step", "value", "wall_time"])
    df["step"] = df["step"].astype("int64")
    df["value"] = df["value"].astype("float64")
    df["wall_time"] = df["wall_time"].astype("float64")
    df["source"] = source
    return df


def to_float(value: Any) -> float | None:
    """Numbers, numeric strings, 'nan'/'inf' -> float; anything else -> None.

    Logs write NaN as NaN, "nan", "NaN" or null; all of them must reach the NaN analyzer
    as a real NaN, except null, which means "not logged".
    """
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
