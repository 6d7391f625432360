"""Find every artefact under a run folder, read each with its source, merge into a Run.

Discovery is a table of (file pattern -> reader), so a new format is one new row. A file
that fails to read becomes a warning on the Run, not an exception: a run with one damaged
file is still worth diagnosing. Only a folder with nothing readable at all is an error.
Nothing is ever written into the run folder.
"""
from __future__ import annotations

import fnmatch
import importlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from ..errors import HnetDiagError, InputError
from ..metrics import canonical_name
from ..run import SCALAR_COLUMNS, LoadWarning, Run
from ..settings_file import DEFAULTS, ProjectSettings, as_settings, inside_run
from .base import SourceData
from .readers import READERS, SKIP_DIRS
from .untrusted import cannot_read, check_regular, external_link


def _textlog_options(settings: ProjectSettings) -> dict[str, Any]:
    from .textlog import LogOptions

    return {"options": LogOptions.from_settings(settings)}


#: module -> keyword arguments its reader takes, built once per load from the settings
READER_OPTIONS: dict[str, Callable[[ProjectSettings], dict[str, Any]]] = {
    "textlog": _textlog_options,
}


#: files a tool writes for itself beside a run (predicate in hnet_diag.sources.<module>)
IGNORED: list[tuple[str, str]] = [("wandb_run", "is_internal"), ("mlflow_run", "is_internal")]


#: why a reader that returned nothing passed a file over, for the "nothing readable" error
_NOT_RECOGNISED = {
    "textlog": "no line looks like a training-log record (step and metric values)",
    "checkpoint": "a checkpoint part, read with its folder's model file or shard index",
}


def _ignored(path: Path) -> bool:
    return any(_reader(module, func)(path) for module, func in IGNORED)


def _reader(module: str, func: str) -> Callable:
    return getattr(importlib.import_module(f"hnet_diag.sources.{module}"), func)


def discover(root: Path, unreadable: list[LoadWarning] | None = None) -> dict[tuple[str, str], list[Path]]:
    """Group the files under root by the reader that will read them (sorted, deterministic).

    A subfolder that cannot be listed (permissions) is reported in `unreadable`, not skipped
    silently. Symlinked folders are not entered (os.walk's default), so discovery stays
    inside the run folder.
    """
    groups: dict[tuple[str, str], list[Path]] = {}

    def onerror(err: OSError) -> None:
        if unreadable is not None and err.filename is not None and Path(err.filename) != root:
            unreadable.append(LoadWarning(_rel(Path(err.filename), root), f"folder {cannot_read(err.filename, err).problem}; its files were skipped"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            for pattern, module, func in READERS:
                if fnmatch.fnmatch(name, pattern):
                    if not _ignored(Path(dirpath) / name):
                        groups.setdefault((module, func), []).append(Path(dirpath) / name)
                    break
    return groups


#: readers of text and config files: their contents can end up quoted in a report, so a
#: symlink leading outside the run folder is not followed for them unless asked
TEXT_READERS = {("hf_trainer_state", "read"), ("jsonl", "read"), ("csv", "read"), ("config", "read"),
                ("textlog", "read"), ("sharded", "read_index")}
FOLLOW_HINT = "pass follow_external_links=True (CLI: --follow-external-links) to read it"


def _admissible(path: Path, reader: tuple[str, str], root: Path, follow_external_links: bool) -> str | None:
    """Why a discovered file must not be opened (not a regular file, a link out of the run), else None."""
    if reader in TEXT_READERS and not follow_external_links:
        target = external_link(path, root)
        if target is not None:
            return f"symlink to {target}, outside the run folder; not followed ({FOLLOW_HINT})"
    try:
        check_regular(path)
    except InputError as err:
        return err.problem
    return None


def _calls(module: str, func: str, files: list[Path]) -> list[tuple[Path, tuple]]:
    """One call per file, except folder readers which get all files of one folder."""
    if func != "read_folder":
        return [(f, (f,)) for f in files]
    by_dir: dict[Path, list[Path]] = {}
    for f in files:
        by_dir.setdefault(f.parent, []).append(f)
    return [(d, (d, fs)) for d, fs in sorted(by_dir.items())]


def load_run(path: str | os.PathLike, settings: ProjectSettings | Mapping[str, Any] | None = None,
             follow_external_links: bool = False) -> Run:
    """Read everything under a run folder (or a single file) into a Run.

    `settings`: the `[tool.hnet-diag]` settings to read with (log patterns...), as a
    `ProjectSettings` or a plain mapping; None finds them from `path` (the nearest settings
    file in the run folder or above it). They are kept as `run.project_settings`, so
    `diagnose(run)` applies the same ones without looking again.
    Every file is untrusted input (see `sources.untrusted`): special files are never
    opened, and text or config files reached through a symlink that leads outside the run
    folder are skipped with a warning unless `follow_external_links` is True. A settings
    file inside the run folder is untrusted too: damaged, it is a warning and the defaults
    apply. Nothing is ever written into the run folder.
    Raises InputError when the path does not exist, nothing in it could be read, or
    settings given here or found above the run folder are invalid (naming the file).
    """
    from .remote import is_remote

    if is_remote(path):  # s3://, gs://, hf://, http(s)://: fetched into a temporary folder
        from .remote import load_run as load_remote

        return load_remote(str(path), settings, load_local=load_run)
    root = Path(path)
    if not root.exists():
        if root.is_symlink():
            raise InputError(root, "symlink to a path that does not exist")
        raise InputError(root, "no such file or folder")
    if not root.is_dir():
        check_regular(root)  # a FIFO or device named on the command line: refuse, do not block
    skipped: list[LoadWarning] = []
    settings, options = _settings_and_options(settings, root, skipped)
    if not root.is_dir():
        groups = {}
        for pattern, module, func in READERS:
            if fnmatch.fnmatch(root.name, pattern):
                groups[(module, func)] = [root]
                break
        if not groups:
            raise InputError(root, "unknown file format")
        run_root = root.parent
        follow_external_links = True  # the user named this very file
    else:
        groups = discover(root, skipped)
        run_root = root
        if not groups and not skipped:
            raise InputError(root, "no training artefacts found (no event files, metric logs, configs or checkpoints)")

    run = Run(path=root, project_settings=settings)
    run.warnings.extend(skipped)
    parts: list[SourceData] = []
    unread: list[str] = [str(w) for w in skipped]  # "file: why", for the "nothing readable" error
    from ..progress import reading

    sizes = {f: _size(f) for fs in groups.values() for f in fs}
    with reading("reading", sum(sizes.values()), len(sizes)) as bar:
        for (module, func), files in groups.items():
            reader = _reader(module, func)
            kwargs = options.get(module, {})
            admitted = []
            for f in files:
                why = _admissible(f, (module, func), run_root, follow_external_links)
                if why is None:
                    admitted.append(f)
                else:
                    run.warnings.append(LoadWarning(_rel(f, run_root), why))
                    unread.append(str(run.warnings[-1]))
                    bar.advance(sizes.get(f, 0))
            for where, args in _calls(module, func, admitted):
                call_files = args[1] if func == "read_folder" else args
                bar.start(where.name)
                try:
                    try:
                        part = reader(*args, **kwargs)
                    except HnetDiagError as err:
                        run.warnings.append(LoadWarning(_rel(where, run_root), getattr(err, "problem", str(err))))
                        unread.append(str(run.warnings[-1]))
                        continue
                    except OSError as err:
                        run.warnings.append(LoadWarning(_rel(where, run_root), cannot_read(where, err).problem))
                        unread.append(str(run.warnings[-1]))
                        continue
                    except Exception as err:  # noqa: BLE001 - a reader bug must not hide the rest of the run
                        detail = str(err).splitlines()[0][:200] if str(err).strip() else "no detail"
                        run.warnings.append(LoadWarning(_rel(where, run_root), f"unreadable ({type(err).__name__}: {detail})"))
                        unread.append(str(run.warnings[-1]))
                        continue
                    if part is None:  # reader looked and found nothing of its kind (e.g. a .txt that is no log)
                        unread.append(f"{_rel(where, run_root)}: {_NOT_RECOGNISED.get(module, 'nothing of its kind found')}")
                        continue
                    parts.append(part)
                    if _only_warnings(part):  # e.g. a .txt that is no log, but a warning to pass on
                        unread.append(f"{_rel(where, run_root)}: {_NOT_RECOGNISED.get(module, 'nothing of its kind found')}")
                        continue
                    run.files.extend(_rel(f, run_root) for f in (args[1] if func == "read_folder" else args))
                finally:  # also after a failed read: those bytes were looked at
                    bar.advance(sum(sizes.get(f, 0) for f in call_files))

    frames = []
    for part in parts:
        if part.scalars is not None and not part.scalars.empty:
            df = part.scalars.copy()
            df["source"] = _relative_column(df["source"], run_root)
            df["stream"] = _relative_column(df["stream"], run_root) if "stream" in df.columns else df["source"]
            frames.append(df)
        run.configs.update({_rel(Path(k), run_root): v for k, v in part.configs.items()})
        run.checkpoints.extend(part.checkpoints)
        # Sources name files as they opened them; the Run names them relative to the run
        # folder so a report does not depend on where it was made (byte-identical output).
        run.events.extend(replace(e, source=_rel(Path(e.source), run_root)) for e in part.events)
        run.warnings.extend(replace(w, source=_rel(Path(w.source), run_root)) for w in part.warnings)
    if frames:
        df = pd.concat(frames, ignore_index=True)
        names = {t: canonical_name(t) for t in df["tag"].unique()}
        df["metric"] = df["tag"].map(names)
        if "rank" not in df.columns:
            df["rank"] = _rank_column(df["stream"])
        # a few distinct names repeated on every row: categorical storage holds each once
        # (a 50M-row run: ~1.5 GB less than one string object per row and column)
        for col in ("metric", "tag", "source", "stream"):
            df[col] = df[col].astype("category")
        run.scalars = df[SCALAR_COLUMNS]
        run.warnings.extend(run.stream_disagreements())
    run.checkpoints.sort(key=lambda c: (c.step is None, c.step or 0, c.path))
    run.warnings = list(dict.fromkeys(run.warnings))  # one damaged settings file, many logs: say it once

    from .run_settings import settings_from_configs

    run.training, run.model, run.generation = settings_from_configs(run.configs, run.checkpoints)
    from .origin import detect_model_kind, detect_trainer

    run.trainer = detect_trainer(run, run_root)
    run.model_kind = detect_model_kind(run)
    if not run.files:
        shown = unread[:8] + ([f"... {len(unread) - 8} more"] if len(unread) > 8 else [])
        raise InputError(root, "nothing readable: " + "; ".join(shown or ["no file was read"]))
    return run


def _settings_and_options(given: Any, root: Path, warnings: list[LoadWarning]) -> tuple[ProjectSettings, dict[str, Any]]:
    """The settings to read with, and each reader's options built from them.

    A settings file found in the run folder itself came with the run: when it is unreadable
    or holds an invalid log pattern, that is a warning naming it, and the defaults apply
    (for the readers' options, or for everything when the file cannot be parsed). Settings
    passed in code or found above the run folder are the user's own: errors stay errors.
    """
    try:
        settings = as_settings(given, root, origin="load_run(settings=...)")
    except InputError as err:
        if given is not None or not inside_run(err.path, root):
            raise
        warnings.append(LoadWarning(Path(err.path).name, f"{err.problem}; its settings were ignored"))
        settings = DEFAULTS
    options: dict[str, Any] = {}
    for module, make in READER_OPTIONS.items():
        try:
            options[module] = make(settings)
        except InputError as err:
            if given is not None or settings.path is None or not inside_run(settings.path, root):
                raise
            warnings.append(LoadWarning(settings.path.name, f"{err.problem}; ignored"))
            options[module] = make(DEFAULTS)
    return settings, options


def _only_warnings(part: SourceData) -> bool:
    return (part.scalars is None or part.scalars.empty) and not part.configs and not part.checkpoints and not part.events


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _rank_column(streams: pd.Series) -> pd.Series:
    """The rank of each row's stream (once per distinct stream), as nullable integers."""
    from .ranks import rank_of

    ranks = {v: rank_of(v) for v in streams.unique()}
    return streams.map(ranks).astype("Int64")


def _relative_column(col: pd.Series, root: Path) -> pd.Series:
    """Relativise a column of file paths once per distinct path, not once per row."""
    names = {v: _rel(Path(v), root) for v in col.unique()}
    return col.map(names)


def _rel(p: Path, root: Path) -> str:
    try:
        return str(Path(p).relative_to(root)) or "."
    except ValueError:
        return str(p)
