"""Which data-parallel rank wrote a file, from its name or folder.

Multi-GPU trainers write one log per rank, and the ranks should agree: with data
parallelism every rank sees its own micro-batches (losses differ by noise) but after the
all-reduce they step with the same gradient (gradient norms agree). A rank that departs is
a desync or a bad node. To see it, each file's rows keep the rank that wrote them
(`Run.scalars["rank"]`, empty when the name says nothing).

Recognised: `rank3`, `rank_3`, `rank-3`, `rank=3` anywhere in the path (file or folder),
`worker3`/`worker_3`, `gpu3` / `gpu_3`, `proc3`, `log_r3.txt`-style `_r3` suffixes, and
torchrun's `--log-dir` layout `<run>/attempt_<n>/<local rank>/stdout.log`.
"""
from __future__ import annotations

import re
from pathlib import PurePath

_NAMED = re.compile(r"(?:^|[^a-z])(?:rank|worker|gpu|proc|process)[-_=]?(\d{1,4})(?![\d])", re.IGNORECASE)
_SUFFIX = re.compile(r"[-_.]r(\d{1,4})(?:\.[A-Za-z0-9]+)?$", re.IGNORECASE)


def rank_of(path: str) -> int | None:
    """The rank a file belongs to, or None when its path names none."""
    p = PurePath(path)
    parts = p.parts
    for i, part in enumerate(parts[:-1]):  # torchrun: attempt_0/<local_rank>/stdout.log
        if re.fullmatch(r"attempt_\d+", part) and i + 1 < len(parts) - 1 and parts[i + 1].isdigit():
            return int(parts[i + 1])
    for part in reversed(parts):
        m = _NAMED.search(part)
        if m:
            return int(m.group(1))
    m = _SUFFIX.search(p.name)
    return int(m.group(1)) if m else None
