"""Hugging Face `trainer_state.json`: `log_history` is a list of dicts with a `step`.

Its scalar fields also say how the run was planned (`max_steps`) and where it stopped
(`global_step`), which the early-stopping analyzer needs; they go to `configs`.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from ..run import LoadWarning
from .base import SourceData, scalars_frame, to_float
from .untrusted import checked_step, json_loads, read_text

_SKIP = {"step", "epoch_end"}


def read(path: Path) -> SourceData:
    try:
        state = json_loads(read_text(path, "trainer_state"))
    except json.JSONDecodeError as err:
        raise InputError(path, f"malformed JSON (line {err.lineno}: {err.msg})") from err
    except ValueError as err:
        raise InputError(path, f"malformed JSON ({err})") from err
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise InputError(path, "not a Hugging Face trainer state (no log_history list)")
    records = []
    bad_steps = 0
    for entry in state["log_history"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), (int, float)):
            continue
        step = checked_step(entry["step"])
        if step is None:  # NaN, infinite or beyond int64: that entry only is dropped
            bad_steps += 1
            continue
        for key, value in entry.items():
            if key in _SKIP:
                continue
            v = to_float(value)
            if v is not None:
                records.append((key, step, v, None))
    data = SourceData()
    if bad_steps:
        data.warnings.append(LoadWarning(str(path), f"{bad_steps} log_history entr{'y' if bad_steps == 1 else 'ies'} whose step is not a finite integer within int64 skipped"))
    if records:
        data.scalars = scalars_frame(records, str(path))
    data.configs[str(path)] = {
        k: state[k] for k in ("max_steps", "global_step", "num_train_epochs", "train_batch_size", "best_model_checkpoint", "best_metric",
                              "stateful_callbacks") if k in state
    }
    return data
