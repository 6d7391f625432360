"""MLflow runs: the file store (`mlruns/<experiment>/<run>/`) and the SQLite store (`mlflow.db`).

MLflow 3 writes to `sqlite:///mlflow.db` by default; older versions (and
`MLFLOW_ALLOW_FILE_STORE=true`) write the file store. Both are read without MLflow and
without writing a byte: MLflow's own stores create folders (the file store's default
experiment) or run schema migrations (the SQLite store) when opened, which would write into
the user's storage.

- **File store**: a run folder holds `meta.yaml`, `metrics/<key>` (lines
  `timestamp value step`; a key with `/` is a nested path) and `params/<key>` (the value as
  text). The run's `meta.yaml` is the anchor discovery finds; an experiment's `meta.yaml`
  (no `run_id`) is skipped.
- **SQLite store**: the `metrics` table (`key, value, timestamp, run_uuid, step, is_nan`)
  and the `params` table, opened read-only (`mode=ro`, and `immutable=1` when no write-ahead
  log is pending) through Python's sqlite3. Deleted runs are left out.

Each run is one stream (named `<store>:<experiment>/<run name>` for SQLite); metrics become
scalars (NaN kept: MLflow stores it as `is_nan`), params become settings like a config file.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..run import LoadWarning
from .base import SOURCE_COLUMNS, SourceData
from .untrusted import check_regular, check_tree, external_link, json_loads, read_text

SQLITE_MAGIC = b"SQLite format 3\x00"


# -- file store -------------------------------------------------------------------------------
def is_internal(path: Path) -> bool:
    """A file under a file-store run's metrics/, params/ or tags/ (read through its meta.yaml)."""
    for parent in path.parents:
        if parent.name in ("metrics", "params", "tags") and (parent.parent / "meta.yaml").is_file():
            return True
        if (parent / "meta.yaml").is_file() or parent.name == "":
            return False
    return False


def read_meta(path: Path) -> SourceData | None:
    """A `meta.yaml`: an MLflow file-store run, else handed to the config reader."""
    path = Path(path)
    folder = path.parent
    if not ((folder / "metrics").is_dir() or (folder / "params").is_dir()):
        if _is_experiment_meta(path):
            return None
        from . import config

        return config.read(path)
    return _read_file_run(folder)


def _is_experiment_meta(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return False
    return "experiment_id:" in head and "run_id:" not in head and "artifact_location:" in head


def _read_file_run(folder: Path) -> SourceData:
    data = SourceData()
    frames = []
    metrics = folder / "metrics"
    if metrics.is_dir():
        for f in sorted(p for p in metrics.rglob("*") if p.is_file()):
            if _admitted(f, folder, data):
                frames.append(_metric_file(f, f.relative_to(metrics).as_posix(), data))
    params: dict[str, Any] = {}
    if (folder / "params").is_dir():
        for f in sorted(p for p in (folder / "params").rglob("*") if p.is_file()):
            if not _admitted(f, folder, data):
                continue
            try:
                params[f.relative_to(folder / "params").as_posix()] = _param(read_text(f, "args"))
            except InputError as err:
                data.warnings.append(LoadWarning(str(f), err.problem))
    source = str(folder / "meta.yaml")
    frames = [f for f in frames if f is not None and not f.empty]
    if frames:
        df = pd.concat(frames, ignore_index=True)
        df["source"] = source
        data.scalars = df[SOURCE_COLUMNS]
    if params:
        data.configs[source] = params
    return data


def _admitted(path: Path, folder: Path, data: SourceData) -> bool:
    """The run's own metric/param files only: not a FIFO or device, not a symlink out of the run
    (these files are found here, not by discovery, so its checks are repeated)."""
    target = external_link(path, folder)
    if target is not None:
        data.warnings.append(LoadWarning(str(path), f"symlink to {target}, outside the MLflow run folder; not followed"))
        return False
    try:
        check_regular(path)
    except InputError as err:
        data.warnings.append(LoadWarning(str(path), err.problem))
        return False
    return True


def _metric_file(path: Path, key: str, data: SourceData) -> pd.DataFrame | None:
    """One metric's history: whitespace-separated `timestamp value step` lines."""
    try:
        df = pd.read_csv(path, sep=" ", header=None, names=["ts", "value", "step"], dtype={"value": "string"},
                         on_bad_lines="skip", engine="c", keep_default_na=False)
    except pd.errors.EmptyDataError:
        return None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        data.warnings.append(LoadWarning(str(path), f"unreadable MLflow metric file ({err})"))
        return None
    value = pd.to_numeric(df["value"].str.strip(), errors="coerce")
    ts = pd.to_numeric(df["ts"], errors="coerce")
    step = pd.to_numeric(df["step"], errors="coerce")
    # a step must be a finite integer within int64 (1e400 or 2**70 drops its line, not the file)
    step_ok = step.notna() & step.astype("float64").between(-(2.0**63), 2.0**63 - 1024)
    bad = ts.isna() | ~step_ok | (value.isna() & ~df["value"].str.strip().str.lower().isin(["nan", "-nan"]))
    if bad.any():
        data.warnings.append(LoadWarning(str(path), f"{int(bad.sum())} malformed line(s) skipped"))
    ok = ~bad
    return pd.DataFrame({
        "tag": key, "step": step[ok].astype("int64") if step.dtype.kind == "i" else step[ok].astype("float64").astype("int64"), "value": value[ok].astype("float64"),
        "wall_time": ts[ok].astype("float64") / 1000.0,
    })


def _param(text: str) -> Any:
    """MLflow stores every param as text; numbers and JSON literals come back typed."""
    text = text.strip()
    try:
        value = json_loads(text)
        check_tree(value)  # walked and quoted later: bounded like a config
    except ValueError:
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return None if lowered == "none" else text
    if isinstance(value, float) and not math.isfinite(value):
        return text
    return value


# -- SQLite store -----------------------------------------------------------------------------
def read_db(path: Path) -> SourceData | None:
    """An MLflow SQLite store (`mlflow.db`); None for any other SQLite file or `.db`."""
    import sqlite3

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            if fh.read(16) != SQLITE_MAGIC:
                return None
    except OSError as err:
        raise InputError(path, f"cannot read ({err.strerror})") from err
    wal = path.with_name(path.name + "-wal")
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("" if wal.exists() else "&immutable=1")
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as err:
        raise InputError(path, f"cannot open SQLite database ({err})") from err
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"metrics", "runs", "params", "experiments"} <= tables:
            return None  # some other tool's database
        runs = con.execute(
            "SELECT r.run_uuid, r.name, e.name FROM runs r LEFT JOIN experiments e ON r.experiment_id = e.experiment_id "
            "WHERE r.lifecycle_stage IS NULL OR r.lifecycle_stage != 'deleted' ORDER BY r.start_time, r.run_uuid"
        ).fetchall()
        metrics = pd.read_sql_query(
            "SELECT run_uuid, key AS tag, step, value, is_nan, timestamp FROM metrics ORDER BY run_uuid, key, timestamp, step",
            con,
        )
        params = con.execute("SELECT run_uuid, key, value FROM params ORDER BY run_uuid, key").fetchall()
    except (sqlite3.Error, pd.errors.DatabaseError) as err:
        raise InputError(path, f"unreadable MLflow SQLite store ({err})") from err
    finally:
        con.close()
    data = SourceData()
    names = {}
    for run_uuid, run_name, exp_name in runs:
        names[run_uuid] = f"{path}:{exp_name or 'experiment'}/{run_name or run_uuid}"
    if len(set(names.values())) < len(names):  # two runs with one name: tell them apart by id
        names = {u: f"{path}:{runs_exp}/{u}" for u, (runs_exp) in ((r[0], r[2] or "experiment") for r in runs)}
    for run_uuid, key, value in params:
        if run_uuid in names:
            data.configs.setdefault(names[run_uuid], {})[str(key)] = _param(str(value))
    metrics = metrics[metrics["run_uuid"].isin(names.keys())]
    if not metrics.empty:
        value = metrics["value"].astype("float64").where(~metrics["is_nan"].astype(bool), float("nan"))
        df = pd.DataFrame({
            "tag": metrics["tag"].astype(str), "step": metrics["step"].astype("int64"), "value": value,
            "wall_time": metrics["timestamp"].astype("float64") / 1000.0,
            "source": metrics["run_uuid"].map(names),
        })
        data.scalars = df[SOURCE_COLUMNS].reset_index(drop=True)
    if len(names) > 1:
        data.warnings.append(LoadWarning(str(path), f"{len(names)} MLflow runs in this store; each is its own stream "
                                         "(the one with most points per metric is analysed)"))
    if not names:
        data.warnings.append(LoadWarning(str(path), "MLflow store holds no runs"))
    return data
