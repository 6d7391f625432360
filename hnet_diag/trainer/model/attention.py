"""Causal multi-head attention with rotary embeddings and an optional sliding window.

The official H-Net uses FlashAttention with `window_size=(w, -1)`: query i sees keys
i-w .. i (w+1 keys); w = -1 means full causal attention. Outer stages use w = 1023 in the
official configs, so the window is part of what the model learned. The official decoder
once ignored the window when generating (fixed upstream in goombalab/hnet#21), a silent
train/inference mismatch; here the decoding cache is a ring buffer of exactly w+1 keys, so
`step` cannot see further back than training did, and the step-vs-forward test covers a
sequence longer than the window.

Parameter names match the official `CausalMHA`: `Wqkv` (no bias) and `out_proj` (no
bias). Rotary embeddings are the non-interleaved (GPT-NeoX) form on the first
`rotary_emb_dim` channels of each head, base 10000, as flash-attn's RotaryEmbedding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class AttentionCache:
    """Keys/values of the last `capacity` positions of each sequence, in a ring buffer."""

    keys: torch.Tensor  # [B, heads, capacity, head_dim], rotary already applied
    values: torch.Tensor  # [B, heads, capacity, head_dim]
    lengths: torch.Tensor  # [B] long: tokens seen so far by this layer, per sequence
    capacity: int
    full_attention: bool


def rotate(x: torch.Tensor, positions: torch.Tensor, inv_freq: torch.Tensor) -> torch.Tensor:
    """Apply rotary embedding to the first 2*len(inv_freq) channels of x [..., pos, head_dim].

    positions broadcasts against x's position axis: [L] for a sequence, [b', 1, 1] for one
    token per row.
    """
    rot = 2 * inv_freq.shape[0]
    if rot == 0:
        return x
    # float32 angles even if the model was cast to bf16: positions in the thousands.
    angles = positions.float().unsqueeze(-1) * inv_freq.float()  # [..., pos, rot/2]
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    x1, x2, rest = x[..., : rot // 2], x[..., rot // 2 : rot], x[..., rot:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)


def window_mask(length: int, window: int, device) -> torch.Tensor | None:
    """Boolean [L, L] mask (True = may attend) for causal attention over the last window+1
    keys; None when plain causal attention already gives the same thing."""
    if window < 0 or window + 1 >= length:
        return None
    i = torch.arange(length, device=device)
    offset = i[:, None] - i[None, :]
    return (offset >= 0) & (offset <= window)


class CausalMHA(nn.Module):
    """The `mixer` of a `t`/`T` block."""

    def __init__(self, d_model: int, num_heads: int, rotary_emb_dim: int = 0, window_size: int = -1,
                 rotary_base: float = 10000.0):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.window_size = window_size
        self.Wqkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)
        inv_freq = 1.0 / (rotary_base ** (torch.arange(0, rotary_emb_dim, 2, dtype=torch.float32) / max(rotary_emb_dim, 1)))
        # Not persistent: official checkpoints do not store it either.
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def _qkv(self, x: torch.Tensor):
        """x [..., L, d] -> q, k, v each [..., heads, L, head_dim]."""
        qkv = self.Wqkv(x).unflatten(-1, (3, self.num_heads, self.head_dim))
        q, k, v = qkv.unbind(-3)
        return q.transpose(-3, -2), k.transpose(-3, -2), v.transpose(-3, -2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, L, d] -> [B, L, d]. Padding may follow the real tokens (inner stages): causal
        attention keeps it from reaching them."""
        b, l, d = x.shape
        q, k, v = self._qkv(x)
        positions = torch.arange(l, device=x.device)
        q, k = rotate(q, positions, self.inv_freq), rotate(k, positions, self.inv_freq)
        mask = window_mask(l, self.window_size, x.device)
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).reshape(b, l, d))

    # -- decoding ----------------------------------------------------------------------------
    def allocate_cache(self, batch_size: int, max_len: int) -> AttentionCache:
        full = self.window_size < 0
        capacity = max_len if full else min(max_len, self.window_size + 1)
        w = self.Wqkv.weight
        shape = (batch_size, self.num_heads, max(capacity, 1), self.head_dim)
        return AttentionCache(
            keys=w.new_zeros(shape), values=w.new_zeros(shape),
            lengths=torch.zeros(batch_size, dtype=torch.long, device=w.device),
            capacity=max(capacity, 1), full_attention=full,
        )

    def step(self, x: torch.Tensor, cache: AttentionCache, rows: torch.Tensor) -> torch.Tensor:
        """One token for batch rows `rows`: x [b', d] -> [b', d]."""
        q, k, v = self._qkv(x.unsqueeze(1))  # [b', heads, 1, head_dim]
        pos = cache.lengths[rows]
        if cache.full_attention and bool((pos >= cache.capacity).any()):
            raise ValueError(
                f"attention cache is full ({cache.capacity} positions); allocate_inference_cache "
                "with a larger max_len"
            )
        q = rotate(q, pos[:, None, None], self.inv_freq)
        k = rotate(k, pos[:, None, None], self.inv_freq)
        slot = pos % cache.capacity
        cache.keys[rows, :, slot] = k[:, :, 0]
        cache.values[rows, :, slot] = v[:, :, 0]
        cache.lengths[rows] = pos + 1
        # Every slot holds one of the last `capacity` positions once filled; softmax does not
        # care about their order, so the ring needs no reordering.
        filled = torch.arange(cache.capacity, device=x.device)[None, :] < (pos + 1)[:, None]
        out = F.scaled_dot_product_attention(
            q, cache.keys[rows], cache.values[rows], attn_mask=filled[:, None, None, :]
        )
        return self.out_proj(out.reshape(x.shape[0], -1))
