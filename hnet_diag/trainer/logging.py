"""Where training metrics go: one small interface, several sinks, a fan-out.

Every logger has `log(metrics, step)`, `mark(step, event, reason)` (the run's end) and `close()`. The trainer builds one `FanOut` of a
TensorBoard writer, a `metrics.jsonl` appender and a plain-text console line, and never
knows which sinks are there; a DDP rank other than 0 gets a `NullLogger`.

The keys are the canonical metric names of `hnet_diag.metrics` (`loss`, `lr/stage0`,
`compression/stage1`...), so the analyzers read this trainer's runs without aliases. The
console line is plain text (no colour codes) in a shape the text-log source reads:
`step 12/300 | loss 3.2100 | bpb 4.6311 | lr 3.00e-04 | ...`.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import IO, Protocol


class Logger(Protocol):
    def log(self, metrics: dict[str, float], step: int) -> None: ...

    def mark(self, step: int, event: str, reason: str = "") -> None:
        """The run's end: `event` is "finished" or "stopped" (with why)."""

    def close(self) -> None: ...


class NullLogger:
    """Logs nothing (DDP ranks other than 0)."""

    def log(self, metrics: dict[str, float], step: int) -> None:
        pass

    def mark(self, step: int, event: str, reason: str = "") -> None:
        pass

    def close(self) -> None:
        pass


class FanOut:
    """Sends every call to each logger it holds."""

    def __init__(self, loggers: list[Logger]):
        self.loggers = list(loggers)

    def log(self, metrics: dict[str, float], step: int) -> None:
        for lg in self.loggers:
            lg.log(metrics, step)

    def mark(self, step: int, event: str, reason: str = "") -> None:
        for lg in self.loggers:
            getattr(lg, "mark", NullLogger().mark)(step, event, reason)

    def close(self) -> None:
        for lg in self.loggers:
            lg.close()


class TensorBoardLogger:
    """torch's SummaryWriter in the run folder; a resumed run adds a new event file beside the old."""

    def __init__(self, log_dir: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, float(value), step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def _json_number(v: float):
    """8 significant digits (more than float32 holds: the log halves in size, nothing is lost).

    JSON has no NaN/Inf; they are written as the strings the JSONL source reads back as floats.
    """
    v = float(v)
    if math.isfinite(v):
        return float(f"{v:.8g}")
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


class JsonlLogger:
    """Appends one JSON object per call to metrics.jsonl, flushed at once so a killed run keeps its log."""

    def __init__(self, path: str | Path):
        self.file = open(path, "a", encoding="utf-8")

    def log(self, metrics: dict[str, float], step: int) -> None:
        record = {"step": step, "wall_time": round(time.time(), 3)}
        record.update({k: _json_number(v) for k, v in metrics.items()})
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def mark(self, step: int, event: str, reason: str = "") -> None:
        """The last line: `{"step": N, "event": "finished"}` or `"stopped"` with a `"reason"`.

        `hnet-diag watch --until-done` ends on it; the JSONL source reads no metric from it.
        """
        record: dict[str, object] = {"step": step, "wall_time": round(time.time(), 3), "event": event}
        if reason:
            record["reason"] = reason
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


#: console keys in print order, with their format; other keys follow in sorted order
_CONSOLE_FORMATS = {
    "loss": "{:.4f}", "bpb": "{:.4f}", "val_loss": "{:.4f}", "val_bpb": "{:.4f}",
    "lr": "{:.3e}", "grad_norm": "{:.4g}", "clipped": "{:.0f}", "ratio_loss": "{:.4f}",
}
_CONSOLE_TAIL = {"tokens_per_s": "{:.0f}", "step_time": "{:.3f}"}


class ConsoleLogger:
    """One plain-text line per call, to a stream (stdout) and optionally appended to a file (train.log)."""

    def __init__(self, stream: IO[str] | None = None, path: str | Path | None = None, max_steps: int | None = None):
        self.stream = stream if stream is not None else sys.stdout
        self.file = open(path, "a", encoding="utf-8") if path is not None else None
        self.max_steps = max_steps

    @staticmethod
    def _fmt(key: str, value: float) -> str:
        fmt = _CONSOLE_FORMATS.get(key) or _CONSOLE_TAIL.get(key)
        if fmt is None:
            fmt = "{:.3e}" if key.startswith("lr/") else "{:.4g}"
        return fmt.format(float(value))

    def format_line(self, metrics: dict[str, float], step: int) -> str:
        head = f"step {step}/{self.max_steps}" if self.max_steps else f"step {step}"
        keys = [k for k in _CONSOLE_FORMATS if k in metrics]
        keys += sorted(k for k in metrics if k not in _CONSOLE_FORMATS and k not in _CONSOLE_TAIL)
        keys += [k for k in _CONSOLE_TAIL if k in metrics]
        return " | ".join([head] + [f"{k} {self._fmt(k, metrics[k])}" for k in keys])

    def log(self, metrics: dict[str, float], step: int) -> None:
        line = self.format_line(metrics, step)
        print(line, file=self.stream, flush=True)
        if self.file is not None:
            self.file.write(line + "\n")
            self.file.flush()

    def mark(self, step: int, event: str, reason: str = "") -> None:
        """`run stopped at step 6 of 300 planned: why`. A normal end adds no line (the log
        keeps one line per step; the command prints its own `done:` line)."""
        if event == "finished" and not reason:
            return
        planned = f" of {self.max_steps} planned" if self.max_steps else ""
        line = f"run {event} at step {step}{planned}" + (f": {reason}" if reason else "")
        print(line, file=self.stream, flush=True)
        if self.file is not None:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
