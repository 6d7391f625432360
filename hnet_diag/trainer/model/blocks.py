"""Residual blocks and the plain stack of them ("Isotropic" in the official code).

A block is pre-norm: x + mixer(norm1(x)), then x + mlp(norm2(x)) for upper-case layers.
A stack ends in an RMSNorm (`rmsnorm`), as every H-Net sub-network does. The official code
fuses the residual add into its Triton RMSNorm; the arithmetic is the same.
Names follow the official checkpoints: `layers.{i}.norm1`, `.mixer`, `.norm2`, `.mlp.fc1`
(value and gate fused), `.mlp.fc2`, and the stack's final `rmsnorm`.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import HNetConfig
from .attention import CausalMHA
from .mamba2 import Mamba2


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


class SwiGLU(nn.Module):
    """fc1 produces [value | gate]; out = fc2(value * silu(gate)) (the official order)."""

    def __init__(self, d_model: int, d_hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(d_model, 2 * d_hidden, bias=False)
        self.fc2 = nn.Linear(d_hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.fc1(x).chunk(2, dim=-1)
        return self.fc2(value * F.silu(gate))


class Block(nn.Module):
    def __init__(self, mixer: nn.Module, d_model: int, mlp_hidden: int | None):
        super().__init__()
        self.norm1 = RMSNorm(d_model)
        self.mixer = mixer
        if mlp_hidden:
            self.norm2 = RMSNorm(d_model)
            self.mlp = SwiGLU(d_model, mlp_hidden)
        else:
            self.mlp = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))
        if self.mlp is not None:
            x = x + self.mlp(self.norm2(x))
        return x

    def step(self, x: torch.Tensor, cache, rows: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer.step(self.norm1(x), cache, rows)
        if self.mlp is not None:
            x = x + self.mlp(self.norm2(x))
        return x


class Isotropic(nn.Module):
    """A stack of blocks at one width, built from a layout string such as "T1m4"."""

    def __init__(self, cfg: HNetConfig, level: int, groups):
        super().__init__()
        d = cfg.d_model[level]
        ssm = cfg.ssm_cfg.at(level)
        attn = cfg.attn_cfg.at(level)
        layers = []
        for group in groups:
            for _ in range(group.count):
                if group.is_mamba:
                    mixer = Mamba2(d, d_state=ssm["d_state"], d_conv=ssm["d_conv"], expand=ssm["expand"],
                                   headdim=ssm["headdim"], chunk_size=ssm["chunk_size"])
                else:
                    mixer = CausalMHA(d, attn["num_heads"], attn["rotary_emb_dim"], attn["window_size"])
                layers.append(Block(mixer, d, cfg.mlp_width(level) if group.has_mlp else None))
        self.layers = nn.ModuleList(layers)
        self.rmsnorm = RMSNorm(d)
        # Residual additions (mixer, plus MLP where present): the init scales output
        # projections by 1/sqrt of the total over the path a signal takes.
        self.height = sum(g.height for g in groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.rmsnorm(x)

    def allocate_cache(self, batch_size: int, max_len: int) -> list:
        return [layer.mixer.allocate_cache(batch_size, max_len) for layer in self.layers]

    def step(self, x: torch.Tensor, cache: list, rows: torch.Tensor) -> torch.Tensor:
        for layer, layer_cache in zip(self.layers, cache):
            x = layer.step(x, layer_cache, rows)
        return self.rmsnorm(x)
