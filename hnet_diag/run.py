"""The Run: everything read from a run folder, as plain data.

A Run is what analyzers see. It holds no file handles and makes no judgement: sources fill
it, analyzers measure it. Settings are typed and optional, because a run folder may hold a
config, a checkpoint, both or neither; each settings object remembers which file it came
from so a finding can cite it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .metrics import canonical_name, split_stage
from .settings_file import ProjectSettings

#: `rank`: the data-parallel rank that wrote the row (nullable Int64; empty when the file
#: name says nothing: see sources/ranks.py)
SCALAR_COLUMNS = ["metric", "tag", "step", "value", "wall_time", "source", "stream", "rank"]


@dataclass(frozen=True)
class LoadWarning:
    """Something met while loading that the user should see (report appendix)."""

    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass(frozen=True)
class RunEvent:
    """A thing that happened to the run: a restart, a truncated file, skipped records."""

    kind: str  # "restart", "truncated", "skipped_records", ...
    source: str
    step: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class RunProgress:
    """How far a run that is still being written has got (`hnet-diag watch`, `Monitor`).

    Rules that judge a run's end (stopped early, not annealed) or where its routing settled
    read this to wait (`Rule.live`); a run read from a finished folder has none.
    """

    finished: bool
    last_step: int | None = None
    warmup_steps: int | None = None
    planned_steps: int | None = None

    #: routing rules wait until the run is past warmup and this fraction of its plan
    SETTLE_FRACTION = 0.25

    @property
    def settled(self) -> bool:
        """Past warmup and a quarter of the planned steps (the bundled trainer's healthy run
        crosses the compression bounds back and forth until about 16% of its steps)."""
        if self.finished:
            return True
        last = self.last_step or 0
        return last > (self.warmup_steps or 0) and (
            self.planned_steps is None or last >= self.SETTLE_FRACTION * self.planned_steps)


@dataclass(frozen=True)
class TrainingSettings:
    """Optimisation settings, each None when no file states it."""

    learning_rate: float | None = None
    lr_multipliers: tuple[float, ...] | None = None
    warmup_steps: int | None = None
    max_steps: int | None = None  # planned steps
    schedule: str | None = None  # "wsd", "cosine", "constant", "linear", ...
    max_grad_norm: float | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    weight_decay: float | None = None
    ratio_loss_weight: float | None = None
    target_compression: tuple[float, ...] | None = None  # N per stage, outermost first
    decay_fraction: float | None = None
    stop_at_step: int | None = None
    source: str | None = None  # file the settings came from


@dataclass(frozen=True)
class ModelSettings:
    """Architecture: from an official H-Net config (`arch_layout`, `d_model`) or similar."""

    arch_layout: Any = None  # nested list, e.g. ["m4", ["T22"], "m4"]
    d_model: tuple[int, ...] | None = None  # per hierarchy level, outermost first
    d_intermediate: tuple[int, ...] | None = None
    num_stages: int | None = None  # number of chunking stages (0 for a plain model)
    stage_layers: tuple[dict[str, Any], ...] | None = None  # per level: encoder/main/decoder layer specs
    vocab_size: int | None = None
    attn_window_size: tuple[int, ...] | None = None
    source: str | None = None


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings used (or to be used) to generate from the model."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    max_new_tokens: int | None = None
    source: str | None = None


@dataclass(frozen=True)
class TensorStats:
    """Statistics of one tensor, computed without holding more than that tensor."""

    name: str
    stage: int | None
    component: str  # embeddings, encoder, routing, main, decoder, head, residual, other
    shape: tuple[int, ...]
    dtype: str
    numel: int
    l2_norm: float
    max_abs: float
    mean: float
    std: float
    zero_frac: float
    nan_count: int
    inf_count: int
    #: L2 norm of each row, for an embedding matrix of at most ROW_LIMIT rows (a byte-level
    #: model's 256): which token rows moved. None for every other tensor.
    row_norms: tuple[float, ...] | None = None


@dataclass(frozen=True)
class CheckpointSummary:
    """What a checkpoint says about the run, without keeping its tensors."""

    path: str
    step: int | None = None
    config: dict[str, Any] | None = None
    param_groups: tuple[dict[str, Any], ...] = ()  # lr, weight_decay, lr_multiplier, stage...
    scheduler: dict[str, Any] | None = None
    tensors: tuple[TensorStats, ...] = ()
    optimizer_moments: tuple[TensorStats, ...] = ()  # Adam exp_avg / exp_avg_sq, named "<param>.exp_avg"
    format: str = "torch"  # "torch", "safetensors" or "dcp" (torch.distributed.checkpoint)
    # Lightning: each callback's saved state by its key ("EarlyStopping{'monitor': 'val_loss', ...}"),
    # scalars only (tensors of one element become numbers)
    callbacks: dict[str, dict[str, Any]] | None = None


@dataclass(frozen=True)
class TrainerInfo:
    """The trainer that wrote the run (`hnet_diag.sources.origin`), with the file that showed it.

    `id` keys the advice vocabulary (`hnet_diag.advice.vocabulary`): "hf", "lightning",
    "nanogpt", "build-nanogpt", "modded-nanogpt", "llmc", "hnet-diag" or "unknown".
    `loggers` are the logging libraries whose files are there (tensorboard, wandb, mlflow).
    """

    id: str = "unknown"
    name: str = "unknown trainer"
    source: str | None = None
    reason: str = ""
    loggers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "file": self.source, "reason": self.reason, "loggers": list(self.loggers)}


@dataclass(frozen=True)
class ModelKind:
    """Whether the model is an H-Net, its name when a file states one, and the evidence."""

    hnet: bool = False
    name: str = ""
    source: str | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"hnet": self.hnet, "name": self.name or None, "file": self.source, "reason": self.reason}


@dataclass
class Run:
    """A loaded run folder. Build it with `hnet_diag.load_run(path)`."""

    path: Path
    scalars: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SCALAR_COLUMNS))
    training: TrainingSettings = field(default_factory=TrainingSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    generation: GenerationSettings | None = None
    checkpoints: list[CheckpointSummary] = field(default_factory=list)
    events: list[RunEvent] = field(default_factory=list)
    warnings: list[LoadWarning] = field(default_factory=list)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # raw configs by file
    files: list[str] = field(default_factory=list)  # files that were read
    trainer: TrainerInfo = field(default_factory=TrainerInfo)  # who wrote the run (sources/origin.py)
    model_kind: ModelKind = field(default_factory=ModelKind)  # H-Net or not, and why
    project_settings: ProjectSettings = field(default_factory=ProjectSettings)  # [tool.hnet-diag] it was read with

    # -- metric access -------------------------------------------------------------------
    def metric_names(self) -> list[str]:
        """Every metric name available (canonical where an alias matched)."""
        if self.scalars.empty:
            return []
        return sorted(self.scalars["metric"].unique())

    def has_metric(self, name: str) -> bool:
        return not self.metric(name).empty

    def metric(self, name: str) -> pd.Series:
        """Step-indexed float Series of one metric (canonical name or original tag).

        One value per step, whatever wrote it. When several streams log the metric (a
        stream is one writer: all event files of one TensorBoard folder, or one file), they
        are merged by step with this precedence:

        1. the stream with the most logged steps first (ties: by stream name), then the next;
           a step is taken from the first stream that has it, so a second writer fills the
           steps the first did not log and never overrides one it did;
        2. except that a NaN/Inf wins over a finite value at the same step: a divergence seen
           by one writer is not hidden by another that logged a finite number there.

        Where two streams hold different finite values at one step, load_run warns once per
        metric (`Run.stream_disagreements`). Within one stream, the newest write of a step
        wins (as in TensorBoard), and two tags aliasing to one name keep the longer one.
        """
        df = self.scalars
        if df.empty:
            return pd.Series(dtype=float, name=name)
        sel = self._rows(name)
        if sel.empty:
            return pd.Series(dtype=float, name=name)
        parts = self._stream_series(sel) if sel["stream"].nunique() > 1 else [("", self._one_stream(sel))]
        s = parts[0][1]
        for _, other in parts[1:]:
            bad = other[~np.isfinite(other.to_numpy())]
            s = s.combine_first(other)
            if not bad.empty:
                s.loc[bad.index] = bad
        s = s.sort_index()
        s.index = s.index.astype("int64")
        s.index.name = "step"
        return s.astype(float).rename(name)

    def _rows(self, name: str) -> pd.DataFrame:
        df = self.scalars
        sel = df[df["metric"] == name]
        if sel.empty:
            sel = df[df["tag"] == name]
        if sel.empty:
            sel = df[df["metric"] == canonical_name(name)]
        return sel

    @staticmethod
    def _one_stream(g: pd.DataFrame) -> pd.Series:
        if g["tag"].nunique() > 1:  # two tags aliasing to one name in one file: the longer
            best_tag = g.groupby("tag", sort=True)["step"].count().idxmax()
            g = g[g["tag"] == best_tag]
        return g.drop_duplicates("step", keep="last").set_index("step")["value"].astype(float)

    @classmethod
    def _stream_series(cls, sel: pd.DataFrame) -> list[tuple[str, pd.Series]]:
        """(stream, step-indexed values) per stream, in merge precedence order."""
        out = [(str(stream), cls._one_stream(g)) for stream, g in sel.groupby("stream", sort=True)]
        out.sort(key=lambda p: (-len(p[1]), p[0]))
        return out

    def stream_disagreements(self, rel_tol: float = 1e-2) -> list[LoadWarning]:
        """One warning per metric whose streams log different finite values at a shared step.

        `rel_tol` absorbs float32 round-trips (TensorBoard stores float32, a JSONL float64) and
        the rounding of console logs, which print 3-4 significant digits (the bundled trainer's
        train.log has step_time 0.414 where its metrics.jsonl has 0.414466: 1.1e-3 apart). Two
        writers that really disagree (two runs in one folder, a wrong resume) differ by far more.
        """
        df = self.scalars
        if df.empty or df["stream"].nunique() < 2:
            return []
        out = []
        multi = df.groupby("metric")["stream"].nunique()
        for metric in sorted(multi[multi > 1].index):
            parts = self._stream_series(df[df["metric"] == metric])
            (first, a) = parts[0]
            first_name = self._stream_label(first)
            for other, b in parts[1:]:
                shared = a.index.intersection(b.index)
                if shared.empty:
                    continue
                x, y = a.loc[shared].to_numpy(), b.loc[shared].to_numpy()
                both = np.isfinite(x) & np.isfinite(y)
                x, y = np.where(both, x, 0.0), np.where(both, y, 0.0)  # no NaN arithmetic (no numpy warning)
                differ = both & (np.abs(x - y) > rel_tol * np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-12))
                if differ.any():
                    i = int(np.argmax(differ))
                    out.append(LoadWarning(other, (
                        f"{metric}: {int(differ.sum())} of {len(shared)} shared steps disagree with {first_name} "
                        f"(step {int(shared[i])}: {y[i]:.6g} here, {x[i]:.6g} there); {first_name}'s values are used "
                        "where both logged a step")))
        return out

    def _stream_label(self, stream: str) -> str:
        """A stream as a reader can find it: its one file, else its folder ('.' says nothing)."""
        sources = self.scalars.loc[self.scalars["stream"] == stream, "source"].unique()
        if len(sources) == 1:
            return str(sources[0])
        return "the run folder" if stream == "." else f"{stream}/"

    def stages(self, base: str) -> dict[int, pd.Series]:
        """All per-stage series of a metric family: `run.stages("lr")` -> {0: ..., 1: ...}."""
        out: dict[int, pd.Series] = {}
        for name in self.metric_names():
            b, i = split_stage(name)
            if b == base and i is not None:
                out[i] = self.metric(name)
        return dict(sorted(out.items()))

    @property
    def last_step(self) -> int | None:
        """Largest step seen in any metric or checkpoint, or recorded as reached by the trainer.

        A Hugging Face trainer_state.json says where the trainer stopped (`global_step`) even
        when the last logged loss is some steps earlier (logging every 100 steps of a
        692-step run ends the log at 600): the run still reached its plan. So does a console's
        training bar as it stood at the final summary (`steps_reached`).
        """
        steps = []
        if not self.scalars.empty:
            steps.append(int(self.scalars["step"].max()))
        steps += [c.step for c in self.checkpoints if c.step is not None]
        steps += [s for s in map(_trainer_state_step, self.configs.items()) if s is not None]
        steps += [s for s in map(_steps_reached, self.configs.values()) if s is not None]
        return max(steps) if steps else None

    def summary(self) -> dict[str, Any]:
        """A small dict for printing: what was found."""
        return {
            "path": str(self.path),
            "files": len(self.files),
            "metrics": self.metric_names(),
            "points": int(len(self.scalars)),
            "last_step": self.last_step,
            "stages": self.model.num_stages,
            "trainer": self.trainer.name,
            "model": ("H-Net" if self.model_kind.hnet else "not an H-Net") + (f" ({self.model_kind.name})" if self.model_kind.name and not self.model_kind.hnet else ""),
            "checkpoints": [c.path for c in self.checkpoints],
            "events": [f"{e.kind} at step {e.step} ({e.source})" for e in self.events],
            "warnings": [str(w) for w in self.warnings],
        }


def _step_count(value: Any) -> int | None:
    """`value` when it is a step count (an int >= 0, not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _steps_reached(cfg: Any) -> int | None:
    """`steps_reached` of a console log's settings (the training bar at the final summary), else None."""
    return _step_count(cfg.get("steps_reached")) if isinstance(cfg, dict) else None


def _trainer_state_step(item: tuple[str, dict[str, Any]]) -> int | None:
    """`global_step` of a Hugging Face trainer_state.json's settings, else None."""
    path, cfg = item
    if Path(path).name != "trainer_state.json" or not isinstance(cfg, dict):
        return None
    return _step_count(cfg.get("global_step"))
