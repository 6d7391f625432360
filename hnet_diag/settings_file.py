"""Project settings: the `[tool.hnet-diag]` table a user writes once for a project.

Every part of hnet-diag that a user may tune (log-line patterns for the text-log reader,
rule select/ignore lists and thresholds for the rule engine) reads the same table. It is
found ONCE, at the edge (the CLI, or `load_run` from its path argument), and handed down as
a `ProjectSettings` value: no source, analyzer or rule module looks for files itself.

Where it is found: starting in the run folder (the folder of a single file) and walking up
to the file-system root, the first folder holding `hnet-diag.toml`, or a `pyproject.toml`
with a `[tool.hnet-diag]` table, gives the settings (as ruff finds its pyproject.toml). So a
project's settings apply to every run under it, and the current directory plays no part: a
report does not depend on where the command was typed.

The first file found wins and nothing is merged, as with ruff: mixing two files would make
it impossible to tell which one set a value. In `hnet-diag.toml` the settings may sit at the
top level or under `[tool.hnet-diag]`; in `pyproject.toml` only the latter counts, because
the rest of that file belongs to other tools.

Keys keep their spelling from the file (`log-patterns`, `logging-steps`, `select`, ...);
each consumer documents and checks its own keys. A file that is not valid TOML is an
`InputError` naming the file, never a traceback.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import InputError

#: file names looked for, in order, in each candidate folder
SETTINGS_FILES = ("hnet-diag.toml", "pyproject.toml")
TOOL_KEY = "hnet-diag"


@dataclass(frozen=True)
class ProjectSettings:
    """The `[tool.hnet-diag]` table that applies to a run, and where it came from.

    `path` is the settings file (None for the defaults or a table given in code); `origin`
    is how findings and errors name it.
    """

    table: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None
    origin: str = "defaults"

    def get(self, key: str, default: Any = None) -> Any:
        return self.table.get(key, default)

    @property
    def where(self) -> Path | str:
        """What an error about one of these settings names: the file, else the origin."""
        return self.path if self.path is not None else self.origin


DEFAULTS = ProjectSettings()


def loads_toml(text: str) -> dict[str, Any]:
    """tomllib.loads (tomli on Python 3.10), the one TOML parser every hnet-diag reader uses."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised only on Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def _read_toml(path: Path) -> dict[str, Any]:
    from .sources.untrusted import read_bytes

    try:
        text = read_bytes(path, "settings").decode("utf-8-sig")  # bounded, regular files only
    except UnicodeDecodeError as err:
        raise InputError(path, "not UTF-8 text, so not a TOML file") from err
    try:
        return loads_toml(text)
    except Exception as err:  # tomllib.TOMLDecodeError; tomli's has another class
        raise InputError(path, f"invalid TOML ({str(err).splitlines()[0]})") from err


def _tool_table(doc: dict[str, Any], path: Path) -> dict[str, Any] | None:
    tool = doc.get("tool")
    table = tool.get(TOOL_KEY) if isinstance(tool, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise InputError(path, f"[tool.{TOOL_KEY}] must be a table")
    return table


def read_settings_file(path: str | Path) -> ProjectSettings | None:
    """The settings in one file: a `hnet-diag.toml` (top level or `[tool.hnet-diag]`), or
    any other TOML file's `[tool.hnet-diag]` table (None when it has none)."""
    path = Path(path)
    doc = _read_toml(path)
    table = _tool_table(doc, path)
    if path.name == SETTINGS_FILES[0]:
        if table is None:  # top-level keys, minus a foreign [tool] table
            table = {k: v for k, v in doc.items() if k != "tool"}
        return ProjectSettings(table, path, str(path))
    if table is None:
        return None
    return ProjectSettings(table, path, f"{path} [tool.{TOOL_KEY}]")


def find_settings(run_path: str | Path) -> ProjectSettings:
    """The settings that apply to a run folder (or a file in it): the nearest settings file
    in that folder or above it, else the defaults. InputError when that file is unreadable."""
    start = Path(run_path)
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.resolve().parents):
        for name in SETTINGS_FILES:
            path = candidate / name
            if path.is_file():
                found = read_settings_file(path)
                if found is not None:
                    return found
    return DEFAULTS


def inside_run(settings_path: str | Path, run_path: str | Path) -> bool:
    """Whether a settings file came with the run folder itself (then it is as untrusted as the
    run's other files: damaged, it is a warning and the defaults apply), rather than from the
    project above it (the user's own file: damaged, an error they can fix)."""
    run = Path(run_path)
    folder = run if run.is_dir() else run.parent
    try:
        return Path(settings_path).resolve().parent == folder.resolve()
    except (OSError, RuntimeError):
        return False


def as_settings(value: ProjectSettings | Mapping[str, Any] | None, run_path: str | Path,
                origin: str = "settings=...") -> ProjectSettings:
    """What a library entry point was given: settings as they are, a `[tool.hnet-diag]`-style
    mapping, or None (then the settings are found from the run's path)."""
    if value is None:
        return find_settings(run_path)
    if isinstance(value, ProjectSettings):
        return value
    if isinstance(value, Mapping):
        return ProjectSettings(dict(value), None, origin)
    raise TypeError(f"settings must be a ProjectSettings, a mapping or None, not {type(value).__name__}")
