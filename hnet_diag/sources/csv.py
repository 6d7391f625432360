"""CSV metric logs (PyTorch Lightning `metrics.csv` and similar): a header, one row per step.

Lightning writes train and validation metrics on separate rows with empty cells elsewhere;
empty cells are "not logged", not NaN. A literal `nan` is a real NaN. A logger that writes
once per epoch only (an `epoch` column and no step column, e.g. Lightning with
`log_every_n_steps` above the epoch length or a hand-written per-epoch CSV) is read with the
epoch as its step: the curve's shape is what the analyzers need, and the unit is stated in a
warning so no finding calls an epoch a step silently.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..run import LoadWarning
from .base import STEP_KEYS, SourceData, scalars_frame, to_float
from .jsonl import TIME_KEYS


def read(path: Path) -> SourceData:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="error")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, f"malformed CSV ({str(err).splitlines()[0]})") from err
    except OSError as err:
        raise InputError(path, f"cannot read ({err.strerror})") from err
    cols = [c.strip() for c in df.columns]
    df.columns = cols
    step_col = next((c for c in STEP_KEYS if c in cols), None)
    per_epoch = step_col is None and "epoch" in cols
    if per_epoch:
        step_col = "epoch"
    if step_col is None:
        raise InputError(path, f"CSV has no step column (looked for {', '.join(STEP_KEYS)}, epoch)")
    time_col = next((c for c in TIME_KEYS if c in cols), None)
    records = []
    for row in df.itertuples(index=False):
        rec = dict(zip(cols, row))
        step = to_float(rec[step_col])
        if step is None:
            continue
        wall = to_float(rec[time_col]) if time_col else None
        for key, raw in rec.items():
            if key in (step_col, time_col) or raw == "":
                continue
            v = to_float(raw)
            if v is not None:
                records.append((key, int(step), v, wall))
    if not records:
        raise InputError(path, "CSV has no numeric metric values")
    data = SourceData()
    data.scalars = scalars_frame(records, str(path))
    if per_epoch:
        data.warnings.append(LoadWarning(str(path), "no step column: read per epoch (the epoch number is used as the step)"))
    return data
