"""The H-Net language model: byte embeddings -> nested chunking stages -> byte logits.

One `HNetStage` per hierarchy level, nested as in the official code so parameter names
match official checkpoints (`backbone.encoder...`, `backbone.main_network.encoder...`):

    stage s (not innermost): x -> pad to width d_s with `pad_dimension` (s > 0)
        -> encoder -> routing -> downsample -> main_network (stage s+1) -> smooth+upsample
        -> * STE(confidence) + residual_proj(encoder output) -> decoder -> first d_{s-1} dims
    innermost stage: x -> pad -> main_network (a plain stack) -> first d_{s-1} dims

`forward` runs whole sequences (training); `step` runs one byte for every sequence of a
batch, stepping a stage's main network only for the sequences whose byte was selected as
a boundary, which is what makes generation from an H-Net cheap. `stepwise_logits` drives
`step` over a sequence so a test (and the decoding analyzer) can compare it with `forward`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..config import HNetConfig
from .blocks import Isotropic
from .routing import (
    DechunkCache,
    RoutingModule,
    RoutingStats,
    confidence_ste,
    downsample,
    smooth_and_upsample,
    smooth_step,
)


@dataclass
class HNetOutput:
    logits: torch.Tensor  # [B, L, vocab]
    stages: list[RoutingStats]  # one per chunking stage, outermost first; [] for plain models


@dataclass
class StageCache:
    """Decoding state of one stage; None fields belong to parts the stage does not have."""

    main: object
    encoder: list | None = None
    routing: object | None = None
    dechunk: DechunkCache | None = None
    decoder: list | None = None


@dataclass
class HNetCache:
    """Decoding state of the whole model, from `HNetLM.allocate_inference_cache`."""

    batch_size: int
    max_len: int
    backbone: StageCache
    position: int = 0
    # Per step, per stage: which rows selected a boundary (-1 = the stage was not reached).
    last_boundaries: list[torch.Tensor] = field(default_factory=list)


class HNetStage(nn.Module):
    """One hierarchy level (`HNet` in the official code)."""

    def __init__(self, cfg: HNetConfig, level: int):
        super().__init__()
        self.level = level
        layout = cfg.level_layout(level)
        self.d_model = cfg.d_model[level]
        self.is_innermost = layout.is_innermost
        if self.is_innermost:
            self.main_network = Isotropic(cfg, level, layout.main)
        else:
            self.encoder = Isotropic(cfg, level, layout.encoder)
            self.main_network = HNetStage(cfg, level + 1)
            self.decoder = Isotropic(cfg, level, layout.decoder)
            self.routing_module = RoutingModule(self.d_model)
            self.residual_proj = nn.Linear(self.d_model, self.d_model)
        extra = self.d_model - (cfg.d_model[level - 1] if level > 0 else self.d_model)
        # Inner levels are wider; the extra channels start as one learned vector shared by
        # every position (official name and init: zeros).
        self.pad_dimension = nn.Parameter(torch.zeros(extra)) if extra > 0 else None

    # -- training ----------------------------------------------------------------------------
    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad_dimension is None:
            return x
        return torch.cat([x, self.pad_dimension.expand(*x.shape[:-1], -1)], dim=-1)

    def forward(self, x: torch.Tensor, valid: torch.Tensor):
        """x [B, L, d_outer], valid bool [B, L] -> (y [B, L, d_outer], stats of this and inner stages)."""
        d_outer = x.shape[-1]
        x = self._pad(x)
        if self.is_innermost:
            return self.main_network(x)[..., :d_outer], []
        h = self.encoder(x)
        residual = self.residual_proj(h)
        prob, mask = self.routing_module(h, valid)
        h_inner, valid_inner = downsample(h, mask)
        z_inner, inner_stats = self.main_network(h_inner, valid_inner)
        z = smooth_and_upsample(z_inner, mask, prob)
        z = z * confidence_ste(prob, mask) + residual
        y = self.decoder(z)
        stats = RoutingStats(boundary_mask=mask, boundary_prob=prob, valid_mask=valid)
        return y[..., :d_outer], [stats, *inner_stats]

    # -- decoding ----------------------------------------------------------------------------
    def allocate_cache(self, batch_size: int, max_len: int) -> StageCache:
        if self.is_innermost:
            return StageCache(main=self.main_network.allocate_cache(batch_size, max_len))
        w = self.residual_proj.weight
        return StageCache(
            main=self.main_network.allocate_cache(batch_size, max_len),
            encoder=self.encoder.allocate_cache(batch_size, max_len),
            routing=self.routing_module.allocate_cache(batch_size, max_len),
            dechunk=DechunkCache(last_value=w.new_zeros(batch_size, self.d_model)),
            decoder=self.decoder.allocate_cache(batch_size, max_len),
        )

    def step(self, x: torch.Tensor, cache: StageCache, rows: torch.Tensor, boundaries: list) -> torch.Tensor:
        """One byte for batch rows `rows`: x [b', d_outer] -> [b', d_outer].

        Appends this stage's boundary decisions (for all batch rows, -1 where not reached)
        to `boundaries`.
        """
        d_outer = x.shape[-1]
        x = self._pad(x)
        if self.is_innermost:
            return self.main_network.step(x, cache.main, rows)[..., :d_outer]
        h = self.encoder.step(x, cache.encoder, rows)
        residual = self.residual_proj(h)
        prob, mask = self.routing_module.step(h, cache.routing, rows)
        decided = torch.full((cache.dechunk.last_value.shape[0],), -1, dtype=torch.long, device=x.device)
        decided[rows] = mask.long()
        boundaries.append(decided)
        if bool(mask.any()):
            z_inner = self.main_network.step(h[mask], cache.main, rows[mask], boundaries)
        else:
            z_inner = h.new_zeros(0, self.d_model)
            _mark_unreached(self.main_network, boundaries, decided.shape[0], x.device)
        z = smooth_step(z_inner, mask, prob, cache.dechunk, rows)
        z = z + residual  # STE(confidence) is exactly 1 in the forward pass
        return self.decoder.step(z, cache.decoder, rows)[..., :d_outer]


def _mark_unreached(stage: HNetStage, boundaries: list, batch_size: int, device) -> None:
    """Record -1 for every inner stage that a step did not reach."""
    while not stage.is_innermost:
        boundaries.append(torch.full((batch_size,), -1, dtype=torch.long, device=device))
        stage = stage.main_network


class HNetLM(nn.Module):
    """Byte-level H-Net language model (`HNetForCausalLM` in the official code)."""

    def __init__(self, cfg: HNetConfig, initializer_range: float = 0.02):
        super().__init__()
        self.config = cfg
        d = cfg.d_model[0]
        self.embeddings = nn.Embedding(cfg.vocab_size, d)
        self.backbone = HNetStage(cfg, 0)
        self.lm_head = nn.Linear(d, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embeddings.weight
        self.init_weights(initializer_range)

    @property
    def num_stages(self) -> int:
        return self.config.num_stages

    def init_weights(self, initializer_range: float = 0.02) -> None:
        """The paper's init: Linear N(0, 0.02); output projections (`out_proj`, `fc2`)
        N(0, 0.02 / sqrt(n_residuals)) where n_residuals counts the residual additions on
        the path through all enclosing stages; embeddings N(0, 1); routing projections the
        identity; residual_proj zero (so at step 0 each stage's decoder sees only the
        upsampled main-network output)."""
        nn.init.normal_(self.embeddings.weight, std=1.0)
        if not self.config.tie_embeddings:
            nn.init.normal_(self.lm_head.weight, std=initializer_range)
        stage, n_residuals = self.backbone, 0
        while True:
            if stage.is_innermost:
                n_residuals += stage.main_network.height
                _init_stack(stage.main_network, initializer_range, n_residuals)
                break
            n_residuals += stage.encoder.height + stage.decoder.height
            _init_stack(stage.encoder, initializer_range, n_residuals)
            _init_stack(stage.decoder, initializer_range, n_residuals)
            stage.routing_module.reset_to_identity()
            nn.init.zeros_(stage.residual_proj.weight)
            nn.init.zeros_(stage.residual_proj.bias)
            stage = stage.main_network

    def forward(self, input_ids: torch.Tensor) -> HNetOutput:
        """input_ids [B, L] (bytes) -> logits [B, L, vocab] and per-stage routing stats."""
        x = self.embeddings(input_ids)
        valid = torch.ones(input_ids.shape, dtype=torch.bool, device=input_ids.device)
        y, stages = self.backbone(x, valid)
        return HNetOutput(logits=self.lm_head(y), stages=stages)

    # -- parameters by stage -------------------------------------------------------------------
    def stage_of(self, param_name: str) -> int:
        """Hierarchy level of a parameter: 0 for embeddings, lm_head and the outer stage.

        Used for per-stage LR groups and per-stage gradient norms. Works on official
        checkpoint names too (see `stage_of_param`).
        """
        return stage_of_param(param_name, self.num_stages)

    def param_stages(self) -> dict[str, int]:
        return {name: self.stage_of(name) for name, _ in self.named_parameters()}

    # -- decoding ------------------------------------------------------------------------------
    def allocate_inference_cache(self, batch_size: int, max_len: int) -> HNetCache:
        return HNetCache(batch_size=batch_size, max_len=max_len,
                         backbone=self.backbone.allocate_cache(batch_size, max_len))

    @torch.no_grad()
    def step(self, input_ids: torch.Tensor, cache: HNetCache) -> torch.Tensor:
        """One byte per sequence: input_ids [B] -> logits [B, vocab]. Updates `cache`;
        `cache.last_boundaries` then holds each stage's decision per row (1, 0, or -1 when
        the stage was not reached)."""
        if input_ids.dim() != 1 or input_ids.shape[0] != cache.batch_size:
            raise ValueError(f"step expects input_ids of shape [{cache.batch_size}], got {list(input_ids.shape)}")
        if cache.position >= cache.max_len:
            raise ValueError(f"inference cache holds {cache.max_len} positions; allocate a larger one")
        rows = torch.arange(cache.batch_size, device=input_ids.device)
        boundaries: list[torch.Tensor] = []
        y = self.backbone.step(self.embeddings(input_ids), cache.backbone, rows, boundaries)
        cache.position += 1
        cache.last_boundaries = boundaries
        return self.lm_head(y)


def stage_of_param(name: str, num_stages: int) -> int:
    """Stage of a parameter from its official-style name.

    Each `main_network.` hop enters the next level; the innermost stage's own stack is one
    more hop, hence the cap at `num_stages`: with 1 stage, `backbone.main_network.pad_dimension`
    and `backbone.main_network.main_network.layers.0...` are both stage 1.
    """
    return min(name.count("main_network."), num_stages)


def _init_stack(stack: Isotropic, std: float, n_residuals: int) -> None:
    for name, module in stack.named_modules():
        if isinstance(module, nn.Linear):
            is_output = name.endswith("out_proj") or name.endswith("fc2")
            nn.init.normal_(module.weight, std=std / n_residuals**0.5 if is_output else std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


@torch.no_grad()
def stepwise_logits(model: HNetLM, input_ids: torch.Tensor) -> torch.Tensor:
    """Run `model.step` over input_ids [B, L] one byte at a time -> logits [B, L, vocab].

    Teacher-forced: the step-wise logits of a healthy model equal `model(input_ids).logits`
    to float rounding; a difference means decoding and training compute different models.
    """
    b, l = input_ids.shape
    cache = model.allocate_inference_cache(b, l)
    return torch.stack([model.step(input_ids[:, t], cache) for t in range(l)], dim=1)
