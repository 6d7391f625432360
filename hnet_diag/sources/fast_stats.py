"""One pass over a float32/float64 tensor for checkpoint statistics, compiled with numba.

`checkpoint.tensor_stats` makes five float64 passes per chunk with torch (convert, count
zeros, dot, sum, min/max); memory bandwidth then costs ~10x a single norm. This kernel reads
each element once, accumulating in float64 exactly as those passes define the statistics:
per block of `BLOCK` elements the finite count, sum, sum of squares, min, max, zeros,
NaN and Inf counts, blocks merged with Chan et al.'s formula. numba is optional (the extra
`hnet-diag[fast]`); without it, or for other dtypes, the torch passes are used.
"""
from __future__ import annotations

from typing import Any

try:  # pragma: no cover - exercised when numba is installed
    import numba as _numba
except ImportError:  # pragma: no cover
    _numba = None

BLOCK = 1 << 20
_kernel: Any = None


def available() -> bool:
    return _numba is not None


def _build() -> Any:
    import math

    import numpy as np

    # reassociation lets LLVM vectorise the sums; NaN/Inf semantics are kept (no nnan/ninf)
    @_numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
    def clean_block(x: Any, start: int, stop: int) -> Any:  # pragma: no cover - compiled
        s = 0.0
        ss = 0.0
        hi = 0.0
        zeros = 0
        for i in range(start, stop):
            v = np.float64(x[i])
            s += v
            ss += v * v
            hi = max(hi, abs(v))
            zeros += v == 0.0
        return s, ss, hi, zeros

    @_numba.njit(cache=True, nogil=True)
    def dirty_block(x: Any, start: int, stop: int) -> Any:  # pragma: no cover - compiled
        n = 0
        s = 0.0
        ss = 0.0
        hi = 0.0
        zeros = 0
        nans = 0
        infs = 0
        for i in range(start, stop):
            v = np.float64(x[i])
            if v == 0.0:
                zeros += 1
            if math.isnan(v):
                nans += 1
            elif math.isinf(v):
                infs += 1
            else:
                n += 1
                s += v
                ss += v * v
                hi = max(hi, abs(v))
        return n, s, ss, hi, zeros, nans, infs

    @_numba.njit(cache=True, nogil=True)
    def moments(x: Any, block: int) -> Any:  # pragma: no cover - compiled
        count = 0
        mean = 0.0
        m2 = 0.0
        sumsq = 0.0
        max_abs = 0.0
        zeros = 0
        nans = 0
        infs = 0
        n_all = x.size
        for start in range(0, n_all, block):
            stop = min(start + block, n_all)
            s, ss, hi, z = clean_block(x, start, stop)
            n = stop - start
            if not (math.isfinite(ss) and math.isfinite(hi)):  # NaN or Inf inside (rare): count them
                n, s, ss, hi, z, bad_nan, bad_inf = dirty_block(x, start, stop)
                nans += bad_nan
                infs += bad_inf
            zeros += z
            if n == 0:
                continue
            max_abs = max(max_abs, hi)
            c_mean = s / n
            c_m2 = max(ss - n * c_mean * c_mean, 0.0)
            sumsq += ss
            delta = c_mean - mean
            total = count + n
            mean += delta * n / total
            m2 += c_m2 + delta * delta * count * n / total
            count = total
        return count, mean, m2, sumsq, max_abs, zeros, nans, infs

    return moments


def moments(tensor: Any) -> tuple[int, float, float, float, float, int, int, int] | None:
    """(finite count, mean, M2, sum of squares, max |x|, zeros, NaNs, Infs), or None when the
    fast path does not apply (numba missing, or not a contiguous CPU float32/float64 tensor)."""
    global _kernel
    import torch

    if _numba is None or tensor.dtype not in (torch.float32, torch.float64) or tensor.device.type != "cpu":
        return None
    flat = tensor.detach().reshape(-1)
    if not flat.is_contiguous():
        return None
    if _kernel is None:
        _kernel = _build()
    return _kernel(flat.numpy(), BLOCK)
