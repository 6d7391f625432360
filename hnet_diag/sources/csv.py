"""CSV metric logs (PyTorch Lightning `metrics.csv` and similar): a header, one row per step.

Lightning writes train and validation metrics on separate rows with empty cells elsewhere;
empty cells are "not logged", not NaN. A literal `nan` is a real NaN. A logger that writes
once per epoch only (an `epoch` column and no step column, e.g. Lightning with
`log_every_n_steps` above the epoch length or a hand-written per-epoch CSV) is read with the
epoch as its step: the curve's shape is what the analyzers need, and the unit is stated in a
warning so no finding calls an epoch a step silently.

The header is checked before pandas sees the file: a header over 1 MiB or with more than
10,000 columns is not a metric log (pandas would allocate per column; a 20 MB header of
commas is 21 million columns). A row whose step is not a finite integer within int64 is
skipped, the rest of the file is kept.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..run import LoadWarning
from .base import STEP_KEYS, SourceData, scalars_frame, to_float
from .jsonl import TIME_KEYS
from .untrusted import MAX_CSV_COLUMNS, MAX_CSV_HEADER_BYTES, cannot_read, checked_step, open_regular


def _check_header(path: Path) -> None:
    with open_regular(path, "csv") as fh:
        head = fh.readline(MAX_CSV_HEADER_BYTES + 1)
    if len(head) > MAX_CSV_HEADER_BYTES:
        raise InputError(path, f"CSV header longer than {MAX_CSV_HEADER_BYTES >> 20} MiB; not a metric log")
    if head.count(b",") + 1 > MAX_CSV_COLUMNS:
        raise InputError(path, f"CSV header has {head.count(b',') + 1:,} columns (more than {MAX_CSV_COLUMNS:,}); not a metric log")


def read(path: Path) -> SourceData:
    try:
        _check_header(path)
        with open_regular(path, "csv") as fh:
            df = pd.read_csv(fh, dtype=str, keep_default_na=False, on_bad_lines="error", encoding="utf-8-sig",
                             encoding_errors="replace")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        first = str(err).strip().splitlines()
        raise InputError(path, f"malformed CSV ({first[0][:200] if first else type(err).__name__})") from err
    except OSError as err:
        raise cannot_read(path, err) from err
    cols = [str(c).strip() for c in df.columns]
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
        step = checked_step(rec[step_col])
        if step is None:  # empty, NaN, infinite or beyond int64: not a step
            continue
        wall = to_float(rec[time_col]) if time_col else None
        for key, raw in rec.items():
            if key in (step_col, time_col) or raw == "":
                continue
            v = to_float(raw)
            if v is not None:
                records.append((key, step, v, wall))
    if not records:
        raise InputError(path, "CSV has no numeric metric values")
    data = SourceData()
    data.scalars = scalars_frame(records, str(path))
    if per_epoch:
        data.warnings.append(LoadWarning(str(path), "no step column: read per epoch (the epoch number is used as the step)"))
    return data
