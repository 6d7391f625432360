"""analyze_gradients on real run folders (metrics.jsonl and TensorBoard event files)."""
import json

import pytest

from hnet_diag import load_run
from hnet_diag.analyzers.gradients import FIRST_STEPS_NOTE, analyze_gradients
from conftest import close_figures, healthy_records, settings, records_run


def test_healthy_run_has_no_spikes_after_its_first_steps(tmp_path):
    res = analyze_gradients(records_run(tmp_path, healthy_records(), settings()))
    assert res.ok
    assert res.spikes_after_warmup == 0 and res.spikes_warmup == 0
    assert res.stages and all(not st.spikes_after_first_steps for st in res.stages)


def test_large_norm_in_the_first_steps_is_noted_as_normal_not_counted_as_a_spike(tmp_path):
    res = analyze_gradients(records_run(tmp_path, healthy_records(), settings()))
    assert res.first_steps_max_ratio > 10
    assert res.first_steps_note == FIRST_STEPS_NOTE
    assert res.spikes_after_warmup == 0


def test_spike_after_warmup_carries_phase_lr_ratio_and_the_loss_spike_that_followed(tmp_path):
    recs = healthy_records(grad_spikes={300: 20.0}, loss_spikes={302: 1.3})
    res = analyze_gradients(records_run(tmp_path, recs, settings()))
    assert res.spikes_after_warmup == 1
    sp = res.spikes[0]
    assert sp.step == 300 and sp.phase == "after_warmup"
    assert sp.lr == pytest.approx(1e-3)
    assert sp.ratio > 5
    assert sp.loss_spike_after is True and sp.loss_spike_step == 302


def test_spike_without_a_loss_reaction_says_so(tmp_path):
    res = analyze_gradients(records_run(tmp_path, healthy_records(grad_spikes={300: 20.0}), settings()))
    assert res.spikes[0].loss_spike_after is False


def test_spike_during_warmup_is_phase_warmup(tmp_path):
    res = analyze_gradients(records_run(tmp_path, healthy_records(grad_spikes={40: 20.0}), settings()))
    assert [s.phase for s in res.spikes] == ["warmup"]
    assert res.warmup_steps == 59 and res.warmup_source == "lr_series"


def test_per_stage_spikes_are_attributed_to_the_stage_that_spiked(tmp_path):
    res = analyze_gradients(records_run(tmp_path, healthy_records(grad_spikes={250: 20.0, 450: 20.0}), settings()))
    by_stage = {st.stage: [s.step for s in st.spikes_after_first_steps] for st in res.stages}
    assert by_stage == {0: [250, 450], 1: []}
    assert res.stages[0].spikes[0].metric == "grad_norm/stage0"


def test_clip_rate_comes_from_the_clipped_metric_when_logged(tmp_path):
    recs = healthy_records()
    for r in recs[100:250]:
        r["clipped"] = 1.0
    res = analyze_gradients(records_run(tmp_path, recs, settings()))
    assert res.clip_source == "clipped"
    assert res.clip_rate == pytest.approx(sum(r["clipped"] for r in recs) / len(recs))
    assert res.clip_rate > 0.25


def test_clip_rate_falls_back_to_the_norm_against_max_grad_norm(tmp_path):
    recs = healthy_records()
    for r in recs:
        del r["clipped"]
    res = analyze_gradients(records_run(tmp_path, recs, settings(max_grad_norm=0.5)))
    expected = sum(r["grad_norm"] > 0.5 for r in recs) / len(recs)
    assert res.clip_source == "grad_norm>max_grad_norm"
    assert res.clip_rate == pytest.approx(expected)
    assert 0.3 < res.clip_rate < 1.0


def test_clip_rate_is_unknown_without_clipped_metric_or_max_grad_norm(tmp_path):
    recs = healthy_records()
    for r in recs:
        del r["clipped"]
    res = analyze_gradients(records_run(tmp_path, recs, settings(max_grad_norm=None)))
    assert res.clip_rate is None and res.clip_source is None


def test_vanishing_trend_measures_decades_of_norm_drop_and_the_flat_loss(tmp_path):
    recs = healthy_records(routing=False)
    for i, r in enumerate(recs):
        r["grad_norm"] = 1.0 * 10 ** (-4 * i / len(recs))
        r["loss"] = 5.5
    res = analyze_gradients(records_run(tmp_path, recs, settings()))
    assert 3.0 < res.norm_decades_drop < 4.5
    assert res.loss_relative_change == pytest.approx(0.0)
    assert res.norm_min < 2e-4


def test_run_without_any_gradient_norm_gives_no_data(tmp_path):
    recs = [{"step": s, "loss": 3.0 - s * 1e-3} for s in range(100)]
    res = analyze_gradients(records_run(tmp_path, recs))
    assert res.status == "no_data" and "grad_norm" in res.reason
    assert res.spikes == ()


def test_spikes_are_found_in_tensorboard_event_files(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    recs = healthy_records(grad_spikes={320: 25.0}, routing=False)
    w = SummaryWriter(log_dir=str(tmp_path / "tb"))
    for r in recs:
        for k in ("loss", "lr", "grad_norm", "grad_norm/stage0", "grad_norm/stage1"):
            w.add_scalar(k, r[k], r["step"])
    w.close()
    run = load_run(tmp_path)
    res = analyze_gradients(run)
    assert [s.step for s in res.spikes_after_first_steps] == [320]
    assert res.warmup_steps == 59


def test_plot_marks_spikes_and_draws_the_clip_line(tmp_path):
    res = analyze_gradients(records_run(tmp_path, healthy_records(grad_spikes={300: 20.0}), settings()))
    ax = res.plot()
    ys = [tuple(line.get_ydata()) for line in ax.get_lines()]
    assert (1.0, 1.0) in ys  # the max_grad_norm line
    # one dot per total-norm spike, one cross group per stage that spiked
    dots = [c for c in ax.collections if len(c.get_offsets()) == 1 and tuple(c.get_offsets()[0]) == (300, res.spikes[0].value)]
    assert len(dots) == 1
    stages_spiking = sum(1 for st in res.stages if st.spikes_after_first_steps)
    assert len(ax.collections) == len(res.spikes) + stages_spiking
    close_figures()


def test_norms_high_through_the_first_steps_with_the_loss_climbing_are_not_called_normal(tmp_path):
    recs = healthy_records(warmup=0)
    for r, factor, loss in zip(recs[1:10], [8, 4, 5, 4, 5, 3, 2, 1, 1], [4.6, 5.2, 5.5, 5.7, 4.8, 4.3, 3.7, 3.6, 3.5]):
        r["grad_norm"] *= factor
        r["loss"] = loss
        r["clipped"] = float(factor > 1)
    res = analyze_gradients(records_run(tmp_path, recs, settings(warmup_steps=0)))
    assert res.first_steps_high_norms >= 6
    assert res.first_steps_note == ""
    assert res.first_steps_clip_rate >= 0.7
    assert res.first_steps_loss_rise == pytest.approx(5.7 / 4.6 - 1, rel=0.05)


def test_a_single_large_first_norm_is_called_normal_and_the_loss_did_not_climb(tmp_path):
    res = analyze_gradients(records_run(tmp_path, healthy_records(), settings()))
    assert res.first_steps_high_norms == 1 and res.first_steps_note == FIRST_STEPS_NOTE
    assert res.first_steps_loss_rise < 0.05
