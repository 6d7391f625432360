"""Project settings: the `[tool.hnet-diag]` table a user writes once for a project.

Every part of hnet-diag that a user may tune (log-line patterns for the text-log reader,
rule select/ignore lists and thresholds for the rule engine) reads the same table, found
the same way, so one file configures everything:

1. `hnet-diag.toml` in the run folder, else a `pyproject.toml` there that has a
   `[tool.hnet-diag]` table;
2. the same two files in the current directory.

The first file found wins and nothing is merged, as with ruff: mixing two files would
make it impossible to tell which one set a value. In `hnet-diag.toml` the settings may
sit at the top level or under `[tool.hnet-diag]`; in `pyproject.toml` only the latter
counts, because the rest of that file belongs to other tools.

Keys keep their spelling from the file (`log-patterns`, `logging-steps`, `select`, ...);
each consumer documents and checks its own keys. A file that is not valid TOML is an
`InputError` naming the file, never a traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .errors import InputError

#: file names looked for, in order, in each candidate folder
SETTINGS_FILES = ("hnet-diag.toml", "pyproject.toml")
TOOL_KEY = "hnet-diag"


def loads_toml(text: str) -> dict[str, Any]:
    """tomllib.loads (tomli on Python 3.10), the one TOML parser every hnet-diag reader uses."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised only on Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(path, f"cannot read ({err.strerror})") from err
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


def _candidate_dirs(start: Path | None) -> list[Path]:
    dirs: list[Path] = []
    if start is not None:
        start = Path(start)
        dirs.append(start if start.is_dir() else start.parent)
    cwd = Path.cwd()
    if all(d.resolve() != cwd.resolve() for d in dirs):
        dirs.append(cwd)
    return dirs


def load_settings_with_source(start: Path | None = None) -> tuple[dict[str, Any], Path | None]:
    """The `[tool.hnet-diag]` table and the file it came from (`({}, None)` if none).

    `start` is the run folder (or a file in it); None searches the current directory only.
    """
    for folder in _candidate_dirs(start):
        own = folder / SETTINGS_FILES[0]
        if own.is_file():
            doc = _read_toml(own)
            table = _tool_table(doc, own)
            if table is None:  # top-level keys, minus a foreign [tool] table
                table = {k: v for k, v in doc.items() if k != "tool"}
            return table, own
        project = folder / SETTINGS_FILES[1]
        if project.is_file():
            table = _tool_table(_read_toml(project), project)
            if table is not None:
                return table, project
    return {}, None


def load_settings(start: Path | None = None) -> dict[str, Any]:
    """The `[tool.hnet-diag]` settings that apply to a run folder, as a plain dict.

    Empty when no settings file is found. Raises InputError (naming the file) when the
    file that applies is unreadable or not valid TOML.
    """
    return load_settings_with_source(start)[0]
