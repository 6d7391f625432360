"""Dynamic chunking pieces and the Mamba-2 scan, checked against their plain definitions."""
import pytest
import torch

from hnet_diag.trainer.model.mamba2 import Mamba2, ssd_chunked_scan
from hnet_diag.trainer.model.routing import (
    RoutingModule,
    RoutingStats,
    compression,
    downsample,
    ratio_loss,
    smooth_and_upsample,
)


def mask_with_fraction(f: float, n: int = 600) -> torch.Tensor:
    mask = torch.zeros(1, n, dtype=torch.bool)
    mask[0, : round(f * n)] = True
    return mask


@pytest.mark.parametrize("target_n", [2.0, 3.0, 6.0])
def test_ratio_loss_is_one_when_fraction_and_probability_both_equal_one_over_n(target_n):
    mask = mask_with_fraction(1 / target_n)
    prob = torch.full((1, 600), 1 / target_n)
    assert ratio_loss(mask, prob, target_n).item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("target_n", [2.0, 3.0, 6.0])
def test_ratio_loss_exceeds_one_elsewhere_on_the_line_f_equals_g(target_n):
    for f in (0.05, 0.1, 0.25, 0.4, 0.6, 0.9):
        if abs(f - 1 / target_n) < 1e-3:
            continue
        loss = ratio_loss(mask_with_fraction(f), torch.full((1, 600), f), target_n).item()
        assert loss > 1.0 + 1e-4, (f, loss)


def test_ratio_loss_gradient_flows_through_probability_only():
    prob = torch.full((1, 600), 0.5, requires_grad=True)
    loss = ratio_loss(mask_with_fraction(0.5), prob, 3.0)
    loss.backward()
    # dL/dG = N/(N-1) ((N-1) F - (1 - F)) spread over 600 positions; F = 0.5, N = 3.
    expected = 3 / 2 * (2 * 0.5 - 0.5) / 600
    assert prob.grad.mean().item() == pytest.approx(expected, rel=1e-5)


def test_ratio_loss_ignores_padding_and_rejects_n_at_most_one():
    mask = torch.tensor([[True, False, True, False], [True, False, False, False]])
    prob = torch.tensor([[0.9, 0.1, 0.8, 0.2], [1.0, 0.3, 0.99, 0.99]])
    valid = torch.tensor([[True, True, True, True], [True, True, False, False]])
    stats = RoutingStats(mask & valid, torch.where(valid, prob, 0.0), valid)
    assert stats.boundary_fraction() == pytest.approx(3 / 6)
    assert stats.mean_boundary_prob() == pytest.approx((0.9 + 0.1 + 0.8 + 0.2 + 1.0 + 0.3) / 6)
    assert compression(stats.boundary_fraction()) == pytest.approx(2.0) and compression(0.0) == float("inf")
    # the undecided share counts real positions with |p - 0.5| < 0.05: none here, then one
    assert stats.undecided_fraction() == 0.0
    prob2 = prob.clone()
    prob2[0, 1] = 0.52
    assert RoutingStats(mask & valid, torch.where(valid, prob2, 0.0), valid).undecided_fraction() == pytest.approx(1 / 6)
    with pytest.raises(ValueError):
        ratio_loss(mask, prob, 1.0)


def test_routing_probability_is_cosine_distance_of_neighbours_at_identity_init():
    router = RoutingModule(4)
    x = torch.tensor([[[1.0, 0, 0, 0], [1.0, 0, 0, 0], [0, 1.0, 0, 0], [-1.0, 0, 0, 0], [-1.0, 1e-3, 0, 0]]])
    prob, mask = router(x, torch.ones(1, 5, dtype=torch.bool))
    assert prob[0].tolist() == pytest.approx([1.0, 0.0, 0.5, 0.5, 0.0], abs=1e-5)
    # p = 0.5 exactly is not a boundary (argmax over [1-p, p] picks the first on ties).
    assert mask[0].tolist() == [True, False, False, False, False]


def test_downsample_keeps_boundaries_in_order_and_pads_short_rows():
    x = torch.arange(12.0).reshape(2, 6, 1)
    mask = torch.tensor([[1, 0, 1, 1, 0, 0], [1, 0, 0, 0, 0, 1]], dtype=torch.bool)
    inner, valid = downsample(x, mask)
    assert inner[0, :, 0].tolist() == [0.0, 2.0, 3.0]
    assert inner[1, :2, 0].tolist() == [6.0, 11.0]
    assert valid.tolist() == [[True, True, True], [True, True, False]]


def test_smoothing_is_the_ema_over_chunks_repeated_over_each_chunks_bytes():
    torch.manual_seed(0)
    mask = torch.tensor([[1, 0, 0, 1, 1, 0, 1, 0]], dtype=torch.bool)
    prob = torch.tensor([[1.0, 0.2, 0.1, 0.7, 0.55, 0.3, 0.9, 0.4]])
    z_inner = torch.randn(1, 4, 3)
    out = smooth_and_upsample(z_inner, mask, prob)
    chunk_p = prob[mask].clamp(1e-4, 1 - 1e-4)
    ema, values = torch.zeros(3), []
    for c in range(4):
        ema = chunk_p[c] * z_inner[0, c] + (1 - chunk_p[c]) * ema
        values.append(ema)
    expected = torch.stack([values[i] for i in (0, 0, 0, 1, 2, 2, 3, 3)])
    assert torch.allclose(out[0], expected, atol=1e-6)


def test_smoothing_stays_exact_over_long_runs_of_low_probability_chunks():
    """Running sums of log(1-P) reach -1e3; segment sums keep the EMA accurate anyway."""
    m = 300
    mask = torch.ones(1, m, dtype=torch.bool)
    prob = torch.full((1, m), 0.999)
    prob[0, 150:] = 0.51
    z = torch.randn(1, m, 2)
    out = smooth_and_upsample(z, mask, prob)
    ema = torch.zeros(2)
    for c in range(m):
        p = prob[0, c].clamp(1e-4, 1 - 1e-4)
        ema = p * z[0, c] + (1 - p) * ema
    assert torch.allclose(out[0, -1], ema, atol=1e-5)


@pytest.mark.parametrize("chunk_size", [1, 5, 16, 64])
def test_chunked_ssd_scan_equals_the_sequential_recurrence(chunk_size):
    g = torch.Generator().manual_seed(0)
    b, l, h, p, n = 2, 21, 3, 4, 5
    x, B, C = torch.randn(b, l, h, p, generator=g), torch.randn(b, l, n, generator=g), torch.randn(b, l, n, generator=g)
    dt = torch.rand(b, l, h, generator=g) * 0.5
    A = -torch.rand(h, generator=g) * 4 - 0.5
    y, final = ssd_chunked_scan(x, dt, A, B, C, chunk_size)
    state = torch.zeros(b, h, p, n)
    for t in range(l):
        decay = torch.exp(dt[:, t] * A)
        state = state * decay[..., None, None] + torch.einsum("bh,bn,bhp->bhpn", dt[:, t], B[:, t], x[:, t])
        assert torch.allclose(y[:, t], torch.einsum("bhpn,bn->bhp", state, C[:, t]), atol=1e-5)
    assert torch.allclose(final, state, atol=1e-5)


def test_mamba2_step_matches_its_forward_and_is_causal():
    torch.manual_seed(0)
    layer = Mamba2(16, d_state=8, d_conv=4, expand=2, headdim=8, chunk_size=4)
    u = torch.randn(2, 11, 16)
    with torch.no_grad():
        full = layer(u)
        changed = u.clone()
        changed[:, 7:] += 1.0
        assert torch.allclose(layer(changed)[:, :7], full[:, :7], atol=1e-6)
        cache = layer.allocate_cache(2, 11)
        rows = torch.arange(2)
        stepped = torch.stack([layer.step(u[:, t], cache, rows) for t in range(11)], 1)
    assert torch.allclose(stepped, full, atol=1e-5)
