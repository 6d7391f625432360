"""The pure helpers: spike detection and noise-aware trends on plain Series."""
import numpy as np
import pytest
import pandas as pd

from hnet_diag.analyzers.spikes import detect_spikes
from hnet_diag.analyzers.trend import mann_kendall_z, tail, theil_sen


def lognormal(n=2000, seed=0, level=0.5, sigma=0.2, start=0):
    rng = np.random.default_rng(seed)
    return pd.Series(level * np.exp(rng.normal(0, sigma, n)), index=np.arange(start, start + n), name="grad_norm")


def test_healthy_lognormal_noise_gives_no_spikes_over_many_seeds():
    for seed in range(10):
        assert detect_spikes(lognormal(seed=seed)) == []


def test_injected_spike_is_found_with_its_step_value_and_ratio_to_the_local_level():
    s = lognormal(seed=1)
    s.loc[700] = 0.5 * 12
    spikes = detect_spikes(s)
    assert [sp.step for sp in spikes] == [700]
    assert spikes[0].value == 6.0
    assert 8 < spikes[0].ratio < 18
    assert spikes[0].metric == "grad_norm"


def test_spike_on_a_steeply_falling_curve_is_measured_against_its_local_level():
    steps = np.arange(1000)
    rng = np.random.default_rng(2)
    loss = pd.Series(2 + 4 * np.exp(-steps / 120) + rng.normal(0, 0.01, 1000), index=steps)
    loss.loc[150] *= 1.25  # +25% while the loss falls fast
    spikes = detect_spikes(loss, min_ratio=1.1)
    assert [sp.step for sp in spikes] == [150]
    assert abs(spikes[0].ratio - 1.25) < 0.05


def test_consecutive_flagged_points_merge_into_one_spike_at_its_highest_point():
    s = lognormal(seed=3)
    s.loc[400:402] = [5.0, 9.0, 6.0]
    spikes = detect_spikes(s)
    assert len(spikes) == 1
    assert spikes[0].step == 401 and spikes[0].n_points == 3 and spikes[0].end_step == 402


def test_points_before_the_baseline_exists_are_never_spikes():
    s = lognormal(n=200, seed=4)
    s.iloc[2] = 100.0  # the huge norm of step 2: no baseline yet
    assert all(sp.step != int(s.index[2]) for sp in detect_spikes(s, min_periods=10))


def test_a_perfectly_flat_series_does_not_turn_tiny_wiggles_into_spikes():
    s = pd.Series(np.ones(300), index=np.arange(300))
    s.loc[200] = 1.001
    assert detect_spikes(s) == []


def test_theil_sen_recovers_the_slope_despite_outliers():
    x = np.arange(500)
    rng = np.random.default_rng(5)
    y = 3.0 - 0.002 * x + rng.normal(0, 0.01, 500)
    y[::25] += 5.0  # 4% gross outliers
    slope, _ = theil_sen(pd.Series(y, index=x))
    assert abs(slope + 0.002) < 2e-4


def test_mann_kendall_tells_a_trend_from_noise():
    rng = np.random.default_rng(6)
    noise = pd.Series(rng.normal(0, 1, 300))
    trend = pd.Series(np.linspace(0, 1, 300) + rng.normal(0, 0.2, 300))
    assert abs(mann_kendall_z(noise)) < 3
    assert mann_kendall_z(trend) > 5
    assert mann_kendall_z(-trend) < -5


def test_tail_takes_the_last_fraction_of_the_step_range():
    s = pd.Series(np.arange(100.0), index=np.arange(0, 1000, 10))
    t = tail(s, 0.2)
    assert t.index.min() >= 800 and t.index.max() == 990


def test_a_spike_in_a_negative_objective_keeps_a_meaningful_ratio():
    s = pd.Series(-2.0 + np.random.default_rng(7).normal(0, 0.01, 300), index=np.arange(300))
    s.loc[200] = 1.0
    (sp,) = detect_spikes(s, log=False)
    assert sp.step == 200 and sp.ratio == pytest.approx(1 + 3.0 / 2.0, rel=0.02)
