"""Load balance per chunking stage: ratio loss, compression vs target, F vs G, routing."""
import math

import pytest

from hnet_diag.analyzers.load_balance import analyze_load_balance
from conftest import close_figures, healthy_records, settings, records_run


def routing_records(f, g, undecided=0.02, n=6.0, steps=300):
    """One stage whose F and G follow the given functions of the step."""
    recs = []
    for s in range(steps):
        fv, gv = f(s), g(s)
        recs.append({
            "step": s, "loss": 3.0,
            "boundary_frac/stage0": fv, "boundary_prob/stage0": gv,
            "compression/stage0": 1.0 / fv if fv > 0 else math.inf,
            "ratio_loss/stage0": n / (n - 1) * ((n - 1) * fv * gv + (1 - fv) * (1 - gv)),
            "boundary_undecided/stage0": undecided,
        })
    return recs


def test_healthy_routing_sits_on_its_target(tmp_path):
    res = analyze_load_balance(records_run(tmp_path, healthy_records(), settings(target_compression=(6.0,))))
    assert res.ok
    (st,) = res.stages
    assert st.target == 6.0 and st.target_source == "config"
    assert abs(st.compression_relative_error) < 0.02
    assert st.f_times_target == pytest.approx(1.0, abs=0.02)
    assert st.ratio_loss == pytest.approx(1.0, abs=0.01)
    assert abs(st.compression_trend_z) < 3


def test_two_stages_get_paper_targets_and_a_total_compression(tmp_path):
    res = analyze_load_balance(records_run(tmp_path, healthy_records(multipliers=(2, 1.5, 1), targets=(3.0, 3.0)), settings()))
    assert [s.target for s in res.stages] == [3.0, 3.0]
    assert res.stages[0].target_source == "paper_default"
    assert res.total_compression == pytest.approx(9.0, rel=0.03)


def test_compression_far_from_target_is_measured_as_a_relative_error(tmp_path):
    res = analyze_load_balance(records_run(tmp_path, routing_records(lambda s: 0.5, lambda s: 0.5), settings(target_compression=(6.0,))))
    st = res.stages[0]
    assert st.compression == pytest.approx(2.0)
    assert st.compression_relative_error == pytest.approx(-2 / 3)
    assert st.f_times_target == pytest.approx(3.0)


def test_boundary_collapse_to_none_gives_infinite_compression_and_zero_f(tmp_path):
    res = analyze_load_balance(records_run(tmp_path, routing_records(lambda s: 0.0, lambda s: 0.01), settings(target_compression=(6.0,))))
    st = res.stages[0]
    assert st.boundary_frac == 0.0 and st.f_times_target == 0.0
    assert st.compression == math.inf and st.compression_relative_error is None


def test_ratio_loss_below_one_when_f_and_g_disagree(tmp_path):
    res = analyze_load_balance(records_run(tmp_path, routing_records(lambda s: 0.05, lambda s: 0.3), settings(target_compression=(6.0,))))
    st = res.stages[0]
    assert st.ratio_loss < 1.0 and st.ratio_loss_excess < 0
    assert st.f_minus_g == pytest.approx(-0.25)


def test_undecided_routing_shows_in_the_undecided_fraction_and_g_near_half(tmp_path):
    res = analyze_load_balance(records_run(tmp_path, routing_records(lambda s: 0.5, lambda s: 0.49, undecided=0.7), settings()))
    st = res.stages[0]
    assert st.undecided_frac == pytest.approx(0.7)
    assert st.g_distance_from_half == pytest.approx(0.01)


def test_drifting_compression_has_a_significant_trend(tmp_path):
    res = analyze_load_balance(records_run(tmp_path, routing_records(lambda s: 1 / (4 + s / 50), lambda s: 1 / (4 + s / 50)), settings()))
    st = res.stages[0]
    assert st.compression_slope_per_1k == pytest.approx(20.0, rel=0.05)
    assert st.compression_trend_z > 5


def test_run_without_routing_metrics_gives_no_data(tmp_path):
    res = analyze_load_balance(records_run(tmp_path, [{"step": s, "loss": 3.0} for s in range(30)]))
    assert res.status == "no_data" and res.stages == ()


def test_plot_draws_compression_with_target_lines(tmp_path):
    res = analyze_load_balance(records_run(tmp_path, healthy_records(), settings()))
    ax = res.plot()
    assert any(tuple(line.get_ydata()) == (6.0, 6.0) for line in ax.get_lines())
    close_figures()
