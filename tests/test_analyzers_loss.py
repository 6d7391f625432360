"""Loss health: NaN/Inf, spikes, divergence, train/validation gap."""
import math

import pytest

from hnet_diag.analyzers.loss import analyze_loss, count_nonfinite
from conftest import close_figures, healthy_records, settings, records_run


def test_healthy_loss_has_no_spikes_no_nonfinite_and_ends_near_its_minimum(tmp_path):
    import numpy as np

    recs = healthy_records()
    res = analyze_loss(records_run(tmp_path, recs, settings()))
    assert res.ok and res.spikes == () and res.nonfinite == ()
    assert res.final_over_min < 1.05
    # the gap is the last validation value against the median of the last train points
    train_near = float(np.median([r["loss"] for r in recs[-5:]]))
    assert res.train_at_val == pytest.approx(train_near)
    assert res.train_val_gap == pytest.approx(recs[-1]["val_loss"] - train_near)


def test_nan_loss_is_counted_with_its_first_step_and_the_metric_that_went_first(tmp_path):
    recs = healthy_records()
    recs[400]["grad_norm"] = math.inf
    for r in recs[405:]:
        r["loss"] = math.nan
    recs[500]["compression/stage0"] = math.inf  # no boundary at one step: not a numerical failure
    res = analyze_loss(records_run(tmp_path, recs, settings()))
    assert res.first_nonfinite_step == 400
    loss_nf = next(n for n in res.nonfinite if n.metric == "loss")
    assert loss_nf.first_step == 405 and loss_nf.count == 195 and loss_nf.nan_count == 195
    assert res.nonfinite[0].metric == "loss"  # the loss leads the list
    assert {n.metric for n in res.nonfinite} == {"loss", "grad_norm"}
    assert res.loss_nonfinite_count == 195
    assert res.final_loss is not None  # measured on the finite part


def test_loss_spikes_are_found_with_ratio_and_phase(tmp_path):
    res = analyze_loss(records_run(tmp_path, healthy_records(loss_spikes={200: 1.4, 450: 1.3}), settings()))
    assert [s.step for s in res.spikes] == [200, 450]
    assert res.spikes[0].ratio == pytest.approx(1.4, rel=0.05)
    assert {s.phase for s in res.spikes} == {"after_warmup"}


def test_divergence_shows_as_a_final_level_far_above_the_running_minimum(tmp_path):
    recs = healthy_records()
    for r in recs[450:]:
        r["loss"] = r["loss"] + (r["step"] - 450) * 0.02
    res = analyze_loss(records_run(tmp_path, recs, settings()))
    assert res.running_min_step < 460
    assert res.final_over_min > 2.0
    assert res.end_trend_z > 5


def test_count_nonfinite_ignores_infinite_compression(tmp_path):
    recs = healthy_records(steps=50)
    recs[10]["compression/stage0"] = math.inf
    assert count_nonfinite(records_run(tmp_path, recs)) == []


def test_run_without_loss_gives_no_data_but_still_reports_nan_elsewhere(tmp_path):
    recs = [{"step": s, "grad_norm": math.nan if s > 5 else 1.0} for s in range(10)]
    res = analyze_loss(records_run(tmp_path, recs))
    assert res.status == "no_data"
    assert res.first_nonfinite_step == 6 and res.nonfinite_count == 4


def test_plot_marks_the_first_nonfinite_step(tmp_path):
    recs = healthy_records()
    for r in recs[500:]:
        r["loss"] = math.nan
    ax = analyze_loss(records_run(tmp_path, recs, settings())).plot()
    assert any(tuple(line.get_xdata()) == (500, 500) for line in ax.get_lines())
    close_figures()


def test_nan_in_a_bookkeeping_metric_is_kept_apart_from_the_optimisation_metrics(tmp_path):
    recs = healthy_records(steps=100)
    for r in recs[:12]:
        r["step_avg"] = math.nan  # timing not started yet, as modded-nanogpt logs it
    res = analyze_loss(records_run(tmp_path, recs, settings()))
    assert res.nonfinite == () and res.first_nonfinite_step is None
    assert [(n.metric, n.count) for n in res.nonfinite_other] == [("step_avg", 12)]


def test_a_loss_still_falling_towards_zero_is_not_read_as_above_its_minimum(tmp_path):
    recs = [{"step": s * 10, "loss": 11.0 * 0.97 ** (s * 2)} for s in range(120)]
    res = analyze_loss(records_run(tmp_path, recs))
    assert res.final_over_min == pytest.approx(1.0)
    assert res.running_min_step == recs[-1]["step"]


def test_too_few_points_leave_divergence_unmeasured(tmp_path):
    recs = [{"step": s, "loss": v} for s, v in [(10, 1.56), (20, 1.26), (30, 1.23), (4850, 1.11)]]
    res = analyze_loss(records_run(tmp_path, recs))
    assert res.ok and res.final_over_min is None and res.running_min is None
