"""A progress bar on stderr for long reads (files and bytes done), off when stderr is not a terminal.

Reading a multi-GB run takes tens of seconds; without a sign of life a user cannot tell
a slow read from a hang. The bar is rich's, drawn on stderr (stdout stays clean for pipes
and JSON), transient (it disappears when done), and only shown when stderr is a terminal
and the work is big enough to take a moment (`MIN_BYTES`). `HNET_DIAG_PROGRESS=0` turns it
off, `=1` forces it on.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator

#: below this much input, reading is quick and a bar would only flicker
MIN_BYTES = 64 << 20


def enabled(total_bytes: int) -> bool:
    flag = os.environ.get("HNET_DIAG_PROGRESS", "")
    if flag in ("0", "1"):
        return flag == "1"
    return total_bytes >= MIN_BYTES and bool(getattr(sys.stderr, "isatty", lambda: False)())


class _Off:
    def start(self, what: str) -> None:
        pass

    def advance(self, n_bytes: int) -> None:
        pass


class _Bar:
    def __init__(self, progress: Any, task: Any, n_files: int):
        self._p, self._task, self._n, self._done = progress, task, n_files, 0

    def start(self, what: str) -> None:
        """Name the file being read now (the bar moves when it is done)."""
        self._p.update(self._task, description=f"reading {what[-40:]} ({self._done + 1}/{self._n} files)")

    def advance(self, n_bytes: int) -> None:
        self._done += 1
        self._p.update(self._task, advance=n_bytes)


@contextmanager
def reading(description: str, total_bytes: int, n_files: int) -> Iterator[Any]:
    """`with reading("reading", total, n) as bar: bar.start(name); ...; bar.advance(size)`."""
    if not enabled(total_bytes):
        yield _Off()
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), transient=True,
                  console=Console(stderr=True, force_terminal=os.environ.get("HNET_DIAG_PROGRESS") == "1")) as progress:
        task = progress.add_task(description, total=total_bytes)
        yield _Bar(progress, task, n_files)
