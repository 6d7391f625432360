"""Errors that reach the user as one line, never as a traceback.

Every error names the file it is about, because "malformed JSON" is useless to someone
whose run folder holds forty files.
"""
from __future__ import annotations

from pathlib import Path


class HnetDiagError(Exception):
    """Base class; the CLI prints `str(err)` and exits 2."""


class InputError(HnetDiagError):
    """A file or folder given by the user cannot be used."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnsafeCheckpointError(InputError):
    """A checkpoint would need full unpickling (arbitrary code) to load; we refuse."""
