"""The H-Net architecture config, read from the official goombalab/hnet JSON format.

The official configs (`configs/hnet_2stage_XL.json` in goombalab/hnet) are the format users
already have, so this dataclass reads them as they are and writes them back unchanged:
`HNetConfig.from_json(path).to_dict()` is the same mapping. Everything is checked once, on
creation, so a wrong config fails with one sentence naming the field instead of a shape
error deep inside the model.

Layout grammar: `hnet_diag.arch_layout` (shared with the config source), as in the
official code: `[encoder, main, decoder]` nests the next level in `main`, `[main]` is the
innermost network, and strings such as "T1m4" list layer groups (upper case adds a SwiGLU
MLP of width `d_intermediate[level]`). A plain Transformer is `["T6"]` (0 stages).

This module imports nothing heavy: the CLI and the run loader read configs without torch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..arch_layout import LayerGroup, LevelLayout, parse_arch_layout, parse_layout_string

__all__ = ["AttnConfig", "HNetConfig", "LayerGroup", "LevelLayout", "SSMConfig", "bundled_config_path",
           "parse_layout_string"]

# Defaults of the official `SSMConfig` / Mamba2 module (mamba_ssm) where a config omits them.
SSM_DEFAULTS = {"d_conv": 4, "expand": 2, "d_state": 128, "chunk_size": 256, "headdim": 64}


@dataclass(frozen=True)
class SSMConfig:
    """Mamba-2 settings. Each value may be a scalar or a per-level list (as the official
    `get_stage_cfg` allows); use `at(level)` to read one level's values."""

    chunk_size: int | list[int] = 256
    d_conv: int | list[int] = 4
    d_state: int | list[int] = 128
    expand: int | list[int] = 2
    headdim: int | list[int] | None = None  # official files omit it; Mamba2's default is 64

    def at(self, level: int) -> dict[str, int]:
        values = {
            "chunk_size": self.chunk_size,
            "d_conv": self.d_conv,
            "d_state": self.d_state,
            "expand": self.expand,
            "headdim": SSM_DEFAULTS["headdim"] if self.headdim is None else self.headdim,
        }
        return {k: (v[level] if isinstance(v, list) else v) for k, v in values.items()}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "chunk_size": self.chunk_size,
            "d_conv": self.d_conv,
            "d_state": self.d_state,
            "expand": self.expand,
        }
        if self.headdim is not None:
            out["headdim"] = self.headdim
        return out


@dataclass(frozen=True)
class AttnConfig:
    """Attention settings, one entry per hierarchy level (outermost first)."""

    num_heads: list[int] = field(default_factory=list)
    rotary_emb_dim: list[int] = field(default_factory=list)
    window_size: list[int] = field(default_factory=list)  # -1 = full causal attention

    def at(self, level: int) -> dict[str, int]:
        def pick(values: list[int] | int, default: int) -> int:
            if isinstance(values, list):
                return values[level] if level < len(values) else default
            return values

        return {
            "num_heads": pick(self.num_heads, 1),
            "rotary_emb_dim": pick(self.rotary_emb_dim, 0),
            "window_size": pick(self.window_size, -1),
        }

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "num_heads": list(self.num_heads) if isinstance(self.num_heads, list) else self.num_heads,
            "rotary_emb_dim": list(self.rotary_emb_dim)
            if isinstance(self.rotary_emb_dim, list)
            else self.rotary_emb_dim,
            "window_size": list(self.window_size) if isinstance(self.window_size, list) else self.window_size,
        }
        return out


SSM_KEYS = {"chunk_size", "d_conv", "d_state", "expand", "headdim"}
ATTN_KEYS = {"num_heads", "rotary_emb_dim", "window_size"}
TOP_LEVEL_KEYS = {
    "arch_layout", "d_model", "d_intermediate", "vocab_size", "ssm_cfg", "attn_cfg", "tie_embeddings",
}


@dataclass(frozen=True)
class HNetConfig:
    """Architecture of an H-Net (or a plain stack when `arch_layout` is one string deep)."""

    arch_layout: list[Any]
    d_model: list[int]
    d_intermediate: list[int]
    vocab_size: int = 256
    ssm_cfg: SSMConfig = field(default_factory=SSMConfig)
    attn_cfg: AttnConfig = field(default_factory=AttnConfig)
    tie_embeddings: bool = False

    def __post_init__(self) -> None:
        self._validate()

    # -- reading and writing ---------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HNetConfig":
        """Build from an official-format mapping; ValueError naming the field when invalid."""
        if not isinstance(d, dict):
            raise ValueError(f"an H-Net config must be a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - TOP_LEVEL_KEYS)
        if unknown:
            raise ValueError(
                f"unknown H-Net config key(s) {unknown}; expected some of {sorted(TOP_LEVEL_KEYS)}"
            )
        for key in ("arch_layout", "d_model"):
            if key not in d:
                raise ValueError(f"H-Net config lacks the required key {key!r}")
        d_model = _int_list(d["d_model"], "d_model")
        d_intermediate = _int_list(d.get("d_intermediate", [0] * len(d_model)), "d_intermediate")
        ssm = d.get("ssm_cfg", {}) or {}
        attn = d.get("attn_cfg", {}) or {}
        if not isinstance(ssm, dict) or not isinstance(attn, dict):
            raise ValueError("ssm_cfg and attn_cfg must be JSON objects")
        # Like the official SSMConfig/AttnConfig dataclasses, refuse keys we would not use:
        # silently dropping e.g. a bias switch would build a different model. `headdim` is
        # our one extension (official files omit it and get Mamba2's 64).
        for section, given, known in (("ssm_cfg", ssm, SSM_KEYS), ("attn_cfg", attn, ATTN_KEYS)):
            unknown = sorted(set(given) - known)
            if unknown:
                raise ValueError(f"unknown {section} key(s) {unknown}; expected some of {sorted(known)}")
        ssm_cfg = SSMConfig(**{k: _copy(v) for k, v in ssm.items()})
        attn_cfg = AttnConfig(**{k: _copy(v) for k, v in attn.items()})
        vocab_size = d.get("vocab_size", 256)
        tie = d.get("tie_embeddings", False)
        if not isinstance(tie, bool):
            raise ValueError(f"tie_embeddings must be true or false, got {tie!r}")
        return cls(
            arch_layout=_copy(d["arch_layout"]),
            d_model=d_model,
            d_intermediate=d_intermediate,
            vocab_size=vocab_size,
            ssm_cfg=ssm_cfg,
            attn_cfg=attn_cfg,
            tie_embeddings=tie,
        )

    @classmethod
    def from_json(cls, path: str | Path) -> "HNetConfig":
        """Read a config file. Bad input raises InputError naming the file (one line).

        A run's own `config.json` (as `hnet-diag train` writes it: {"model": ..., "training":
        ...}) is accepted too, its model section read, so a follow-up run can reuse the
        architecture of an earlier one with `--config RUN/config.json`.
        """
        from ..errors import InputError

        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise InputError(path, "no such config file") from err
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(path, f"not a readable JSON config ({str(err).splitlines()[0]})") from err
        if isinstance(data, dict) and set(data) == {"model", "training"} and isinstance(data["model"], dict):
            data = data["model"]
        try:
            return cls.from_dict(data)
        except ValueError as err:
            raise InputError(path, str(err)) from err

    def to_dict(self) -> dict[str, Any]:
        """The official JSON mapping (round-trips through from_dict)."""
        return {
            "arch_layout": _copy(self.arch_layout),
            "d_model": list(self.d_model),
            "d_intermediate": list(self.d_intermediate),
            "vocab_size": self.vocab_size,
            "ssm_cfg": self.ssm_cfg.to_dict(),
            "attn_cfg": self.attn_cfg.to_dict(),
            "tie_embeddings": self.tie_embeddings,
        }

    # -- derived facts --------------------------------------------------------------------
    @property
    def num_stages(self) -> int:
        """Number of chunking stages (0 for a plain Transformer/Mamba stack)."""
        return len(self.d_model) - 1

    def level_layout(self, level: int) -> LevelLayout:
        """Encoder/main/decoder layer groups of one hierarchy level (0 = outermost)."""
        return self.levels()[level]

    def levels(self) -> list[LevelLayout]:
        return list(parse_arch_layout(self.arch_layout))

    def min_params(self) -> int:
        """A lower bound on the parameter count, from the config alone (nothing is built).

        Each attention layer holds at least its q/k/v/out projections (4 d^2), each Mamba-2
        layer at least its in/out projections (3 expand d^2), each MLP 3 d width, plus the
        embedding. Lets a caller refuse a model too big to build before allocating it.
        """
        total = self.vocab_size * self.d_model[0]
        for layout in self.levels():
            d = self.d_model[layout.level]
            expand = self.ssm_cfg.at(layout.level)["expand"] if any(g.is_mamba for g in layout.encoder + layout.main + layout.decoder) else 1
            for g in layout.encoder + layout.main + layout.decoder:
                per_layer = (3 * expand * d * d) if g.is_mamba else (4 * d * d)
                if g.has_mlp:
                    per_layer += 3 * d * self.mlp_width(layout.level)
                total += g.count * per_layer
        return total

    def num_layers(self) -> int:
        """Layers over all levels (encoder, main and decoder stacks)."""
        return sum(g.count for lv in self.levels() for g in lv.encoder + lv.main + lv.decoder)

    def mlp_width(self, level: int) -> int:
        """The SwiGLU hidden width actually built: the official SwiGLU rounds
        `d_intermediate` up to a multiple of 128, so checkpoints have that width."""
        d = self.d_intermediate[level]
        return (d + 127) // 128 * 128

    # -- checks ---------------------------------------------------------------------------
    def _validate(self) -> None:
        levels = len(parse_arch_layout(self.arch_layout))
        if len(self.d_model) != levels:
            raise ValueError(
                f"d_model has {len(self.d_model)} entries but arch_layout has {levels} "
                f"hierarchy level(s); give one width per level, outermost first"
            )
        if len(self.d_intermediate) != levels:
            raise ValueError(
                f"d_intermediate has {len(self.d_intermediate)} entries, expected {levels} (one per level)"
            )
        if any(d <= 0 for d in self.d_model):
            raise ValueError(f"d_model entries must be positive, got {self.d_model}")
        if any(d < 0 for d in self.d_intermediate):
            raise ValueError(f"d_intermediate entries must be >= 0, got {self.d_intermediate}")
        for outer, inner in zip(self.d_model, self.d_model[1:]):
            if inner < outer:
                raise ValueError(
                    f"d_model must not shrink inward (inner levels are padded with pad_dimension), "
                    f"got {self.d_model}"
                )
        if not isinstance(self.vocab_size, int) or isinstance(self.vocab_size, bool) or self.vocab_size <= 0:
            raise ValueError(f"vocab_size must be a positive integer, got {self.vocab_size!r}")
        for name in ("num_heads", "rotary_emb_dim", "window_size"):
            values = getattr(self.attn_cfg, name)
            if isinstance(values, list) and values and len(values) != levels:
                raise ValueError(f"attn_cfg.{name} has {len(values)} entries, expected {levels} (one per level)")
        for name in ("chunk_size", "d_conv", "d_state", "expand", "headdim"):
            values = getattr(self.ssm_cfg, name)
            if isinstance(values, list) and len(values) != levels:
                raise ValueError(f"ssm_cfg.{name} has {len(values)} entries, expected {levels} (one per level)")
        for layout in self.levels():
            self._validate_level(layout)

    def _validate_level(self, layout: LevelLayout) -> None:
        lvl = layout.level
        d = self.d_model[lvl]
        groups = layout.encoder + layout.main + layout.decoder
        if any(g.has_mlp for g in groups) and self.d_intermediate[lvl] == 0:
            raise ValueError(
                f"level {lvl} has upper-case (MLP) layers but d_intermediate[{lvl}] is 0; "
                "use lower case for layers without an MLP or give a width"
            )
        if any(not g.is_mamba for g in groups):
            a = self.attn_cfg.at(lvl)
            heads, rot, window = a["num_heads"], a["rotary_emb_dim"], a["window_size"]
            if not isinstance(heads, int) or heads <= 0 or d % heads:
                raise ValueError(f"attn_cfg.num_heads[{lvl}] = {heads!r} must be a positive divisor of d_model {d}")
            head_dim = d // heads
            if not isinstance(rot, int) or rot < 0 or rot % 2 or rot > head_dim:
                raise ValueError(
                    f"attn_cfg.rotary_emb_dim[{lvl}] = {rot!r} must be even and at most the head width {head_dim}"
                )
            if not isinstance(window, int) or (window < 0 and window != -1):
                raise ValueError(f"attn_cfg.window_size[{lvl}] = {window!r} must be -1 (full) or >= 0")
        if any(g.is_mamba for g in groups):
            s = self.ssm_cfg.at(lvl)
            for key, value in s.items():
                if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                    raise ValueError(f"ssm_cfg.{key} (level {lvl}) = {value!r} must be a positive integer")
            d_inner = s["expand"] * d
            if d_inner % s["headdim"]:
                raise ValueError(
                    f"Mamba-2 at level {lvl}: expand * d_model = {d_inner} is not divisible by "
                    f"ssm_cfg.headdim = {s['headdim']}"
                )


def _int_list(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or not value or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ValueError(f"{name} must be a non-empty list of integers (one per level), got {value!r}")
    return list(value)


def _copy(value: Any) -> Any:
    """Deep copy of JSON-like lists so a caller's dict never aliases the config."""
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def bundled_config_path(name: str) -> Path:
    """Path of a config shipped in hnet_diag/trainer/configs ("hnet_2stage_tiny" or with .json)."""
    folder = Path(__file__).with_name("configs")
    path = folder / (name if name.endswith(".json") else f"{name}.json")
    if not path.is_file():
        available = sorted(p.stem for p in folder.glob("*.json"))
        raise FileNotFoundError(f"no bundled config {name!r}; available: {', '.join(available)}")
    return path
