"""Causal linear recurrences h_t = a_t * h_{t-1} + u_t computed in parallel.

Both the Mamba-2 scan and H-Net's smoothing (an EMA over chunks) are this recurrence with a
decay a_t in (0, 1]. Written as a matrix, h = M u with M[t, j] = prod_{k=j+1..t} a_k for
j <= t, which is one batched matmul instead of a Python loop over time. The products are
taken in log space as *segment sums* of log a_k. Summing each segment directly (rather
than subtracting two running cumsums, exp(cs_t - cs_j)) matters: running sums of log decays
reach -1000 within a few hundred steps, and the difference of two such float32 numbers
loses the digits that step-wise decoding must reproduce to 1e-4.
"""
from __future__ import annotations


def segment_sums(log_decay):
    """[..., T] -> [..., T, T]: out[..., t, j] = sum_{k=j+1..t} log_decay[k] for j <= t, -inf above.

    exp() of the result is the lower-triangular decay matrix of the recurrence (ones on the
    diagonal, zeros above it).
    """
    import torch

    T = log_decay.shape[-1]
    # Repeat along a new column axis, keep entries k > j, and cumsum down k: entry (t, j)
    # then holds log_decay[j+1] + ... + log_decay[t], summed only over that segment.
    x = log_decay.unsqueeze(-1).expand(*log_decay.shape, T)  # [..., k, j]
    strictly_below = torch.tril(torch.ones(T, T, dtype=torch.bool, device=log_decay.device), diagonal=-1)
    x = x.masked_fill(~strictly_below, 0.0)
    sums = torch.cumsum(x, dim=-2)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=log_decay.device))
    return sums.masked_fill(~causal, float("-inf"))

