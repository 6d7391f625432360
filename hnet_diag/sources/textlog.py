"""Placeholder until this source lands (see the open issues)."""
from __future__ import annotations

from ..errors import InputError


def read(path, *files):
    raise InputError(path, "reading this format is not implemented yet")
