"""The analyzers on the real runs of fixtures/runs/ (made by fixtures/make_runs.py).

Each run differs from `healthy` in one ordinary setting; the measurement that shows the
pathology must separate it from `healthy` with a wide margin (numbers vary in the last
digits across machines, the margins do not). Skipped where a run folder is absent.
"""
import pytest

from conftest import fixture_analyses as results


def test_no_warmup_run_is_unstable_in_its_first_steps_and_healthy_is_not():
    bad, good = results("no_warmup"), results("healthy")
    assert bad["warmup"].warmup_steps == 0
    assert bad["gradients"].first_steps_high_norms >= 5 and good["gradients"].first_steps_high_norms <= 1
    assert bad["warmup"].window_loss_rise > 0.15 > good["gradients"].first_steps_loss_rise
    assert bad["gradients"].first_steps_note == "" and good["gradients"].first_steps_note != ""


def test_aggressive_multipliers_spike_on_the_outer_stage_after_warmup():
    r = results("aggressive_multipliers")
    assert r["lr_ratio"].multipliers == pytest.approx((100.0, 20.0, 2.0), rel=1e-4)
    assert r["lr_ratio"].max_min_ratio == pytest.approx(50.0, rel=1e-4)
    assert r["lr_ratio"].rule_max_min_ratio == pytest.approx(4.24, abs=0.01)
    outer = [s for s in r["gradients"].stages[0].spikes if s.phase == "after_warmup"]
    assert len(outer) >= 3 and max(s.ratio for s in outer) > 10
    assert r["lr_ratio"].largest_stage_is_most_spiky is True


def test_no_ratio_loss_run_drifts_from_its_target_compression_and_healthy_stays_close():
    bad, good = results("no_ratio_loss"), results("healthy")
    assert max(abs(s.compression_relative_error) for s in bad["load_balance"].stages) > 0.4
    assert max(abs(s.compression_relative_error) for s in good["load_balance"].stages) < 0.25
    assert [(s.target, s.target_source) for s in good["load_balance"].stages] == [(3.0, "config")] * 2


def test_cut_runs_stopped_at_a_third_without_annealing_and_healthy_annealed():
    for name in ("cosine_cut", "example"):
        c = results(name)["convergence"]
        assert c.fraction_completed == pytest.approx(1 / 3, abs=0.01)
        assert c.lr_last_over_peak > 0.5
        assert c.trend_z < -2  # still improving when cut
    h = results("healthy")["convergence"]
    assert h.fraction_completed == pytest.approx(1.0) and h.lr_last_over_peak < 0.05


def test_example_run_has_the_example_reports_settings():
    r = results("example")
    assert r["lr_ratio"].multipliers == pytest.approx((3.0, 1.7, 0.9), rel=1e-4)
    assert r["warmup"].warmup_fraction == pytest.approx(0.02)
    assert r["generation"].pure_sampling is True and r["generation"].has_repetition_penalty is False
    assert r["gradients"].spikes_after_warmup == 0  # "gradient explosion" has no support here


def test_healthy_run_has_no_loss_spike_no_nan_and_no_divergence():
    r = results("healthy")
    assert r["loss"].spikes == () and r["loss"].nonfinite == ()
    assert r["loss"].final_over_min < 1.1


def test_reference_checkpoints_decode_step_by_step_like_their_forward_pass():
    d = results("healthy", decoding=True)["decoding"]
    assert d.ok, d.reason
    assert d.max_abs_diff < 1e-3 and d.first_position_above is None
