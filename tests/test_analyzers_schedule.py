"""Warmup and per-stage LR ratio, incl. the paper's Eq. 11 worked examples."""
import pytest

from hnet_diag.analyzers.lr_ratio import analyze_lr_ratio
from hnet_diag.analyzers.warmup import analyze_warmup
from hnet_diag.paper import SUGGESTED_MULTIPLIERS as PAPER_SUGGESTED_MULTIPLIERS
from hnet_diag.paper import eq11_multipliers
from hnet_diag.run import CheckpointSummary, ModelSettings
from conftest import close_figures, healthy_records, settings, records_run


@pytest.mark.parametrize(
    "targets, widths, expected",
    [
        ((6,), (1024, 1536), (2.63, 0.88)),  # 1-stage L
        ((6,), (1024, 2048), (3.03, 0.88)),  # 1-stage XL
        ((3, 3), (1024, 1024, 1536), (2.63, 1.52, 0.72)),  # 2-stage L
        ((3, 3), (1024, 1536, 2048), (3.03, 1.43, 0.72)),  # 2-stage XL
    ],
)
def test_eq11_reproduces_the_worked_examples_of_the_reference_facts(targets, widths, expected):
    got = eq11_multipliers(targets, widths)
    assert got == pytest.approx(expected, abs=0.006)


def test_eq11_refuses_widths_that_do_not_match_the_targets():
    with pytest.raises(ValueError):
        eq11_multipliers((3, 3), (1024, 1536))


def test_warmup_is_read_from_the_lr_series_as_a_fraction_of_plan_and_in_tokens(tmp_path):
    run = records_run(tmp_path, healthy_records(warmup=60, max_steps=2000), settings(max_steps=2000, warmup_steps=None))
    res = analyze_warmup(run)
    assert res.ok and res.source == "lr_series"
    assert res.warmup_steps == 59  # the LR first reaches its peak at step 59 (0-based steps)
    assert res.warmup_fraction == pytest.approx(59 / 2000)
    assert res.fraction_of == "planned_steps"
    assert res.tokens_per_step == 8 * 256 and res.warmup_tokens == 59 * 8 * 256
    assert res.peak_lr == pytest.approx(1e-3)


def test_warmup_falls_back_to_the_config_when_no_lr_is_logged(tmp_path):
    recs = healthy_records()
    for r in recs:
        for k in [k for k in r if k.startswith("lr")]:
            del r[k]
    res = analyze_warmup(records_run(tmp_path, recs, settings(warmup_steps=75)))
    assert res.source == "config" and res.warmup_steps == 75


def test_warmup_without_lr_or_config_gives_no_data(tmp_path):
    recs = [{"step": s, "loss": 3.0} for s in range(50)]
    res = analyze_warmup(records_run(tmp_path, recs))
    assert res.status == "no_data"


def test_instability_concentrated_at_the_end_of_warmup_is_the_evidence(tmp_path):
    recs = healthy_records(warmup=60, grad_spikes={62: 20.0, 70: 15.0, 81: 20.0}, loss_spikes={72: 1.3})
    res = analyze_warmup(records_run(tmp_path, recs, settings()))
    assert res.grad_spikes_near_end == 3 and res.loss_spikes_near_end == 1
    assert sorted(s.step for s in res.spikes_near_end) == [62, 70, 72, 81]
    assert res.fraction_near_end == 1.0
    assert res.concentration > 3  # far more than a uniform spread would put there


def test_spikes_far_from_warmup_are_not_counted_near_its_end(tmp_path):
    res = analyze_warmup(records_run(tmp_path, healthy_records(grad_spikes={400: 20.0, 500: 20.0}), settings()))
    assert res.spikes_total == 2 and res.spikes_near_end == ()
    assert res.fraction_near_end == 0.0


def test_healthy_run_has_no_spikes_anywhere_near_warmup(tmp_path):
    res = analyze_warmup(records_run(tmp_path, healthy_records(), settings()))
    assert res.spikes_total == 0 and res.fraction_near_end is None


def test_lr_ratio_from_logged_stage_lrs_with_eq11_from_run_targets_and_widths(tmp_path):
    run = records_run(tmp_path, healthy_records(multipliers=(3.0, 1.7, 0.9), targets=(3, 3)),
                    settings(target_compression=(3.0, 3.0)))
    run.model = ModelSettings(d_model=(1024, 1024, 1536), num_stages=2)
    res = analyze_lr_ratio(run)
    assert res.source == "logs" and res.multipliers_relative_to == "base_lr"
    assert res.multipliers == pytest.approx((3.0, 1.7, 0.9))
    assert res.max_min_ratio == pytest.approx(3.0 / 0.9)
    assert res.largest_stage == 0
    assert res.rule_multipliers == pytest.approx((2.63, 1.52, 0.72), abs=0.006)
    assert res.rule_targets_source == "config"
    assert res.multipliers_over_rule[0] == pytest.approx(3.0 / res.rule_multipliers[0])
    assert res.paper_suggested == PAPER_SUGGESTED_MULTIPLIERS


def test_without_a_base_lr_multipliers_are_relative_to_the_innermost_stage(tmp_path):
    recs = healthy_records(multipliers=(2.0, 1.0))
    for r in recs:
        del r["lr"]
    res = analyze_lr_ratio(records_run(tmp_path, recs, settings(learning_rate=None)))
    assert res.multipliers_relative_to == "innermost_stage"
    assert res.multipliers == pytest.approx((2.0, 1.0))


def test_lr_ratio_reads_checkpoint_param_groups_when_no_stage_lr_is_logged(tmp_path):
    import torch

    model = torch.nn.ModuleList([torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)])
    opt = torch.optim.AdamW([
        {"params": model[0].parameters(), "lr": 2.5e-3, "lr_multiplier": 2.5, "stage": 0},
        {"params": model[1].parameters(), "lr": 1e-3, "lr_multiplier": 1.0, "stage": 1},
    ])
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 10}, tmp_path / "ckpt.pt")
    recs = [{"step": s, "loss": 3.0} for s in range(20)]
    res = analyze_lr_ratio(records_run(tmp_path, recs))
    assert res.source == "checkpoint", res.reason
    assert res.multipliers == (2.5, 1.0) and res.stage_lrs == pytest.approx((2.5e-3, 1e-3))


def test_lr_ratio_falls_back_to_config_multipliers(tmp_path):
    recs = [{"step": s, "loss": 3.0} for s in range(20)]
    res = analyze_lr_ratio(records_run(tmp_path, recs, settings(lr_multipliers=(2.0, 1.5, 1.0))))
    assert res.source == "config" and res.max_min_ratio == 2.0
    assert res.rule_multipliers is None  # no widths known: the rule is not guessed


def test_lr_ratio_without_any_per_stage_lr_gives_no_data(tmp_path):
    res = analyze_lr_ratio(records_run(tmp_path, [{"step": s, "loss": 3.0, "lr": 1e-3} for s in range(20)]))
    assert res.status == "no_data" and res.multipliers == ()


def test_spiky_stage_is_compared_with_the_stage_of_the_largest_multiplier(tmp_path):
    run = records_run(tmp_path / "a", healthy_records(multipliers=(3.0, 1.0), grad_spikes={250: 20.0, 450: 20.0}), settings())
    res = analyze_lr_ratio(run)
    assert res.stage_spike_counts == (2, 0)
    assert res.most_spiky_stage == 0 and res.largest_stage_is_most_spiky is True
    calm = analyze_lr_ratio(records_run(tmp_path / "b", healthy_records(multipliers=(3.0, 1.0)), settings()))
    assert calm.stage_spike_counts == (0, 0) and calm.largest_stage_is_most_spiky is None


def test_plots_draw_lr_per_stage_and_the_warmup_window(tmp_path):
    run = records_run(tmp_path, healthy_records(multipliers=(2.0, 1.0)), settings())
    assert len(analyze_lr_ratio(run).plot().get_lines()) == 2
    assert analyze_warmup(run).plot().get_title() == "Warmup"
    close_figures()


def test_without_warmup_the_instability_in_the_first_steps_is_measured_in_the_window(tmp_path):
    recs = healthy_records(warmup=0)
    for r, loss in zip(recs[1:6], [4.6, 5.2, 5.5, 5.7, 4.8]):
        r["loss"] = loss
        r["grad_norm"] *= 6
        r["clipped"] = 1.0
    res = analyze_warmup(records_run(tmp_path, recs, settings(warmup_steps=0)))
    assert res.warmup_steps == 0 and res.near_window[0] == 0
    assert res.window_loss_rise == pytest.approx(5.7 / 4.6 - 1, rel=0.05) and res.window_loss_rise_step == 4
    assert res.window_clip_rate > 0.05
    assert res.window_max_norm_ratio > 5


def test_a_config_warmup_of_zero_wins_over_lr_logs_that_start_at_step_one(tmp_path):
    recs = healthy_records(warmup=0)[1:]  # logging starts at step 1, LR already at its peak
    res = analyze_warmup(records_run(tmp_path, recs, settings(warmup_steps=0)))
    assert res.warmup_steps == 0 and res.warmup_steps_lr == 1 and res.source == "config"
