"""CSV metric logs (PyTorch Lightning `metrics.csv` and similar): a header, one row per step.

Lightning writes train and validation metrics on separate rows with empty cells elsewhere;
empty cells are "not logged", not NaN. A literal `nan` is a real NaN. A logger that writes
once per epoch only (an `epoch` column and no step column, e.g. Lightning with
`log_every_n_steps` above the epoch length or a hand-written per-epoch CSV) is read with the
epoch as its step: the curve's shape is what the analyzers need, and the unit is stated in a
warning so no finding calls an epoch a step silently.

The same table in a text log (`*.log`, `*.txt`, `*.out`) is read here too, comma- or
tab-separated: Keras' `CSVLogger('training.log')` (the example in Keras' own documentation)
writes `epoch,accuracy,loss,val_accuracy,val_loss` rows into a `.log` file, and hand-written
loops print `step<TAB>loss`. `table_delimiter` decides from the first two lines, so a console
log whose prose has commas is never taken for a table.

Hand-written and pandas-written per-epoch histories are read too: a step or epoch header in
any case (`Epoch`); a first column with an empty header, which is the index pandas'
`DataFrame.to_csv()` writes (a Keras `History` saved that way: the 0-based epoch); and, for a
table with no step column at all but a training or validation loss column (a Keras
`pd.DataFrame(history.history).to_csv(index=False)`), the row number as the epoch. A header
with spaces (`Train Loss`, `Validation Loss`, `Learning Rate`) is read under its name with
underscores when that name is a known metric, so a loss is found as a loss; other headers keep
their names.

The header is checked before pandas sees the file: a header over 1 MiB or with more than
10,000 columns is not a metric log (pandas would allocate per column; a 20 MB header of
commas is 21 million columns). A row whose step is not a finite integer within int64 is
skipped, the rest of the file is kept.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..metrics import canonical_name
from ..run import LoadWarning
from .base import STEP_KEYS, SourceData, scalars_frame, to_float
from .jsonl import TIME_KEYS
from .untrusted import MAX_CSV_COLUMNS, MAX_CSV_HEADER_BYTES, cannot_read, checked_step, open_regular


_COLUMN_NAME = re.compile(r"[A-Za-z_][\w./\-]*\Z")
_STEP_COLUMNS = {k.lower() for k in STEP_KEYS} | {"epoch"}


#: the name pandas gives a first column whose header is empty (the index of `DataFrame.to_csv()`)
_PANDAS_INDEX = "Unnamed: 0"


def _metric_column(name: str) -> str:
    """`Train Loss` -> `Train_Loss` when the underscored name is a known metric, else `name`."""
    if not any(ch.isspace() for ch in name):
        return name
    joined = "_".join(name.split())
    return joined if canonical_name(joined) != joined else name


def table_delimiter(head: str) -> str | None:
    """The delimiter ("," or tab) when the start of a text file is a metric table, else None.

    A table here is a header line of column names (identifiers, one of them a step key or
    `epoch`) followed by a line of as many cells, each a number or empty. Both must hold, so
    prose ("step 5, loss 2.1"), a Trainer banner or a data file of words is never a table.
    """
    lines = [line.strip().lstrip("\ufeff") for line in head.splitlines() if line.strip()][:2]
    if len(lines) < 2:
        return None
    for sep in (",", "\t"):
        names = [c.strip() for c in lines[0].split(sep)]
        cells = [c.strip() for c in lines[1].split(sep)]
        if (len(names) >= 2 and len(cells) == len(names)
                and all(_COLUMN_NAME.match(n) for n in names)
                and any(n.lower() in _STEP_COLUMNS for n in names)
                and all(c == "" or to_float(c) is not None for c in cells)):
            return sep
    return None


def _check_header(path: Path, sep: str = ",") -> None:
    with open_regular(path, "csv") as fh:
        head = fh.readline(MAX_CSV_HEADER_BYTES + 1)
    if len(head) > MAX_CSV_HEADER_BYTES:
        raise InputError(path, f"CSV header longer than {MAX_CSV_HEADER_BYTES >> 20} MiB; not a metric log")
    n_columns = head.count(sep.encode()) + 1
    if n_columns > MAX_CSV_COLUMNS:
        raise InputError(path, f"CSV header has {n_columns:,} columns (more than {MAX_CSV_COLUMNS:,}); not a metric log")


def read(path: Path, sep: str = ",") -> SourceData:
    """Read a metric table: `sep` is "," for `*.csv`, or what `table_delimiter` found in a text log."""
    try:
        _check_header(path, sep)
        with open_regular(path, "csv") as fh:
            df = pd.read_csv(fh, sep=sep, dtype=str, keep_default_na=False, on_bad_lines="error",
                             encoding="utf-8-sig", encoding_errors="replace")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        first = str(err).strip().splitlines()
        raise InputError(path, f"malformed CSV ({first[0][:200] if first else type(err).__name__})") from err
    except OSError as err:
        raise cannot_read(path, err) from err
    cols = [_metric_column(str(c).strip()) for c in df.columns]
    df.columns = cols
    step_col = next((c for c in STEP_KEYS if c in cols), None)
    per_epoch = step_col is None and "epoch" in cols
    if per_epoch:
        step_col = "epoch"
    unit = "the epoch number is used as the step"
    if step_col is None:  # hand-written headers: `Step`, `Epoch`
        step_col = next((c for c in cols if c.lower() in _STEP_COLUMNS), None)
        per_epoch = step_col is not None and step_col.lower() == "epoch"
    if step_col is None and cols and cols[0] == _PANDAS_INDEX:  # `DataFrame.to_csv()` with its index
        step_col, per_epoch = cols[0], True
        unit = "its unnamed index column (pandas) is read as the epoch"
    by_row = step_col is None and any(canonical_name(c) in ("loss", "val_loss") for c in cols)
    if by_row:  # a Keras history saved with `to_csv(index=False)`: one row an epoch, no epoch column
        per_epoch, unit = True, "each row is read as one epoch, numbered from 0"
    elif step_col is None:
        raise InputError(path, f"CSV has no step column (looked for {', '.join(STEP_KEYS)}, epoch)")
    time_col = next((c for c in TIME_KEYS if c in cols), None)
    records = []
    for i, row in enumerate(df.itertuples(index=False)):
        rec = dict(zip(cols, row))
        step = i if by_row else checked_step(rec[step_col])
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
        data.warnings.append(LoadWarning(str(path), f"no step column: read per epoch ({unit})"))
    return data
