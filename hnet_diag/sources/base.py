"""What every source returns, so the loader can merge formats it knows nothing about."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..run import CheckpointSummary, LoadWarning, RunEvent
from .untrusted import checked_float

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


#: record keys that hold the training step, most specific first, shared by every source
#: that reads records (JSONL, CSV, checkpoints, printed dicts in text logs): the first one a
#: record has is its step, and none of them is ever read as a metric.
STEP_KEYS = ("step", "global_step", "iter", "iteration", "iter_num", "_step", "trainer/global_step",
             "num_updates", "train_step")
#: ms-swift states the step and the plan in one string, `"global_step/max_steps": "N/M"`, in its
#: logging.jsonl and in the dicts it prints (N is the step, M the planned steps)
SWIFT_STEP_KEY = "global_step/max_steps"
SWIFT_STEP = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*$")


def to_float(value: Any, *, bools: bool = True) -> float | None:
    """Numbers, numeric strings, 'nan'/'inf' -> float; anything else -> None.

    The one coercion every source uses. Logs write NaN as NaN, "nan", "NaN" or null; all of
    them must reach the NaN analyzer as a real NaN, except null, which means "not logged".
    `bools`: a logged True/False is a 0/1 metric (`clipped`), but in a config a boolean is a
    switch, never a number: settings readers pass bools=False. A number too large for a
    float (a 400-digit integer) is inf, never an OverflowError (`untrusted.checked_float`).
    """
    if isinstance(value, bool):
        return float(value) if bools else None
    return checked_float(value)


def to_int(value: Any) -> int | None:
    """An integral number (int, integral float, numeric string) within int64 -> int; else None
    (bools too). 1e300 or a 30-digit integer is no step, count or layer width."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -(1 << 63) <= value < 1 << 63 else None
    f = to_float(value, bools=False)
    if f is None or not math.isfinite(f) or not f.is_integer() or not -(2.0**63) <= f < 2.0**63:
        return None
    return int(f)
