"""Sources: one module per file format. A source reads, it never judges.

Every reader returns a `SourceData`; `discover.load_run` decides which reader reads which
file and merges what they return into a `Run`.
"""
from .base import SourceData

__all__ = ["SourceData"]
