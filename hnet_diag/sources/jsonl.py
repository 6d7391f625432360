"""JSONL metric logs: one JSON object per line, one record per step.

The step comes from the first of `sources.base.STEP_KEYS` a record has (`step`,
`global_step`, `iter`, `iteration`, `_step` of wandb ...); a line without one gets the
previous record's step + 1, which is what a logger that appends once per step means. In a
file whose records do carry a step, a record without one is a header or summary (a
`{"event": "config", "lr": ..., "seed": ...}` line before the first step, a closing `done`
record): its settings are no metrics, so it is left out (one warning counts them). The live
tail (`sources/tail.py`) cannot know the rest of the file and keeps the step + 1 reading.
LLaMA-Factory's `trainer_log.jsonl` counts in `current_steps` and states the plan in
`total_steps`: the first is the step, the second the planned steps (a setting, not a
metric), and its progress/timing fields (`percentage`, `elapsed_time`, `remaining_time`)
are not metrics either. ms-swift's `logging.jsonl` has no step key: each record states its
step and the plan as a string, `"global_step/max_steps": "10/438"` (N is the step, M the
planned steps), with the same progress fields; an evaluation record may share a step with a
training record. A Hugging Face-style closing summary (a record with `train_runtime`: the
run's average `train_loss`, runtime, ...) and a record that dumps the whole trainer state
(`log_history`, as ms-swift's last line does) are not per-step values: the first goes to
`configs[file]["train_summary"]` (as the text-log reader does), the second is left out, and
neither ever enters the loss series. Non-numeric values are left out. A malformed line is skipped with a
warning naming its line number; a malformed last line is a run still writing.
A line is malformed when it is not a JSON object or when its step is not a step (NaN,
infinite, beyond int64): only that line is dropped, never the file. Lines end at "\n" only,
so a raw U+2028 inside a JSON string (valid JSON) does not split a record; a UTF-8
byte-order mark is ignored.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..run import LoadWarning, RunEvent
from .base import STEP_KEYS, SWIFT_STEP, SWIFT_STEP_KEY, SourceData, scalars_frame, to_float, to_int
from .untrusted import checked_step, json_loads, read_text

TIME_KEYS = ("wall_time", "time", "timestamp", "_timestamp")
#: LLaMA-Factory trainer_log.jsonl: step counter, plan, and progress fields that are no metric
LLAMAFACTORY_STEP, LLAMAFACTORY_PLAN = "current_steps", "total_steps"
LLAMAFACTORY_PROGRESS = ("percentage", "elapsed_time", "remaining_time")
#: a record holding one of these is a run summary, not a step: HF's closing summary, a trainer state
SUMMARY_KEY, STATE_KEY = "train_runtime", "log_history"


def _swift_step(obj: dict) -> tuple[int, int] | None:
    """ms-swift's `"global_step/max_steps": "N/M"` as (N, M), or None."""
    value = obj.get(SWIFT_STEP_KEY)
    m = SWIFT_STEP.match(value) if isinstance(value, str) else None
    return (int(m.group(1)), int(m.group(2))) if m else None


def record_rows(obj: dict, prev_step: int, out: list[tuple[str, int, float, float | None]]) -> tuple[int | None, int | None]:
    """Append one JSON object's (tag, step, value, wall_time) rows to `out`; return its step
    (None for a NaN, infinite or out-of-range step: then nothing is appended) and the planned
    step count it states (LLaMA-Factory's total_steps), if any.

    Shared by `read` and the live tail (`sources/tail.py`), so both read a line the same way.
    """
    raw_step = next((obj[k] for k in STEP_KEYS if isinstance(obj.get(k), (int, float)) and not isinstance(obj.get(k), bool)), None)
    skip: tuple[str, ...] = ()
    plan = None
    if raw_step is None and isinstance(obj.get(LLAMAFACTORY_STEP), (int, float)) and not isinstance(obj.get(LLAMAFACTORY_STEP), bool):
        raw_step = obj[LLAMAFACTORY_STEP]
        skip = (LLAMAFACTORY_STEP, LLAMAFACTORY_PLAN, *LLAMAFACTORY_PROGRESS)
        total = to_int(obj.get(LLAMAFACTORY_PLAN))  # None for inf, NaN, beyond int64
        if total is not None and total > 0:
            plan = total
    elif raw_step is None and (swift := _swift_step(obj)) is not None:
        raw_step, total = swift
        skip = (SWIFT_STEP_KEY, *LLAMAFACTORY_PROGRESS)
        if total > 0:
            plan = to_int(total)
    step = checked_step(raw_step if raw_step is not None else prev_step + 1)
    if step is None:
        return None, plan
    wall = next((to_float(obj[k]) for k in TIME_KEYS if k in obj), None)
    for key, value in obj.items():
        if key in STEP_KEYS or key in TIME_KEYS or key in skip:
            continue
        v = to_float(value)
        if v is not None:
            out.append((key, step, v, wall))
    return step, plan


def _is_count(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _has_step(obj: dict) -> bool:
    """Whether a record names its step (a STEP_KEYS key, LLaMA-Factory's current_steps or
    ms-swift's global_step/max_steps)."""
    return any(_is_count(obj.get(k)) for k in (*STEP_KEYS, LLAMAFACTORY_STEP)) or _swift_step(obj) is not None


def _summary(obj: dict) -> dict[str, float] | None:
    """The numbers of a run-summary record (see the module docstring), or None for a step record."""
    if STATE_KEY in obj:
        return {}
    if SUMMARY_KEY in obj:
        return {k: v for k, v in ((k, to_float(v)) for k, v in obj.items() if k not in STEP_KEYS) if v is not None}
    return None


def read(path: Path) -> SourceData:
    data = SourceData()
    records: list[tuple[str, int, float, float | None]] = []
    bad_lines: list[int] = []
    bad_steps: list[int] = []  # parsed, but the step is NaN, infinite or beyond int64
    prev_step = -1
    text = read_text(path, "jsonl")
    lines = text.split("\n")
    if lines and not lines[-1].strip():
        lines.pop()
    parsed: list[tuple[int, dict]] = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json_loads(line)
        except ValueError:  # malformed, nested too deeply, or a number past Python's digit limit
            bad_lines.append(lineno)
            continue
        if not isinstance(obj, dict):
            bad_lines.append(lineno)
            continue
        parsed.append((lineno, obj))
    closing: list[dict[str, float]] = []  # run summaries, in file order (a trainer state gives {})
    per_step: list[tuple[int, dict]] = []
    for lineno, obj in parsed:
        summary = _summary(obj)
        if summary is None:
            per_step.append((lineno, obj))
        elif summary:
            closing.append(summary)
    parsed = per_step
    if closing:
        data.configs.setdefault(str(path), {})["train_summary"] = closing[-1]
    stepped = any(_has_step(obj) for _, obj in parsed)
    stepless: list[int] = []  # header/summary records of a stepped log
    for lineno, obj in parsed:
        if stepped and not _has_step(obj):
            stepless.append(lineno)
            continue
        step, plan = record_rows(obj, prev_step, records)
        if plan is not None:
            data.configs.setdefault(str(path), {})["max_steps"] = plan
        if step is None:  # a NaN, infinite or out-of-range step: this record has no place
            bad_steps.append(lineno)
            continue
        prev_step = step
    if bad_lines:
        last = len([ln for ln in lines if ln.strip()])
        if bad_lines == [len(lines)] or (len(bad_lines) == 1 and bad_lines[0] >= last):
            data.events.append(RunEvent("truncated", str(path), prev_step, "last line incomplete"))
            data.warnings.append(LoadWarning(str(path), f"last line {bad_lines[0]} is incomplete (run still writing?); ignored"))
        else:
            shown = ", ".join(map(str, bad_lines[:5])) + (" ..." if len(bad_lines) > 5 else "")
            data.warnings.append(LoadWarning(str(path), f"{len(bad_lines)} malformed line(s) skipped (line {shown})"))
    if stepless and records:
        shown = ", ".join(map(str, stepless[:5])) + (" ..." if len(stepless) > 5 else "")
        data.warnings.append(LoadWarning(str(path), (
            f"{len(stepless)} record(s) without a step in a log whose records carry one (line {shown}): "
            "read as a header or summary, not as metrics")))
    if bad_steps:
        shown = ", ".join(map(str, bad_steps[:5])) + (" ..." if len(bad_steps) > 5 else "")
        data.warnings.append(LoadWarning(str(path), f"{len(bad_steps)} line(s) whose step is not a finite integer within int64 skipped (line {shown})"))
    if not records and bad_steps:
        raise InputError(path, "no line has a usable step (NaN, infinite or beyond int64)")
    if not records and not bad_lines:
        raise InputError(path, "no numeric metric records")
    if not records:
        raise InputError(path, "not a JSONL metric log (no line parses as a JSON object)")
    data.scalars = scalars_frame(records, str(path))
    return data
