"""The scalars of a growing run as columns that grow in place.

A watched run gains a few thousand scalars per poll and holds millions. Appending to a
pandas frame copies the history every time; these columns double their capacity when
full, so an append costs the rows appended (amortised) and the history is never copied
per poll. A `Run` frame is built from views of the columns only when the rules run.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..run import RunEvent

#: at most this many restart events per stream (as the whole-file readers)
MAX_RESTART_EVENTS = 20

_COLUMNS = {"code": np.int32, "step": np.int64, "value": np.float64, "wall_time": np.float64,
            "source": np.int32, "stream": np.int32}


class ScalarStore:
    """Append-only tidy scalars: tag, step, value, wall_time, source, stream."""

    def __init__(self, capacity: int = 1024):
        self.n = 0
        self.cols = {k: np.zeros(capacity, dtype=t) for k, t in _COLUMNS.items()}
        self.tags: list[str] = []
        self._tag_index: dict[str, int] = {}
        self.sources: list[str] = []
        self._source_index: dict[str, int] = {}
        self.streams: list[str] = []
        self._stream_index: dict[str, int] = {}
        self.last_step: dict[tuple[int, int], int] = {}  # (stream, tag) -> last step written
        self.nonfinite_tags: set[str] = set()  # tags that have had a NaN/Inf
        self.restarts: dict[int, int] = {}  # stream -> restarts seen
        self.max_step: int | None = None

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        """Bytes the columns hold (capacity, not rows)."""
        return sum(c.nbytes for c in self.cols.values())

    def _reserve(self, k: int) -> None:
        cap = self.cols["step"].size
        if self.n + k <= cap:
            return
        new_cap = max(2 * cap, self.n + k)
        for name, col in self.cols.items():
            grown = np.zeros(new_cap, dtype=col.dtype)
            grown[:self.n] = col[:self.n]
            self.cols[name] = grown

    @staticmethod
    def _intern(name: str, names: list[str], index: dict[str, int]) -> int:
        i = index.get(name)
        if i is None:
            i = index[name] = len(names)
            names.append(name)
        return i

    def append(self, source: str, stream: str, tags: list[str], code: np.ndarray, step: np.ndarray,
               value: np.ndarray, wall_time: np.ndarray) -> tuple[list[str], list[RunEvent]]:
        """Append one file's new rows (`code` indexes `tags`).

        Returns (tags that had their first non-finite value in these rows, restart events):
        the first is what lets the watcher judge at once when a NaN appears, the second what
        `Run.events` would hold had the files been read whole.
        """
        k = int(step.size)
        if k == 0:
            return [], []
        remap = np.array([self._intern(t, self.tags, self._tag_index) for t in tags], dtype=np.int32)
        gcode = remap[code]
        src = self._intern(source, self.sources, self._source_index)
        stm = self._intern(stream, self.streams, self._stream_index)
        self._reserve(k)
        lo, hi = self.n, self.n + k
        c = self.cols
        c["code"][lo:hi] = gcode
        c["step"][lo:hi] = step
        c["value"][lo:hi] = value
        c["wall_time"][lo:hi] = wall_time
        c["source"][lo:hi] = src
        c["stream"][lo:hi] = stm
        self.n = hi
        top = int(step.max())
        self.max_step = top if self.max_step is None else max(self.max_step, top)

        first_bad: list[str] = []
        bad = ~np.isfinite(value)
        if bad.any():
            for t in np.unique(gcode[bad]).tolist():
                name = self.tags[t]
                if name not in self.nonfinite_tags:
                    self.nonfinite_tags.add(name)
                    first_bad.append(name)
        return first_bad, self._restarts(source, stm, gcode, step)

    def _restarts(self, source: str, stream: int, code: np.ndarray, step: np.ndarray) -> list[RunEvent]:
        """A tag whose step goes back to or below its previous write: a resumed run."""
        order = np.argsort(code, kind="stable")
        c, s = code[order], step[order]
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        back_at: int | None = None
        for i, j in zip(starts.tolist(), np.r_[starts[1:], c.size].tolist()):
            tag = int(c[i])
            prev = self.last_step.get((stream, tag))
            seg = s[i:j]
            if prev is not None and seg[0] <= prev:
                back_at = int(seg[0]) if back_at is None else min(back_at, int(seg[0]))
            elif seg.size > 1 and (np.diff(seg) <= 0).any():
                k = int(np.flatnonzero(np.diff(seg) <= 0)[0]) + 1
                back_at = int(seg[k]) if back_at is None else min(back_at, int(seg[k]))
            self.last_step[(stream, tag)] = int(seg[-1])
        if back_at is None:
            return []
        seen = self.restarts.get(stream, 0)
        self.restarts[stream] = seen + 1
        if seen >= MAX_RESTART_EVENTS:
            return []
        return [RunEvent("restart", source, back_at, "steps go back: resumed or restarted run")]

    def frame(self) -> Any:
        """The tidy frame a `Run` holds (SCALAR_COLUMNS), built on views of the columns.

        Categories are in sorted order, as the string columns of a loaded Run sort, so
        `Run.metric`'s tie-breaks between streams pick the same one either way.
        """
        import pandas as pd

        from ..metrics import canonical_name

        n = self.n
        c = self.cols

        def categorical(codes: np.ndarray, names: list[str]) -> Any:
            cats = sorted(set(names))
            where = {name: i for i, name in enumerate(cats)}
            remap = np.array([where[x] for x in names] or [0], dtype=np.int32)
            return pd.Categorical.from_codes(remap[codes], categories=cats)

        code = c["code"][:n]
        return pd.DataFrame(
            {
                "metric": categorical(code, [canonical_name(t) for t in self.tags]),
                "tag": categorical(code, self.tags),
                "step": c["step"][:n],
                "value": c["value"][:n],
                "wall_time": c["wall_time"][:n],
                "source": categorical(c["source"][:n], self.sources),
                "stream": categorical(c["stream"][:n], self.streams),
            },
            copy=False,
        )
