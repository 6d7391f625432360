"""The compiled one-pass statistics agree with the torch passes they replace."""
import math

import pytest
import torch

from hnet_diag.sources import checkpoint, fast_stats

pytest.importorskip("numba")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_one_pass_matches_the_torch_passes(monkeypatch, dtype):
    g = torch.Generator().manual_seed(0)
    t = (torch.randn(3 * fast_stats.BLOCK + 12345, generator=g) * 0.02 + 5.0).to(dtype)  # mean >> std
    t[::1000] = 0.0
    t[7], t[99], t[12345] = float("nan"), float("inf"), float("-inf")
    fast = checkpoint.tensor_stats("w", t)
    monkeypatch.setattr(fast_stats, "_numba", None)
    slow = checkpoint.tensor_stats("w", t)
    for field in ("l2_norm", "max_abs", "mean", "std", "zero_frac"):
        assert getattr(fast, field) == pytest.approx(getattr(slow, field), rel=1e-9), field
    assert (fast.nan_count, fast.inf_count) == (slow.nan_count, slow.inf_count) == (1, 2)


def test_other_dtypes_take_the_torch_path():
    assert fast_stats.moments(torch.ones(4, dtype=torch.bfloat16)) is None
    assert fast_stats.moments(torch.ones(4)) is not None
