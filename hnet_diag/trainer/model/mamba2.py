"""Mamba-2 mixer in plain PyTorch: a chunked SSD scan for training, a recurrence for decoding.

H-Net's encoders and decoders are Mamba-2 layers. The official code calls the Triton/CUDA
kernels of `mamba_ssm`; this module computes the same function with ordinary tensor ops so
the reference trainer runs on a CPU. Parameters have the names and shapes of
`mamba_ssm.modules.mamba2.Mamba2` (ngroups = 1, rmsnorm on, norm after the gate), so
official checkpoints load into it:

    in_proj   d_model -> [z (d_inner) | x (d_inner) | B (d_state) | C (d_state) | dt (nheads)]
    conv1d    depthwise causal conv over [x | B | C], kernel d_conv, with bias
    dt_bias, A_log, D   one value per head
    norm      gated RMSNorm: rmsnorm(y * silu(z)) * weight
    out_proj  d_inner -> d_model

The scan (state-space duality, "SSD"): per head, with a_t = exp(dt_t * A) and scalar A < 0,
    h_t = a_t h_{t-1} + dt_t x_t B_t^T,   y_t = h_t C_t + D x_t.
Training splits the sequence into chunks of `chunk_size`: inside a chunk the output is a
masked attention-like matmul with the decay matrix; between chunks a small state is carried.
Decoding (`step`) runs the recurrence one token at a time from a cached conv window and
SSM state; the two agree to float32 rounding, which the step-vs-forward test checks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .scan import segment_sums


@dataclass
class Mamba2Cache:
    """Decoding state of one Mamba-2 layer for a batch of sequences."""

    conv_state: torch.Tensor  # [B, conv_dim, d_conv]: the last d_conv inputs of the conv
    ssm_state: torch.Tensor  # [B, nheads, headdim, d_state]


class GatedRMSNorm(nn.Module):
    """RMSNorm of y * silu(z) (mamba_ssm's RMSNormGated with norm_before_gate=False)."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(y * F.silu(z), (y.shape[-1],), self.weight, self.eps)


def ssd_chunked_scan(x, dt, A, B, C, chunk_size: int, initial_state=None):
    """The Mamba-2 scan over a whole sequence.

    x [b, l, h, p], dt [b, l, h] (after softplus), A [h] (negative), B and C [b, l, n].
    Returns y [b, l, h, p] (without the D skip) and the final state [b, h, p, n].
    """
    b, l, h, p = x.shape
    n = B.shape[-1]
    out_dtype = x.dtype
    # The decays are exponentials of sums: compute in float32 even under bf16 autocast
    # (the official kernels do the same).
    x, dt, A, B, C = x.float(), dt.float(), A.float(), B.float(), C.float()
    cs = max(1, min(chunk_size, l))
    pad = (-l) % cs
    if pad:
        # Zero dt on padded steps: no decay and no input, so the final state is exact.
        x = F.pad(x, (0, 0, 0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))
        B = F.pad(B, (0, 0, 0, pad))
        C = F.pad(C, (0, 0, 0, pad))
    c = (l + pad) // cs
    x = x.reshape(b, c, cs, h, p)
    dt = dt.reshape(b, c, cs, h)
    B = B.reshape(b, c, cs, n)
    C = C.reshape(b, c, cs, n)

    log_a = (dt * A).permute(0, 3, 1, 2)  # [b, h, c, cs]
    x_dt = x * dt.unsqueeze(-1)  # input scaled by the step size

    # 1) Within each chunk: y_i = sum_{j<=i} (C_i . B_j) decay(j->i) dt_j x_j.
    decay = torch.exp(segment_sums(log_a))  # [b, h, c, i, j]
    scores = torch.einsum("bcin,bcjn->bcij", C, B).unsqueeze(1) * decay
    y = torch.einsum("bhcij,bcjhp->bcihp", scores, x_dt)

    # 2) State each chunk leaves behind, from its own inputs only.
    cum = torch.cumsum(log_a, dim=-1)  # [b, h, c, cs]; within a chunk, so it stays small
    to_end = torch.exp(cum[..., -1:] - cum)  # decay from step j to the chunk's end
    chunk_states = torch.einsum("bhcj,bcjn,bcjhp->bchpn", to_end, B, x_dt)

    # 3) Carry states across chunks. The state entering chunk k is the same recurrence one
    #    level up: chunk j's state decays by every later chunk's total decay. Index 0 is
    #    the initial state, index j+1 the state chunk j leaves; row k of the decay matrix
    #    over those c+1 entries is the state entering chunk k (row c: the final state).
    #    One matmul, no Python loop (whose per-chunk slicing made backward slow).
    if initial_state is None:
        initial_state = x.new_zeros(b, h, p, n)
    states = torch.cat([initial_state.float().unsqueeze(1), chunk_states], dim=1)  # [b, c+1, h, p, n]
    chunk_decay = torch.exp(segment_sums(F.pad(cum[..., -1], (1, 0))))  # [b, h, c+1, c+1]
    entering = torch.einsum("bhkj,bjhpn->bkhpn", chunk_decay, states)
    from_start = torch.exp(cum)  # decay from the chunk's start to step i (inclusive)
    carried = torch.einsum("bcin,bchpn,bhci->bcihp", C, entering[:, :c], from_start)
    y = (y + carried).reshape(b, c * cs, h, p)[:, :l]
    return y.to(out_dtype), entering[:, c]


class Mamba2(nn.Module):
    """One Mamba-2 mixer (the `mixer` of an `m`/`M` block)."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 128,
        d_conv: int = 4,
        expand: int = 2,
        headdim: int = 64,
        chunk_size: int = 256,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        A_init_range: tuple[float, float] = (1.0, 16.0),
    ):
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.d_inner = expand * d_model
        self.headdim = headdim
        self.nheads = self.d_inner // headdim
        self.chunk_size = chunk_size
        self.conv_dim = self.d_inner + 2 * d_state

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner + 2 * d_state + self.nheads, bias=False)
        self.conv1d = nn.Conv1d(
            self.conv_dim, self.conv_dim, kernel_size=d_conv, groups=self.conv_dim, padding=d_conv - 1, bias=True
        )
        # Mamba-2's init: step sizes log-uniform in [dt_min, dt_max] stored through an
        # inverse softplus; decay rates A uniform in A_init_range stored as log; skip D = 1.
        dt = torch.exp(torch.rand(self.nheads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.empty(self.nheads).uniform_(*A_init_range)))
        self.D = nn.Parameter(torch.ones(self.nheads))
        self.norm = GatedRMSNorm(self.d_inner)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def _split(self, zxbcdt: torch.Tensor):
        return torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.nheads], dim=-1)

    def _ssm_inputs(self, xBC: torch.Tensor, dt: torch.Tensor):
        x, B, C = torch.split(xBC, [self.d_inner, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(dt + self.dt_bias)
        A = -torch.exp(self.A_log.float())
        return x, B, C, dt, A

    def _causal_conv(self, xBC: torch.Tensor) -> torch.Tensor:
        """Depthwise causal conv over time on [B, L, C], as d_conv shifted multiply-adds.

        Same result as `self.conv1d` on the transposed input, but CPU autograd of a
        depthwise Conv1d on a transposed (non-contiguous) tensor is ~100x slower than this.
        """
        l, k = xBC.shape[1], self.d_conv
        padded = F.pad(xBC, (0, 0, k - 1, 0))
        weight = self.conv1d.weight.squeeze(1)  # [C, k]; tap k-1 multiplies the current step
        out = self.conv1d.bias + padded[:, 0:l] * weight[:, 0]
        for tap in range(1, k):
            out = out + padded[:, tap : tap + l] * weight[:, tap]
        return out

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """u [B, L, d_model] -> [B, L, d_model], causal."""
        b, l, _ = u.shape
        z, xBC, dt = self._split(self.in_proj(u))
        xBC = F.silu(self._causal_conv(xBC))
        x, B, C, dt, A = self._ssm_inputs(xBC, dt)
        x = x.reshape(b, l, self.nheads, self.headdim)
        y, _ = ssd_chunked_scan(x, dt, A, B, C, self.chunk_size)
        y = y + x * self.D[:, None]
        y = self.norm(y.reshape(b, l, self.d_inner), z)
        return self.out_proj(y)

    # -- decoding ----------------------------------------------------------------------------
    def allocate_cache(self, batch_size: int, max_len: int) -> Mamba2Cache:
        w = self.in_proj.weight
        return Mamba2Cache(
            conv_state=w.new_zeros(batch_size, self.conv_dim, self.d_conv),
            ssm_state=w.new_zeros(batch_size, self.nheads, self.headdim, self.d_state),
        )

    def step(self, u: torch.Tensor, cache: Mamba2Cache, rows: torch.Tensor) -> torch.Tensor:
        """One token for the batch rows `rows`: u [b', d_model] -> [b', d_model]."""
        z, xBC, dt = self._split(self.in_proj(u))
        window = torch.cat([cache.conv_state[rows, :, 1:], xBC.unsqueeze(-1)], dim=-1)
        cache.conv_state[rows] = window
        xBC = F.silu((window * self.conv1d.weight.squeeze(1)).sum(-1) + self.conv1d.bias)
        x, B, C, dt, A = self._ssm_inputs(xBC, dt)
        x = x.reshape(-1, self.nheads, self.headdim)
        decay = torch.exp(dt * A)  # [b', h]
        state = cache.ssm_state[rows] * decay[..., None, None] + torch.einsum("bh,bn,bhp->bhpn", dt, B, x)
        cache.ssm_state[rows] = state
        y = torch.einsum("bhpn,bn->bhp", state, C) + x * self.D[:, None]
        y = self.norm(y.reshape(-1, self.d_inner), z)
        return self.out_proj(y)
