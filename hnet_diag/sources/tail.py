"""Resumable readers for a run that is still being written: each remembers where it stopped.

`load_run` reads a folder once. `hnet-diag watch` reads it again every few seconds, so it
keeps one small state object per file, and each `poll()` returns only what was appended
since the previous one; a poll costs what is new, not the file's history:

- Event files (TFRecord): the offset after the last whole record. A record still being
  written (header or data cut by the end of the file) is left for the next poll, which
  reads its bytes again from its first byte; nothing is ever half-parsed. The records are
  framed and decoded by the same code as a whole file (`tfrecord.frame`,
  `tensorboard.decode_scalars`).
- JSONL, CSV and text logs: the offset after the last complete line. A line without its
  newline is a line being written and waits for the next poll. The line parsers are the
  whole-file readers' own (`jsonl.record_rows`, the text log's `_LogParser`, fed and drained).
- Small whole-file artefacts (configs, `trainer_state.json`, checkpoints) are read again
  when their size or mtime changed; a checkpoint only once its size has held still for a
  poll (a `torch.save` may be halfway through), or when the caller says the run is over.

A tail never judges and never raises for damaged input: what the whole-file reader would
report as a warning is reported here too, once per file and problem.

The bundled trainer ends `metrics.jsonl` with a marker line, `{"step": N, "event":
"finished"}` (or `"stopped"` with a `"reason"`); the JSONL tail returns it as a `RunEnd`.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import HnetDiagError
from ..run import CheckpointSummary, LoadWarning, RunEvent

#: `event` values of the bundled trainer's last metrics.jsonl line
END_EVENTS = ("finished", "stopped")


@dataclass
class Chunk:
    """New scalars of one file since the last poll, as columns; `code` indexes `tags`."""

    source: str
    stream: str  # one writer: an event folder, or the file itself
    tags: list[str]
    code: np.ndarray  # int32
    step: np.ndarray  # int64
    value: np.ndarray  # float64
    wall_time: np.ndarray  # float64


@dataclass(frozen=True)
class RunEnd:
    """The run said it is over: `status` is "finished" or "stopped" (with a reason)."""

    status: str
    step: int | None
    reason: str
    source: str


@dataclass
class Update:
    """Everything one poll of all tails found; the follower merges it into its state."""

    chunks: list[Chunk] = field(default_factory=list)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> its whole parsed content
    checkpoints: list[CheckpointSummary] = field(default_factory=list)  # new or re-read
    events: list[RunEvent] = field(default_factory=list)
    warnings: list[LoadWarning] = field(default_factory=list)
    end: RunEnd | None = None


class _Tail:
    """One file: its path, whether reading it is over, and the warnings already given."""

    def __init__(self, path: Path, name: str):
        self.path = Path(path)
        self.name = name  # how warnings and rows name the file (relative to the run folder)
        self.dead = False
        self._warned: set[str] = set()

    def warn(self, up: Update, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            up.warnings.append(LoadWarning(self.name, message))

    def size(self) -> int | None:
        try:
            return os.stat(self.path).st_size
        except OSError:
            return None  # vanished (rotated, deleted): nothing new


def _read_range(path: Path, offset: int, n: int, front: int = 0, back: int = 0) -> np.ndarray:
    """Bytes offset..offset+n of a file in one uint8 array, with zero padding around them."""
    buf = np.zeros(front + n + back, dtype=np.uint8)
    with open(path, "rb") as fh:
        fh.seek(offset)
        got = fh.readinto(memoryview(buf)[front:front + n]) or 0
    if got < n:  # the file shrank between stat and read: take what is there
        buf = np.concatenate([buf[:front + got], np.zeros(back, dtype=np.uint8)])
    return buf


# ---------------------------------------------------------------------------------------
# event files
# ---------------------------------------------------------------------------------------
class EventFileTail(_Tail):
    """One TensorBoard event file, read from the end of its last whole record."""

    def __init__(self, path: Path, name: str, stream: str, plugins: dict, prefix: str | None):
        super().__init__(path, name)
        self.stream = stream
        self.plugins = plugins  # shared by the files of one folder, as in read_folder
        self.prefix = prefix  # train/val/... folder name that prefixes tags
        self.offset = 0

    def poll(self, up: Update) -> None:
        from . import tensorboard, tfrecord

        size = self.size()
        if self.dead or size is None or size - self.offset < 12:
            return  # nothing new, or not even one record header yet
        if size < self.offset:
            self.warn(up, f"the file shrank from {self.offset} to {size} bytes; no longer followed")
            self.dead = True
            return
        n = size - self.offset
        try:
            buf = _read_range(self.path, self.offset, n, tfrecord.FRONT_PAD, tfrecord.BACK_PAD)
        except OSError as err:
            self.warn(up, f"cannot read ({err.strerror or err})")
            return
        n = buf.size - tfrecord.FRONT_PAD - tfrecord.BACK_PAD
        fr = tfrecord.frame(buf, n)
        if fr.stop == "corrupt_length":
            where = self.offset + int(fr.stop_offset or 0)
            if where == 0:
                self.warn(up, "not a TensorBoard event file (no valid record header at byte 0)")
            else:
                self.warn(up, f"corrupt record length at byte {where}; the rest of the file is not followed")
                up.events.append(RunEvent("skipped_records", self.name, None, f"corrupt record length at byte {where}"))
            self.dead = True
        consumed = int(fr.stop_offset) if fr.stop is not None else n
        start, length = fr.data_start, fr.length
        bad = np.flatnonzero(~fr.crc_ok)
        if bad.size:
            self.warn(up, f"{bad.size} record(s) with a bad CRC skipped (at byte {int(fr.header_offset[bad[0]]) + self.offset})")
            good = np.flatnonzero(fr.crc_ok)
            start, length = start[good], length[good]
        tags, code, step, value, wall, malformed = tensorboard.decode_scalars(buf, start, length, self.plugins)
        if malformed:
            self.warn(up, f"{len(malformed)} record(s) are not readable Event protos, skipped")
        self.offset += consumed
        if step.size:
            tags = [tensorboard._prefixed(t, self.prefix) for t in tags]
            up.chunks.append(Chunk(self.name, self.stream, tags, code.astype(np.int32, copy=False),
                                   step, value.astype(np.float64, copy=False), wall))


# ---------------------------------------------------------------------------------------
# line logs
# ---------------------------------------------------------------------------------------
class _LineTail(_Tail):
    """A file read line by line from the end of its last complete line."""

    def __init__(self, path: Path, name: str):
        super().__init__(path, name)
        self.offset = 0
        self.lineno = 0  # complete lines consumed so far

    def new_lines(self, up: Update) -> list[str]:
        size = self.size()
        if self.dead or size is None or size == self.offset:
            return []
        if size < self.offset:
            self.warn(up, f"the file shrank from {self.offset} to {size} bytes (rewritten?); no longer followed")
            self.dead = True
            return []
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(size - self.offset)
        except OSError as err:
            self.warn(up, f"cannot read ({err.strerror or err})")
            return []
        cut = data.rfind(b"\n")
        if cut < 0:
            return []  # one line still being written
        self.offset += cut + 1
        lines = data[:cut].decode("utf-8", "replace").split("\n")
        self.lineno += len(lines)
        return lines


def _chunk(name: str, rows: list[tuple[str, int, float, float | None]]) -> Chunk:
    """(tag, step, value, wall_time) rows -> one Chunk."""
    index: dict[str, int] = {}
    code = np.fromiter((index.setdefault(r[0], len(index)) for r in rows), dtype=np.int32, count=len(rows))
    step = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    value = np.fromiter((r[2] for r in rows), dtype=np.float64, count=len(rows))
    wall = np.fromiter((np.nan if r[3] is None else r[3] for r in rows), dtype=np.float64, count=len(rows))
    return Chunk(name, name, list(index), code, step, value, wall)


class JsonlTail(_LineTail):
    """metrics.jsonl and friends; also returns the bundled trainer's end marker."""

    def __init__(self, path: Path, name: str):
        super().__init__(path, name)
        self.prev_step = -1
        self.bad = 0

    def poll(self, up: Update) -> None:
        from .jsonl import record_rows

        first = self.lineno + 1
        rows: list[tuple[str, int, float, float | None]] = []
        for i, line in enumerate(self.new_lines(up)):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            if not isinstance(obj, dict):
                self.bad += 1
                self.warn(up, f"malformed line {first + i} skipped" if self.bad == 1 else f"{self.bad} malformed lines skipped so far")
                continue
            event = obj.get("event")
            if event in END_EVENTS:
                step = obj.get("step")
                up.end = RunEnd(str(event), int(step) if isinstance(step, (int, float)) else None,
                                str(obj.get("reason") or ""), self.name)
            step, plan = record_rows(obj, self.prev_step, rows)
            if plan is not None:
                up.configs[self.name] = {"max_steps": plan}
            if step is not None:
                self.prev_step = step
        if rows:
            up.chunks.append(_chunk(self.name, rows))


class CsvTail(_LineTail):
    """A CSV metric log (Lightning's metrics.csv): the header once, then rows as they come."""

    def __init__(self, path: Path, name: str):
        super().__init__(path, name)
        self.header: list[str] | None = None

    def poll(self, up: Update) -> None:
        from .base import STEP_KEYS, to_float
        from .jsonl import TIME_KEYS

        lines = self.new_lines(up)
        if not lines:
            return
        if self.header is None:
            self.header = [c.strip() for c in next(csv.reader([lines[0]]))]
            lines = lines[1:]
            if not any(k in self.header for k in STEP_KEYS):
                self.warn(up, f"CSV has no step column (looked for {', '.join(STEP_KEYS)}); not followed")
                self.dead = True
                return
        cols = self.header
        step_col = next(c for c in STEP_KEYS if c in cols)
        time_col = next((c for c in TIME_KEYS if c in cols), None)
        rows: list[tuple[str, int, float, float | None]] = []
        for raw in csv.reader(lines):
            rec = dict(zip(cols, raw))
            step = to_float(rec.get(step_col, ""))
            if step is None or step != step:
                continue
            wall = to_float(rec.get(time_col, "")) if time_col else None
            for key, cell in rec.items():
                if key in (step_col, time_col) or cell == "":
                    continue
                v = to_float(cell)
                if v is not None:
                    rows.append((key, int(step), v, wall))
        if rows:
            up.chunks.append(_chunk(self.name, rows))


class TextLogTail(_LineTail):
    """A console log (train.log, nohup.out): the text-log parser, fed new lines and drained."""

    def __init__(self, path: Path, name: str, options: Any = None):
        super().__init__(path, name)
        self.options = options  # textlog.LogOptions from the project settings
        self.parser: Any = None
        self.n_events = 0

    def _start(self, up: Update) -> bool:
        from . import textlog

        try:
            if textlog._looks_binary(self.path):
                self.dead = True
                return False
        except OSError as err:
            self.warn(up, f"cannot read ({err.strerror or err})")
            return False
        opts = self.options or textlog.LogOptions()
        self.parser = textlog._LogParser(self.name, list(opts.patterns), opts.logging_steps)
        return True

    def poll(self, up: Update) -> None:
        from . import textlog

        if self.parser is None and (self.dead or not self._start(up)):
            return
        lines = self.new_lines(up)
        if not lines:
            return
        p = self.parser
        p.feed(lines)
        tags, code, step, value, wall = p.drain()
        if not p.summary and self.lineno >= textlog.SNIFF_LINES and not tags:
            self.dead = True  # no metric line in the sniff window: not a training log
            return
        if code.size:
            up.chunks.append(Chunk(self.name, self.name, tags, code, step, value, wall))
        if len(p.events) > self.n_events:
            up.events.extend(p.events[self.n_events:])
            self.n_events = len(p.events)
        config = p.settings_found()
        if config:
            up.configs[self.name] = config


# ---------------------------------------------------------------------------------------
# whole files: configs, trainer_state.json, checkpoints
# ---------------------------------------------------------------------------------------
class WholeFileTail(_Tail):
    """A small file read whole whenever it changed; scalar rows already returned are not
    returned again (trainer_state.json's log_history only grows)."""

    def __init__(self, path: Path, name: str, reader: Callable[..., Any], wait_until_stable: bool = False,
                 options: dict[str, Any] | None = None):
        super().__init__(path, name)
        self.reader = reader
        self.options = options or {}
        self.wait_until_stable = wait_until_stable
        self.read_sig: tuple[int, int] | None = None
        self.seen_sig: tuple[int, int] | None = None
        self.rows_taken = 0

    def _sig(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns)

    def poll(self, up: Update, final: bool = False) -> None:
        sig = self._sig()
        if sig is None or sig == self.read_sig:
            return
        if self.wait_until_stable and not final and sig != self.seen_sig:
            self.seen_sig = sig  # changed since the last poll: may still be being written
            return
        self.read_sig = sig
        try:
            data = self.reader(self.path, **self.options)
        except HnetDiagError as err:
            self.warn(up, getattr(err, "problem", str(err)))
            return
        except (OSError, ValueError) as err:
            self.warn(up, f"unreadable ({type(err).__name__}: {err})")
            return
        if data is None:
            return
        for k, v in data.configs.items():
            up.configs[self.name if Path(k) == self.path else k] = v
        for c in data.checkpoints:
            up.checkpoints.append(c)
        up.events.extend(data.events)
        for w in data.warnings:
            self.warn(up, w.message)
        df = data.scalars
        if df is not None and len(df) > self.rows_taken:
            new = df.iloc[self.rows_taken:]
            self.rows_taken = len(df)
            tags = [str(t) for t in new["tag"].astype(str)]
            index: dict[str, int] = {}
            code = np.array([index.setdefault(t, len(index)) for t in tags], dtype=np.int32)
            up.chunks.append(Chunk(self.name, self.name, list(index), code, new["step"].to_numpy(np.int64),
                                   new["value"].to_numpy(np.float64), new["wall_time"].to_numpy(np.float64)))
