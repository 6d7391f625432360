"""Dynamic chunking: where to cut (routing), how to shorten (downsample), how to come back
(smoothing + upsampling), and the ratio loss that keeps the cut rate near its target.

Routing. q_t = W_q x_t and k_t = W_k x_t (square, bias-free, identity at init), and the
boundary probability of position t compares it with its predecessor:
    p_t = (1 - cos(q_{t-1}, k_t)) / 2,   p_1 = 1,   b_t = 1 iff p_t > 0.5.
The paper writes cos(q_t, k_{t-1}); the official code (`RoutingModule` in goombalab/hnet)
pairs the *previous* position's q with the *current* k, and we follow the code so official
checkpoints route the same way here (at the identity init the two are identical). The code
takes argmax over [1-p, p], so p = 0.5 exactly is not a boundary: hence the strict `>`.

Smoothing. The main network's outputs z^_c at the chunks are blended into an EMA over
chunks, z_c = P_c z^_c + (1 - P_c) z_{c-1}, with P_c the boundary probability of the chunk's
first byte clamped to [1e-4, 1 - 1e-4]; each byte then takes its chunk's value. The result
is multiplied by STE(c_t) (c_t = p_t at a boundary, 1 - p_t elsewhere): 1 in the forward
pass, but its gradient is what teaches the router (see `confidence_ste`).

Ratio loss (the paper's Eq. 10), with F the fraction of positions selected (no gradient)
and G the mean boundary probability:
    L_ratio = N/(N-1) * ((N-1) F G + (1-F)(1-G)).
It is 1.0 at F = G = 1/N and larger anywhere else on the line F = G.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .scan import segment_sums

PROB_CLAMP = 1e-4  # the official DeChunkLayer's clamp of P before the EMA
UNDECIDED_MARGIN = 0.05  # `boundary_undecided`: |p - 0.5| below this (see hnet_diag.metrics)


def ratio_loss(boundary_mask: torch.Tensor, boundary_prob: torch.Tensor, target_n: float,
               valid_mask: torch.Tensor | None = None) -> torch.Tensor:
    """H-Net ratio (load-balancing) loss of one stage; differentiable through boundary_prob.

    boundary_mask: bool, boundary_prob: float, same shape; valid_mask (optional, same shape)
    excludes padding positions of inner stages from both averages.
    """
    n = float(target_n)
    if not n > 1.0:
        raise ValueError(f"target compression N must be > 1, got {target_n}")
    if valid_mask is None:
        f = boundary_mask.float().mean()
        g = boundary_prob.float().mean()
    else:
        count = valid_mask.sum().clamp(min=1)
        f = (boundary_mask & valid_mask).sum() / count
        g = torch.where(valid_mask, boundary_prob.float(), 0.0).sum() / count
    f = f.detach()
    return n / (n - 1.0) * ((n - 1.0) * f * g + (1.0 - f) * (1.0 - g))


@dataclass
class RoutingStats:
    """What one chunking stage decided for a batch (outermost stage first in HNetOutput).

    Inner stages see sequences of different lengths padded to the longest; `valid_mask`
    marks the real positions and every statistic below counts only those. The trainer logs
    exactly these (`boundary_frac`, `boundary_prob`, `boundary_undecided`, and
    `compression` = `compression(F)`), so the tests of these methods test the logged values.
    """

    boundary_mask: torch.Tensor  # bool [B, L_s]; False on padding
    boundary_prob: torch.Tensor  # float [B, L_s], differentiable; 0 on padding
    valid_mask: torch.Tensor  # bool [B, L_s]

    def ratio_loss(self, target_n: float) -> torch.Tensor:
        return ratio_loss(self.boundary_mask, self.boundary_prob, target_n, self.valid_mask)

    def _mean(self, values: torch.Tensor) -> float:
        count = int(self.valid_mask.sum())
        return float(torch.where(self.valid_mask, values.float(), 0.0).sum()) / max(count, 1)

    def boundary_fraction(self) -> float:
        """F: fraction of real positions selected as boundaries."""
        return self._mean(self.boundary_mask.detach())

    def mean_boundary_prob(self) -> float:
        """G: mean boundary probability over real positions."""
        return self._mean(self.boundary_prob.detach())

    def undecided_fraction(self, margin: float = UNDECIDED_MARGIN) -> float:
        """Fraction of real positions whose probability lies within `margin` of 0.5."""
        return self._mean((self.boundary_prob.detach() - 0.5).abs() < margin)


def compression(boundary_fraction: float) -> float:
    """Positions per selected boundary, 1/F (inf when nothing was selected)."""
    return 1.0 / boundary_fraction if boundary_fraction > 0 else float("inf")


@dataclass
class RoutingCache:
    """Decoding state of a routing module: the previous position's query, per sequence."""

    prev_query: torch.Tensor  # [B, d], normalised
    seen: torch.Tensor  # [B] bool: has the sequence had a token yet (first is a boundary)


class RoutingModule(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        self.q_proj_layer = nn.Linear(d_model, d_model, bias=False)
        self.k_proj_layer = nn.Linear(d_model, d_model, bias=False)
        self.reset_to_identity()

    def reset_to_identity(self) -> None:
        """The paper's init: both projections start as the identity, so p_t starts as the
        cosine distance of consecutive encoder outputs."""
        with torch.no_grad():
            self.q_proj_layer.weight.copy_(torch.eye(self.q_proj_layer.weight.shape[0]))
            self.k_proj_layer.weight.copy_(torch.eye(self.k_proj_layer.weight.shape[0]))

    def forward(self, x: torch.Tensor, valid: torch.Tensor):
        """x [B, L, d], valid bool [B, L] -> (boundary_prob [B, L], boundary_mask [B, L])."""
        q = F.normalize(self.q_proj_layer(x[:, :-1]), dim=-1)
        k = F.normalize(self.k_proj_layer(x[:, 1:]), dim=-1)
        cos = (q * k).sum(-1)
        prob = ((1.0 - cos) / 2.0).clamp(0.0, 1.0)
        prob = F.pad(prob, (1, 0), value=1.0)  # the first position always starts a chunk
        mask = (prob > 0.5) & valid
        return torch.where(valid, prob, 0.0), mask

    def allocate_cache(self, batch_size: int, max_len: int) -> RoutingCache:
        w = self.q_proj_layer.weight
        return RoutingCache(
            prev_query=w.new_zeros(batch_size, w.shape[0]),
            seen=torch.zeros(batch_size, dtype=torch.bool, device=w.device),
        )

    def step(self, x: torch.Tensor, cache: RoutingCache, rows: torch.Tensor):
        """x [b', d] -> (boundary_prob [b'], boundary_mask [b'])."""
        k = F.normalize(self.k_proj_layer(x), dim=-1)
        cos = (cache.prev_query[rows] * k).sum(-1)
        prob = ((1.0 - cos) / 2.0).clamp(0.0, 1.0)
        prob = torch.where(cache.seen[rows], prob, torch.ones_like(prob))
        cache.prev_query[rows] = F.normalize(self.q_proj_layer(x), dim=-1)
        cache.seen[rows] = True
        return prob, prob > 0.5


def downsample(x: torch.Tensor, boundary_mask: torch.Tensor):
    """Keep the boundary positions of each row, left-aligned and padded to the longest row.

    x [B, L, d], boundary_mask [B, L] -> (x_inner [B, M, d], valid_inner [B, M]).
    Padding comes after each row's real positions, so causal layers never see it.
    """
    b, l, d = x.shape
    counts = boundary_mask.sum(-1)
    m = max(int(counts.max()), 1)
    order = boundary_order(boundary_mask)[:, :m]
    x_inner = torch.gather(x, 1, order.unsqueeze(-1).expand(-1, -1, d))
    valid_inner = torch.arange(m, device=x.device)[None, :] < counts[:, None]
    return x_inner, valid_inner


def boundary_order(boundary_mask: torch.Tensor) -> torch.Tensor:
    """Indices that list each row's boundary positions first, in order, then the rest."""
    l = boundary_mask.shape[1]
    key = torch.arange(l, device=boundary_mask.device)[None, :] + (~boundary_mask).long() * l
    return torch.argsort(key, dim=1)


def smooth_and_upsample(z_inner: torch.Tensor, boundary_mask: torch.Tensor,
                        boundary_prob: torch.Tensor) -> torch.Tensor:
    """The dechunk layer: EMA over chunks weighted by P, then each byte takes its chunk's value.

    z_inner [B, M, d] (main network output at the chunks), boundary_mask/prob [B, L]
    -> [B, L, d].
    """
    b, m, d = z_inner.shape
    p = boundary_prob.float().clamp(PROB_CLAMP, 1.0 - PROB_CLAMP)
    p_chunks = torch.gather(p, 1, boundary_order(boundary_mask)[:, :m])  # P of each chunk
    # z_c = P_c z^_c + (1 - P_c) z_{c-1}: a linear recurrence, done as one decay-matrix matmul.
    decay = torch.exp(segment_sums(torch.log1p(-p_chunks)))  # [B, M, M]
    smoothed = decay @ (p_chunks.unsqueeze(-1) * z_inner.float())
    chunk_of_byte = (torch.cumsum(boundary_mask.long(), dim=1) - 1).clamp(min=0)
    out = torch.gather(smoothed, 1, chunk_of_byte.unsqueeze(-1).expand(-1, -1, d))
    return out.to(z_inner.dtype)


class _OneWithGradient(torch.autograd.Function):
    """Forward: ones. Backward: the incoming gradient unchanged (straight-through)."""

    @staticmethod
    def forward(ctx, c):
        return torch.ones_like(c)

    @staticmethod
    def backward(ctx, grad):
        return grad


def confidence_ste(boundary_prob: torch.Tensor, boundary_mask: torch.Tensor) -> torch.Tensor:
    """STE(c_t) with c_t = p_t at boundaries, 1 - p_t elsewhere: value 1, gradient as c_t's.

    Multiplying the upsampled output by it leaves the forward pass alone but sends the
    language-model gradient into the router (the paper's confidence scoring).
    """
    c = torch.where(boundary_mask, boundary_prob, 1.0 - boundary_prob)
    return _OneWithGradient.apply(c).unsqueeze(-1)


@dataclass
class DechunkCache:
    """Decoding state of the smoothing module: the EMA's last value, per sequence."""

    last_value: torch.Tensor  # [B, d]


def smooth_step(z_inner: torch.Tensor, boundary_mask: torch.Tensor, boundary_prob: torch.Tensor,
                cache: DechunkCache, rows: torch.Tensor) -> torch.Tensor:
    """One byte of the dechunk layer for rows `rows`.

    z_inner [k, d] holds the main network's outputs for the rows whose byte is a boundary
    (in order); other rows repeat their last value.
    """
    last = cache.last_value[rows]
    p = boundary_prob.float().clamp(PROB_CLAMP, 1.0 - PROB_CLAMP)[boundary_mask].unsqueeze(-1)
    new = last.clone()
    new[boundary_mask] = p * z_inner.float() + (1.0 - p) * last[boundary_mask]
    cache.last_value[rows] = new
    return new.to(z_inner.dtype)
