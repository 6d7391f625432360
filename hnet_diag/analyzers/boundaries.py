"""Boundary maps: where each stage of a reference-trainer H-Net puts its chunk boundaries on a passage.

Dynamic chunking is the heart of H-Net, and the paper reports that learned boundaries fall
largely at word and phrase starts. No logged metric shows *where* the boundaries are, only
how many; this analyzer runs the model forward on a reference passage and measures it:

- the boundaries each stage selects, as positions in the ORIGINAL bytes (an inner stage
  chooses among the outer stage's boundaries, so its positions map back through them);
- the passage with separators before each boundary (`The|·cat|·sat`);
- the realized compression on the passage (positions of the stage's input per boundary,
  comparable with the target N and the logged `compression/stage{i}`);
- the share of boundaries at word starts against chance at that compression, with a
  one-sided exact binomial test and a Wilson 95% interval.

Word starts (`word_starts`): a word's first byte (a letter or digit after whitespace or
punctuation) or the whitespace/punctuation byte just before it. A chunk may begin either
way (`The|·cat` keeps the space with the next word, like BPE's leading-space tokens;
`The·|cat` puts it at the end), and the routing rule can learn either, so both count.
Chance is the share of such positions in the passage: a stage that scattered its
boundaries without regard to words would land on word starts at that rate whatever its
compression. The first position of each window is a boundary by construction (p_1 = 1),
not a decision, so it is left out of every count.

The analyzer is handed the rebuilt model and the passage (`sources.reference_model.
boundary_input`); it opens no file. `boundary_map(run, text)` does both for a notebook.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .base import AnalyzerResult, new_axes, no_data_axes

#: bytes of the passage shown with separators in the JSON
MAP_BYTES = 240
#: ... and in the Markdown report (one line per stage)
REPORT_MAP_BYTES = 160
#: bytes drawn in the PNG strip
STRIP_BYTES = 80
#: confidence of the Wilson interval reported with each share
CONFIDENCE_Z = 1.959964  # two-sided 95%


@dataclass(frozen=True)
class StageBoundaries:
    """One stage's boundaries on the passage (stage 0 is the outermost)."""

    stage: int
    n_positions: int  # positions this stage chose from (the outer stage's boundaries; all bytes at stage 0)
    n_boundaries: int  # boundaries selected, window starts included
    compression: float | None  # n_positions / n_boundaries: the realized compression, as logged per stage
    bytes_per_chunk: float | None  # passage bytes / n_boundaries: compression counted from the bytes
    target: float | None  # the run's target compression for this stage, when its config says
    judged: int  # boundaries counted for the word-start share (window starts left out)
    at_word_starts: int  # of those, how many fall at a word start
    word_start_share: float | None  # at_word_starts / judged
    chance: float | None  # share of word-start positions in the passage (what scattered boundaries would hit)
    chance_within_outer: float | None  # share of word starts among the outer stage's boundaries (inner stages)
    share_low: float | None  # Wilson 95% interval of word_start_share
    share_high: float | None
    p_value: float | None  # one-sided exact binomial P(X >= at_word_starts | judged, chance)
    map: str = ""  # the first MAP_BYTES bytes with "|" before each boundary
    _positions: tuple[int, ...] = ()  # boundary byte positions in the passage (plot and notebook)

    @property
    def lift(self) -> float | None:
        """word_start_share / chance: 1.0 is what chance gives."""
        if self.word_start_share is None or not self.chance:
            return None
        return self.word_start_share / self.chance

    @property
    def positions(self) -> tuple[int, ...]:
        return self._positions


@dataclass(frozen=True)
class BoundaryResult(AnalyzerResult):
    checkpoint: str | None = None
    checkpoint_step: int | None = None
    source: str | None = None  # where the passage comes from
    n_bytes: int = 0
    window: int = 0  # bytes per forward pass (the training length); each window starts with a forced boundary
    stages: tuple[StageBoundaries, ...] = ()
    _passage: bytes = b""

    @property
    def passage(self) -> bytes:
        return self._passage

    def stage(self, i: int) -> StageBoundaries | None:
        return next((s for s in self.stages if s.stage == i), None)

    def marked(self, stage: int, limit: int | None = None) -> str:
        """The passage (or its first `limit` bytes) with "|" before each boundary of `stage`."""
        s = self.stage(stage)
        if s is None:
            raise KeyError(f"no stage {stage}; stages: {[x.stage for x in self.stages]}")
        return marked_text(self._passage, s.positions, limit)

    def plot(self, ax: Any = None) -> Any:
        """A strip, one row per stage: the first bytes of the passage, boundaries dark, word starts shaded."""
        title = "Chunk boundaries per stage on the reference passage"
        if not self.ok or not self.stages:
            return no_data_axes(ax, self.reason or "no boundaries mapped", title)
        import numpy as np

        ax = new_axes(ax, title)
        n = min(STRIP_BYTES, len(self._passage))
        starts = word_starts(self._passage[:n + 1])[:n]
        rows = len(self.stages)
        grid = np.zeros((rows, n))
        for r, s in enumerate(self.stages):
            for i in range(n):
                grid[r, i] = 0.25 if starts[i] else 0.0
            for p in s.positions:
                if p < n:
                    grid[r, p] = 1.0
        ax.imshow(grid, aspect="auto", cmap="Greys", vmin=0.0, vmax=1.0, interpolation="nearest",
                  extent=(-0.5, n - 0.5, rows - 0.5, -0.5))
        ax.set_yticks(range(rows))
        ax.set_yticklabels([_row_label(s) for s in self.stages], fontsize=7)
        ax.set_xticks(range(n))
        ax.set_xticklabels([_glyph(b) for b in self._passage[:n]], fontsize=7, family="monospace")
        for r in range(1, rows):
            ax.axhline(r - 0.5, color="tab:blue", lw=1.0)
        ax.tick_params(axis="x", length=0, pad=1)
        ax.set_xlabel("passage bytes (dark: boundary; shaded: word start)", fontsize=7)
        return ax


def _row_label(s: StageBoundaries) -> str:
    share = "-" if s.word_start_share is None else f"{s.word_start_share:.0%}"
    chance = "-" if s.chance is None else f"{s.chance:.0%}"
    return f"stage {s.stage}\n{share} at word starts\n(chance {chance})"


# -- word starts ----------------------------------------------------------------------------
def _is_word_byte(b: int) -> bool:
    """Letters and digits; bytes >= 128 (UTF-8 of non-ASCII letters) count as letters."""
    return b >= 128 or chr(b).isalnum()


def word_starts(passage: bytes) -> list[bool]:
    """Per byte: is it a word start (a word's first byte, or the space/punctuation byte right before it)?"""
    word = [_is_word_byte(b) for b in passage]
    n = len(word)
    return [(word[i] and (i == 0 or not word[i - 1])) or (not word[i] and i + 1 < n and word[i + 1])
            for i in range(n)]


# -- statistics -------------------------------------------------------------------------------
def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly in log space."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
            for i in range(k, n + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def wilson_interval(k: int, n: int, z: float = CONFIDENCE_Z) -> tuple[float, float]:
    """Wilson score interval of a share k/n (two-sided; z = 1.96 for 95%)."""
    if n <= 0:
        return 0.0, 1.0
    phat = k / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# -- the map as text ----------------------------------------------------------------------------
def _glyph(b: int) -> str:
    if b == 0x20:
        return "·"
    if b == 0x0A:
        return "⏎"
    if b == 0x09:
        return "→"
    if b == ord("|"):
        return "¦"  # "|" is the separator
    if b == ord("`"):
        return "ˋ"  # keeps the report's code block closed
    if 0x20 < b < 0x7F:
        return chr(b)
    return "□"  # control bytes, BOS/EOS and the bytes of non-ASCII characters


def marked_text(passage: bytes, positions: Any, limit: int | None = None) -> str:
    """`passage` as one line with "|" before each boundary position (space ·, newline ⏎)."""
    at = set(int(p) for p in positions)
    n = len(passage) if limit is None else min(limit, len(passage))
    return "".join(("|" if i in at else "") + _glyph(passage[i]) for i in range(n))


# -- the analysis ----------------------------------------------------------------------------
def map_boundaries(model: Any, passage: bytes, window: int) -> list[list[int]]:
    """Boundary positions (in `passage`) per stage, outermost first, running `window` bytes at a time.

    The model's routing stats give, per stage, a mask over that stage's input; an inner
    stage's input positions are the outer stage's boundaries, so its positions map back
    through them.
    """
    import torch

    per_stage: list[list[int]] | None = None
    with torch.no_grad():
        for start in range(0, len(passage), window):
            chunk = passage[start:start + window]
            ids = torch.tensor(list(chunk), dtype=torch.long)[None, :]
            out = model(ids)
            if per_stage is None:
                per_stage = [[] for _ in out.stages]
            positions = torch.arange(len(chunk))
            for s, st in enumerate(out.stages):
                mask = st.boundary_mask[0, :len(positions)] & st.valid_mask[0, :len(positions)]
                positions = positions[mask]
                per_stage[s].extend(int(p) + start for p in positions)
    return per_stage or []


def analyze_boundaries(inputs: Any) -> BoundaryResult:
    """Map the boundaries of every stage on `inputs.passage` and measure them against word starts.

    `inputs` is a `sources.reference_model.BoundaryInput` (the model and the passage, or the
    reason there are none, which gives a no-data result).
    """
    base = dict(checkpoint=inputs.checkpoint, checkpoint_step=inputs.checkpoint_step, source=inputs.source)
    if not inputs.ok:
        return BoundaryResult.no_data(inputs.reason or "no model to map", **base)
    import torch

    passage, window = bytes(inputs.passage), int(inputs.window)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on one short passage: thread hand-offs cost more than they save
    try:
        per_stage = map_boundaries(inputs.model, passage, window)
    finally:
        torch.set_num_threads(threads)
    return BoundaryResult(n_bytes=len(passage), window=window, _passage=passage,
                          stages=measure_stages(passage, per_stage, window, inputs.targets), **base)


def measure_stages(passage: bytes, per_stage: list[list[int]], window: int,
                   targets: tuple[float, ...] = ()) -> tuple[StageBoundaries, ...]:
    """The per-stage measurements of `analyze_boundaries` from boundary positions (pure; testable alone)."""
    starts = word_starts(passage)
    forced = set(range(0, len(passage), window))  # p_1 = 1 at each window start: not a decision
    free = [i for i in range(len(passage)) if i not in forced]
    chance = sum(starts[i] for i in free) / len(free) if free else None
    out = []
    n_positions = len(passage)
    outer: list[int] | None = None
    for s, positions in enumerate(per_stage):
        judged = [p for p in positions if p not in forced]
        hits = sum(starts[p] for p in judged)
        share = hits / len(judged) if judged else None
        low, high = wilson_interval(hits, len(judged)) if judged else (None, None)
        within = None
        if outer is not None:
            outer_free = [p for p in outer if p not in forced]
            within = sum(starts[p] for p in outer_free) / len(outer_free) if outer_free else None
        out.append(StageBoundaries(
            stage=s, n_positions=n_positions, n_boundaries=len(positions),
            compression=n_positions / len(positions) if positions else None,
            bytes_per_chunk=len(passage) / len(positions) if positions else None,
            target=targets[s] if s < len(targets) else None,
            judged=len(judged), at_word_starts=hits, word_start_share=share, chance=chance,
            chance_within_outer=within, share_low=low, share_high=high,
            p_value=binomial_tail(hits, len(judged), chance) if judged and chance is not None else None,
            map=marked_text(passage, positions, MAP_BYTES), _positions=tuple(positions),
        ))
        n_positions, outer = len(positions), positions
    return tuple(out)


def boundary_map(run: Any, text: str | bytes | None = None, **options: Any) -> BoundaryResult:
    """Notebook entry point: the boundary map of `run`'s newest reference-trainer checkpoint on `text`.

    text: the passage (default: the start of the run's validation text, else the bundled
        corpus' validation split). options go to `sources.reference_model.boundary_input`
        (max_params=None lifts the parameter limit; n_bytes sets the default passage length).
    The result's `.plot()` draws the strip; `.marked(stage)` gives the text with separators.
    """
    from ..sources.reference_model import boundary_input

    return analyze_boundaries(boundary_input(run, text, **options))
