"""Which byte values the run's training data holds: the input the weights analyzer needs to
tell a byte-level embedding's trained rows from rows no input ever selected.

The bundled trainer records its data files in config.json and in every checkpoint
(`training.data`: paths as given, or `bundled:NAME` for the corpus shipped with the
package). They are counted as bytes, whole files, training and validation split together
(the split is by documents inside the files), plus BOS (254), which the trainer puts
before every document. A config is untrusted input and the report lists which byte values
a file holds, so only the files the boundary map may read are read
(`reference_model.data_files`: bundled files, and regular files inside the run folder
after resolving links, each at most 64 MB); anything else (a path elsewhere on this
machine, a file the run was copied without) leaves the data unknown, with the reason.
Nothing is downloaded. Files are read in 8 MiB blocks up to `MAX_BYTES` in all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: bytes read from the data files at most (the count then covers that prefix only)
MAX_BYTES = 64 << 20
BLOCK = 8 << 20
#: the bundled trainer's begin-of-document byte (trainer/data.py), an input at every document start
BOS = 254


@dataclass(frozen=True)
class DataBytes:
    """How often each of the 256 byte values occurs in the run's training data."""

    counts: tuple[int, ...]  # 256 counts
    source: str  # the files, in words ("bundled:tinyshakespeare.txt, 1,115,394 bytes")


@dataclass(frozen=True)
class WeightsInput:
    """The run and what its training data holds, as `analyze_weights` takes them."""

    run: Any
    data_bytes: DataBytes | None = None
    reason: str = ""  # why data_bytes is None


def data_paths(run: Any) -> list[str]:
    """The data files the run's config names (`training.data`), newest checkpoint first."""
    configs = [c.config for c in sorted(getattr(run, "checkpoints", None) or (),
                                        key=lambda c: c.step if c.step is not None else -1, reverse=True)]
    configs += list((getattr(run, "configs", None) or {}).values())
    for cfg in configs:
        training = cfg.get("training") if isinstance(cfg, dict) else None
        data = training.get("data") if isinstance(training, dict) else None
        if isinstance(data, (list, tuple)) and data and all(isinstance(d, str) for d in data):
            return list(data)
        if isinstance(data, str) and data:
            return [data]
    return []


def training_bytes(run: Any) -> tuple[DataBytes | None, str]:
    """(byte counts of the run's data files, "") or (None, why not)."""
    names = data_paths(run)
    if not names:
        return None, "the run's config names no training data files"
    import numpy as np

    from .reference_model import MAX_DATA_FILE_BYTES, data_files

    paths, _ = data_files(getattr(run, "path", ""), names)  # the same rule as the boundary map's passage
    if not paths:
        return None, ("the run's training data files (" + ", ".join(names) + ") are not all readable here: only "
                      f"bundled files and regular files inside the run folder up to {MAX_DATA_FILE_BYTES >> 20} MB "
                      "are read, a config being untrusted input")
    counts = np.zeros(256, dtype=np.int64)
    total = 0
    for path in paths:
        try:
            with open(path, "rb") as fh:
                while total < MAX_BYTES:
                    block = fh.read(min(BLOCK, MAX_BYTES - total))
                    if not block:
                        break
                    counts += np.bincount(np.frombuffer(block, dtype=np.uint8), minlength=256)
                    total += len(block)
        except OSError as err:
            return None, f"cannot read training data file {path.name} ({err.strerror or err})"
    counts[BOS] += 1  # the trainer's BOS precedes every document
    capped = f", the first {total:,} bytes" if total >= MAX_BYTES else f", {total:,} bytes"
    return DataBytes(tuple(int(c) for c in counts), ", ".join(names) + capped), ""


def weights_input(run: Any) -> WeightsInput:
    """The run with its training data's byte counts (when its config names readable files).

    Without a checkpoint holding an embedding there is nothing to split into rows, so the
    data is not read (a watched run is analysed again and again).
    """
    if not any(t.row_norms is not None for c in getattr(run, "checkpoints", None) or () for t in c.tensors):
        return WeightsInput(run=run, reason="no checkpoint with a byte-level embedding")
    found, why = training_bytes(run)
    return WeightsInput(run=run, data_bytes=found, reason=why)
