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

        When several streams log the same metric (TensorBoard and metrics.jsonl from one
        trainer), the stream with the most points wins so values are never mixed across
        writers; within it the newest write of a step wins, as in TensorBoard. A stream is
        one writer: all event files of one TensorBoard folder (a resumed run), or one file.
        """
        df = self.scalars
        if df.empty:
            return pd.Series(dtype=float, name=name)
        sel = df[df["metric"] == name]
        if sel.empty:
            sel = df[df["tag"] == name]
        if sel.empty:
            sel = df[df["metric"] == canonical_name(name)]
        if sel.empty:
            return pd.Series(dtype=float, name=name)
        if sel["stream"].nunique() > 1:
            best = sel.groupby("stream", sort=True)["step"].nunique().idxmax()
            sel = sel[sel["stream"] == best]
        if sel["tag"].nunique() > 1:  # two tags aliasing to one name in one file: take the longest
            best_tag = sel.groupby("tag", sort=True)["step"].count().idxmax()
            sel = sel[sel["tag"] == best_tag]
        s = sel.drop_duplicates("step", keep="last").set_index("step")["value"].sort_index()
        s.index = s.index.astype("int64")
        s.index.name = "step"
        return s.astype(float).rename(name)

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
        """Largest step seen in any metric or checkpoint."""
        steps = []
        if not self.scalars.empty:
            steps.append(int(self.scalars["step"].max()))
        steps += [c.step for c in self.checkpoints if c.step is not None]
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
