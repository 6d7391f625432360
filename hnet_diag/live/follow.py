"""Follow a run folder while it is written: discover files each poll, read only what is new.

The follower owns one resumable tail per file (`sources/tail.py`), chosen by the same
discovery table as `load_run` (`sources/discover.READERS`), and merges what they return
into a `ScalarStore` plus the small things a Run holds (configs, checkpoint summaries,
events, warnings). `run()` turns that state into a `Run` the analyzers read exactly as
they read a loaded one. A folder that does not exist yet is simply empty until it does.

Cost of a poll: one directory walk (the run folder's file names), one `stat` per file, and
reading and decoding the bytes appended since the last poll. The history is never read
again; a Run frame is built (views, plus one pass to check categorical codes) only when
the rules are to run.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..run import CheckpointSummary, LoadWarning, Run, RunEvent
from ..sources import tail as tails
from ..sources.tail import RunEnd, Update
from .store import ScalarStore


@dataclass
class PollResult:
    """What one poll found."""

    new_rows: int = 0
    new_files: list[str] = field(default_factory=list)
    first_nonfinite: list[str] = field(default_factory=list)  # tags with their first NaN/Inf
    settings_changed: bool = False
    end: RunEnd | None = None  # set on the poll that met the run's end marker

    @property
    def changed(self) -> bool:
        return bool(self.new_rows or self.new_files or self.settings_changed or self.end)


def _rel(p: Path, root: Path) -> str:
    try:
        return str(Path(p).relative_to(root)) or "."
    except ValueError:
        return str(p)


class RunFollower:
    """Polls one run folder (or one file) and keeps what it has read so far."""

    def __init__(self, path: str | os.PathLike, settings: Any = None):
        """`settings`: the `[tool.hnet-diag]` settings (a `ProjectSettings` or a mapping), or
        None to find them from the path as `load_run` does, once the path exists."""
        self.path = Path(path)
        self._project = settings
        self._options: dict[str, dict[str, Any]] | None = None
        self.store = ScalarStore()
        self.tails: dict[Path, Any] = {}
        self.folder_plugins: dict[Path, dict] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.checkpoints: dict[str, CheckpointSummary] = {}
        self.events: list[RunEvent] = []
        self.warnings: list[LoadWarning] = []
        self.end: RunEnd | None = None
        self._settings: Any = None  # (training, model, generation), rebuilt when configs change

    # -- discovery ---------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.path.parent if self.path.is_file() else self.path

    def exists(self) -> bool:
        return self.path.exists()

    def _discover(self) -> list[tuple[Path, str, str]]:
        from ..sources.discover import READERS, discover

        if self.path.is_file():
            for pattern, module, func in READERS:
                if fnmatch.fnmatch(self.path.name, pattern):
                    return [(self.path, module, func)]
            return []
        if not self.path.is_dir():
            return []
        return [(f, module, func) for (module, func), files in discover(self.path).items() for f in files]

    @property
    def project_settings(self) -> Any:
        """The `[tool.hnet-diag]` settings the files are read and judged with."""
        from ..settings_file import as_settings

        if self._project is None or isinstance(self._project, dict):
            self._project = as_settings(self._project, self.path, origin="settings=...")
        return self._project

    def _new_tail(self, f: Path, module: str, func: str) -> Any:
        from ..sources.discover import READER_OPTIONS, _reader
        from ..sources.tensorboard import SPLIT_FOLDERS

        if self._options is None:
            self._options = {m: make(self.project_settings) for m, make in READER_OPTIONS.items()}
        options = self._options.get(module, {})

        name = _rel(f, self.root)
        if module == "tensorboard":
            folder = f.parent
            plugins = self.folder_plugins.setdefault(folder, {})
            prefix = folder.name if folder.name.lower() in SPLIT_FOLDERS else None
            return tails.EventFileTail(f, name, _rel(folder, self.root), plugins, prefix)
        if module == "jsonl":
            return tails.JsonlTail(f, name)
        if module == "csv":
            return tails.CsvTail(f, name)
        if module == "textlog":
            return tails.TextLogTail(f, name, options.get("options"))
        return tails.WholeFileTail(f, name, _reader(module, func), wait_until_stable=module == "checkpoint",
                                   options=options)

    # -- polling -----------------------------------------------------------------------
    def poll(self, final: bool = False) -> PollResult:
        """Read what is new in every file; `final` also reads checkpoints still settling."""
        res = PollResult()
        found = [x for x in self._discover() if x[0] not in self.tails]
        if found:
            from ..sources.tensorboard import _first_wall_time

            # new event files of one folder in write order (a restart's file after the old one)
            found.sort(key=lambda x: (x[1] != "tensorboard", _first_wall_time(x[0]) if x[1] == "tensorboard" else 0, str(x[0])))
            for f, module, func in found:
                self.tails[f] = self._new_tail(f, module, func)
                res.new_files.append(_rel(f, self.root))
        up = Update()
        for t in self.tails.values():
            if isinstance(t, tails.WholeFileTail):
                t.poll(up, final=final)
            else:
                t.poll(up)
        self._merge(up, res)
        return res

    def _merge(self, up: Update, res: PollResult) -> None:
        for ch in up.chunks:
            bad, restarts = self.store.append(ch.source, ch.stream, ch.tags, ch.code, ch.step, ch.value, ch.wall_time)
            res.new_rows += int(ch.step.size)
            res.first_nonfinite += bad
            self.events += restarts
        if up.configs or up.checkpoints:
            for k, v in up.configs.items():
                if self.configs.get(k) != v:
                    self.configs[k] = v
                    res.settings_changed = True
            for c in up.checkpoints:
                self.checkpoints[_rel(Path(c.path), self.root)] = c
                res.settings_changed = True
            if res.settings_changed:
                self._settings = None
        self.events += up.events
        self.warnings += up.warnings
        if up.end is not None and up.end != self.end:
            self.end = res.end = up.end
        elif up.end is None and res.new_rows and self.end is not None:
            self.end = None  # data after the end marker: the run was resumed

    # -- the Run -----------------------------------------------------------------------
    @property
    def last_step(self) -> int | None:
        steps = [self.store.max_step] if self.store.max_step is not None else []
        steps += [c.step for c in self.checkpoints.values() if c.step is not None]
        return max(steps) if steps else None

    def has_data(self) -> bool:
        return len(self.store) > 0 or bool(self.configs) or bool(self.checkpoints)

    def run(self) -> Run:
        """The run as read so far, as `load_run` would have returned it."""
        from ..sources.run_settings import settings_from_configs

        checkpoints = sorted(self.checkpoints.values(), key=lambda c: (c.step is None, c.step or 0, c.path))
        if self._settings is None:
            self._settings = settings_from_configs(dict(self.configs), checkpoints)
        run = Run(path=self.path, scalars=self.store.frame(), configs=dict(self.configs), checkpoints=checkpoints,
                  events=list(self.events), warnings=list(self.warnings),
                  files=sorted(_rel(f, self.root) for f in self.tails), project_settings=self.project_settings)
        run.training, run.model, run.generation = self._settings
        from ..sources.origin import detect_model_kind, detect_trainer

        run.trainer = detect_trainer(run, self.root)
        run.model_kind = detect_model_kind(run)
        return run
