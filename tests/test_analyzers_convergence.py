"""Convergence: plan vs reality, tail slope, annealing, overfitting, plateaus."""
import pytest

from hnet_diag.analyzers.convergence import analyze_convergence, find_plateaus
from conftest import close_figures, healthy_records, settings, records_run


def test_run_cut_at_a_third_is_unannealed_and_still_improving(tmp_path):
    run = records_run(tmp_path, healthy_records(steps=300, max_steps=900), settings(max_steps=900))
    res = analyze_convergence(run)
    assert res.fraction_completed == pytest.approx(299 / 900)
    assert res.lr_last_over_peak == pytest.approx(1.0)
    assert res.slope_per_1k < 0 and res.trend_z < -3
    assert res.drop_to_noise > 2


def test_completed_run_is_annealed_and_flat_at_the_end(tmp_path):
    recs = healthy_records(steps=3000, max_steps=3000)
    res = analyze_convergence(records_run(tmp_path, recs, settings(max_steps=3000)))
    assert res.fraction_completed == pytest.approx(2999 / 3000)
    assert res.lr_last_over_peak < 0.01
    assert abs(res.trend_z) < 3
    assert res.plateaus and res.plateaus[-1].end_step == 2999


def test_validation_rising_after_its_best_is_measured(tmp_path):
    recs = healthy_records(steps=600)
    for r in recs:
        if "val_loss" in r:
            r["val_loss"] = 3.0 - r["step"] / 400 if r["step"] <= 300 else 2.25 + (r["step"] - 300) / 1000
    res = analyze_convergence(records_run(tmp_path, recs, settings()))
    assert res.best_val_step == 300 and res.best_val == pytest.approx(2.25)
    assert res.last_val_step == 599
    assert res.val_increase_since_best == pytest.approx(0.299)
    assert res.val_increase_relative == pytest.approx(0.299 / 2.25)


def test_without_a_plan_completion_is_unknown_but_the_slope_is_measured(tmp_path):
    res = analyze_convergence(records_run(tmp_path, healthy_records(), settings(max_steps=None)))
    assert res.fraction_completed is None and res.planned_steps is None
    assert res.slope_per_1k is not None


def test_without_loss_gives_no_data_but_keeps_plan_and_last_step(tmp_path):
    recs = [{"step": s, "lr": 1e-3} for s in range(100)]
    res = analyze_convergence(records_run(tmp_path, recs, settings(max_steps=300)))
    assert res.status == "no_data"
    assert res.fraction_completed == pytest.approx(99 / 300)


def test_plateaus_are_flat_stretches_between_trends():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    x = np.arange(1000)
    y = np.where(x < 300, 5 - x / 100, 2.0) + np.where(x >= 700, -(x - 700) / 100, 0) + rng.normal(0, 0.01, 1000)
    plateaus = find_plateaus(pd.Series(y, index=x))
    assert len(plateaus) == 1
    assert 290 <= plateaus[0].start_step <= 310 and 590 <= plateaus[0].end_step <= 700
    assert plateaus[0].level == pytest.approx(2.0, abs=0.02)


def test_plot_shows_the_planned_end(tmp_path):
    res = analyze_convergence(records_run(tmp_path, healthy_records(steps=300, max_steps=900), settings(max_steps=900)))
    ax = res.plot()
    assert any(tuple(line.get_xdata()) == (900, 900) for line in ax.get_lines())
    close_figures()


def test_a_slow_steady_decline_is_not_a_plateau_even_when_each_segment_looks_flat():
    import numpy as np
    import pandas as pd

    from hnet_diag.analyzers.trend import mann_kendall_z

    rng = np.random.default_rng(1)
    x = np.arange(1000)
    s = pd.Series(3.0 - 1e-4 * x + rng.normal(0, 0.05, 1000), index=x)
    first_six = [abs(mann_kendall_z(s.iloc[i * 100:(i + 1) * 100])) for i in range(6)]
    assert max(first_six) < 2  # each of the first six segments alone cannot see the trend
    assert abs(mann_kendall_z(s.iloc[:600])) > 2  # their union can
    plateaus = find_plateaus(s)
    assert plateaus and all(p.start_step >= 600 for p in plateaus)
