"""Weights & Biases run folders (`wandb/run-*/`, `wandb/offline-run-*/`), read through wandb itself.

The history of a W&B run lives in its transaction log, `run-<id>.wandb`: protobuf records in
W&B's own framing. It is decoded by the wandb package's own reader, `wandb-core leet inspect
--json` (wandb >= 0.31; the optional extra `hnet-diag[wandb]`), which prints one JSON
object per record. Nothing hand-decodes the format, so a new wandb release that changes it
keeps working as long as its reader does.

- `history` records become scalars: every numeric item (nested dicts flattened with `.`),
  at `history.step.num` (or `_step`), wall time from `_timestamp`. Keys starting with `_`
  are W&B's own bookkeeping and skipped; media and tables are not scalars and are skipped.
- `run` and `config` records give the config (`_wandb` dropped), which becomes settings
  through the same path as any config file. An online run's `files/config.yaml` says the
  same and is read by `config.py`.
- The reader runs with observability off and W&B in offline mode: nothing is sent anywhere
  and nothing is written into the run folder.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError
from ..run import LoadWarning, RunEvent
from .base import SourceData, scalars_frame
from .untrusted import check_tree, checked_float, checked_step, json_loads

#: W&B's own logs: beside the run folders (`wandb/debug*.log`) and inside them (`logs/`, `tmp/`)
INTERNAL_DIRS = ("logs", "tmp")
INTERNAL_LOGS = ("debug.log", "debug-internal.log", "debug-core.log")


def is_internal(path: Path) -> bool:
    """A file W&B writes for itself (debug logs, code snapshots): not the run's training log."""
    parent = path.parent
    if path.name in INTERNAL_LOGS and (parent.name == "wandb" or any(parent.glob("run-*.wandb"))):
        return True
    return parent.name in INTERNAL_DIRS and any(parent.parent.glob("run-*.wandb"))


def _core_path(path: Path) -> str:
    try:
        from wandb.util import get_core_path
    except ImportError as err:
        raise InputError(path, "W&B run: reading it needs the wandb package (pip install 'hnet-diag[wandb]')") from err
    try:
        return get_core_path()
    except Exception as err:  # noqa: BLE001 - wandb raises its own error types
        raise InputError(path, f"W&B run: the wandb package has no usable wandb-core ({err})") from err


def records(path: Path, notes: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every record of a `.wandb` transaction log, decoded by wandb-core, as JSON objects.

    What the reader says on stderr (e.g. that the log ends mid-record) goes into `notes`.
    """
    core = _core_path(path)
    env = dict(os.environ, WANDB_MODE="offline", WANDB_ERROR_REPORTING="false", WANDB_SILENT="true")
    cmd = [core, "leet", "inspect", "--no-observability", "--json", "--run-file", str(path), str(path.parent)]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=env, close_fds=True)
    except OSError as err:
        raise InputError(path, f"W&B run: cannot start wandb-core ({err.strerror})") from err
    assert proc.stdout is not None and proc.stderr is not None
    try:
        for line in proc.stdout:
            if line.strip():
                try:
                    rec = json_loads(line)  # ValueError for anything odd, never RecursionError
                except ValueError as err:
                    raise InputError(path, f"W&B run: unexpected output from wandb-core ({err})") from err
                if isinstance(rec, dict):
                    yield rec
    finally:
        proc.stdout.close()
        err_text = proc.stderr.read().decode("utf-8", "replace").strip()
        proc.stderr.close()
        code = proc.wait()
    if code != 0:
        line = err_text.splitlines()[-1][:200] if err_text else f"exit status {code}"
        raise InputError(path, f"W&B transaction log unreadable ({line})")
    if notes is not None and err_text:
        notes.extend(dict.fromkeys(line.strip() for line in err_text.splitlines() if line.strip()))


def read(path: Path) -> SourceData:
    """Scalars and config of one W&B run from its `.wandb` transaction log."""
    path = Path(path)
    rows: list[tuple[str, int, float, float | None]] = []
    config: dict[str, Any] = {}
    seen_header = False
    notes: list[str] = []
    for rec in records(path, notes):
        kind = rec.get("type")
        if kind == "header":
            seen_header = True
        elif kind == "history":
            rows.extend(_history_rows(rec["history"] if isinstance(rec.get("history"), dict) else {}))
        elif kind in ("run", "config"):
            body = rec.get(kind) if isinstance(rec.get(kind), dict) else {}
            section = body.get("config") if kind == "run" else body
            update = section.get("update") if isinstance(section, dict) else None
            if isinstance(update, dict):
                config.update({k: v for k, v in update.items() if k != "_wandb"})
    if not seen_header and not rows:
        raise InputError(path, "not a W&B transaction log (no records)")
    data = SourceData()
    if rows:
        data.scalars = scalars_frame(rows, str(path))
    if config:
        try:  # a config is walked and quoted later: bounded like a config file
            check_tree(config)
            data.configs[str(path)] = config
        except ValueError as err:
            data.warnings.append(LoadWarning(str(path), f"W&B config {err}; not read"))
    for note in notes:
        if "incomplete" in note:  # a crashed or still-running writer: the tail is missing
            last = max((r[1] for r in rows), default=None)
            data.events.append(RunEvent("truncated", str(path), last, note.split(": ", 1)[-1]))
    return data


def _history_rows(history: dict) -> Iterator[tuple[str, int, float, float | None]]:
    item = history.get("item") if isinstance(history.get("item"), dict) else {}
    step_rec = history.get("step") if isinstance(history.get("step"), dict) else {}
    step = checked_step(step_rec.get("num", item.get("_step")))  # None for NaN, inf, beyond int64
    if step is None:
        return
    wall = item.get("_timestamp")
    wall = float(wall) if isinstance(wall, (int, float)) and not isinstance(wall, bool) else None
    for tag, value in _flat(item):
        yield tag, step, value, wall


def _flat(item: dict, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, float]]:
    for key, value in item.items():
        if not prefix and str(key).startswith("_"):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if "_type" not in value and depth < 16:  # media, tables, histograms carry _type: not scalars
                yield from _flat(value, name + ".", depth + 1)
        elif isinstance(value, bool):
            continue
        elif isinstance(value, (int, float)):
            yield name, checked_float(value)  # a 400-digit int is inf, not an OverflowError
        elif isinstance(value, str) and value.lower() in ("nan", "inf", "-inf", "infinity", "-infinity"):
            yield name, float(value)  # NaN/Inf are written as strings in JSON
