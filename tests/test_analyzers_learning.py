"""Noise-aware statistics, validation series under any name, and the learning analyzer.

Real runs from fixtures/real_runs/ where the corpus has the case (QuALITY's eval loss pinned
at ln 4, a Lightning plateau, an HMM whose training loss rebounds 40x, HF eval sets named
`eval_g<k>_loss`, an EarlyStoppingCallback state); small constructed series where it does not.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hnet_diag import load_run
from hnet_diag.analyzers import noise
from hnet_diag.analyzers.learning import analyze_learning, chance_classes, training_loss
from hnet_diag.analyzers.validation import early_stopping_state, eval_set_name, is_val_loss, val_loss_series

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs"


def _series(values, start=0, every=1):
    return pd.Series(values, index=range(start, start + every * len(values), every), dtype=float)


# -- noise ----------------------------------------------------------------------------------
def test_noise_scale_is_the_scatter_around_the_trend_not_the_trend():
    rng = np.random.default_rng(0)
    x = np.arange(2000)
    falling = 3.0 * np.exp(-x / 500) + rng.normal(0, 0.05, len(x))
    assert noise.noise_scale(_series(falling)) == pytest.approx(0.05, rel=0.25)
    smooth = 3.0 * np.exp(-x / 500)
    assert noise.noise_scale(_series(smooth)) < 1e-3


def test_noise_scale_is_unbiased_on_a_short_log_whose_trend_window_is_three_points():
    """A 60-point log gets a 3-point running median, which passes through a third of the
    points: the raw robust std of its residuals is about half the noise. The scale must be the
    noise's own, or every "beats its own noise" test is twice as easy to pass on short logs."""
    rng = np.random.default_rng(3)
    for n in (40, 60, 400):
        scales = [noise.noise_scale(_series(1.0 + rng.normal(0, 0.1, n))) for _ in range(200)]
        assert float(np.median(scales)) == pytest.approx(0.1, rel=0.12), n
    assert noise.median_residual_scale(3) == pytest.approx(0.47, abs=0.02)
    assert noise.median_residual_scale(1001) == 1.0


def test_persistence_needs_consecutive_points():
    once = pd.Series([False] * 5 + [True] + [False] * 5)
    lasting = pd.Series([False] * 5 + [True] * 4 + [False] * 2)
    assert not noise.persistent(once, min_points=3)
    assert noise.persistent(lasting, min_points=3)
    assert noise.longest_run(lasting)[2] == 4
    assert noise.holds_at_end(pd.Series([False, True, True])) and not noise.holds_at_end(lasting)


def test_rise_from_best_is_measured_on_the_trend_and_against_the_scatter():
    rng = np.random.default_rng(1)
    flat_noisy = _series(1.0 + rng.normal(0, 0.02, 30))
    r = noise.rise_from_best(flat_noisy)
    assert 2 < r.rise_over_noise < 6  # the best point of flat noise is biased low by a few scatters
    rising = _series(np.r_[np.linspace(1.0, 0.8, 10), np.linspace(0.8, 1.2, 10)] + rng.normal(0, 0.01, 20))
    r = noise.rise_from_best(rising)
    assert r.rise_relative > 0.3 and r.rise_over_noise > 10


def test_a_small_stage_spike_weighs_its_share_and_the_total_that_did_not_move():
    steps = range(200)
    total = _series([1.0] * 200)
    stage = _series([0.003] * 120 + [0.18] + [0.003] * 79)  # 60x jump of a 0.3% stage
    w = noise.stage_spike_weight(120, stage, total, loss=_series([2.0] * 200))
    assert w.stage_ratio == pytest.approx(60, rel=0.01)
    assert w.stage_share == pytest.approx(0.003, rel=0.01) and w.weight < 1
    assert not w.total_reacted and not w.loss_reacted
    assert len(list(steps)) == 200


# -- validation names ------------------------------------------------------------------------
@pytest.mark.parametrize("tag,is_val,set_name", [
    ("eval_loss", True, ""), ("val_loss", True, ""), ("val/loss", True, ""), ("validation_loss", True, ""),
    ("eval_g3_loss", True, "g3"), ("val_loss_epoch", True, ""), ("val loss", True, ""),
    ("loss/val", True, ""), ("train_loss", False, ""), ("eval_runtime", False, ""), ("eval_accuracy", False, ""),
])
def test_validation_loss_names(tag, is_val, set_name):
    assert is_val_loss(tag) is is_val
    if is_val:
        assert eval_set_name(tag) == set_name


def test_each_eval_set_keeps_its_own_series_on_a_real_hf_run():
    run = load_run(REAL / "trainer_state_viz_12030")
    series = val_loss_series(run)
    assert sorted(series) == [f"eval_g{k}_loss" for k in range(6)]
    state = json.loads((REAL / "trainer_state_viz_12030" / "trainer_state.json").read_text())
    g0 = [e["eval_g0_loss"] for e in state["log_history"] if "eval_g0_loss" in e]
    assert list(series["eval_g0_loss"]) == pytest.approx(g0)


def test_early_stopping_callback_state_is_read_from_a_real_trainer_state():
    es = early_stopping_state(load_run(REAL / "tinyllama_earlystop"))
    assert es.patience == 4 and es.counter == 0 and not es.triggered
    assert es.best_checkpoint.endswith("checkpoint-2800")


def test_early_stopping_triggered_when_the_counter_reaches_patience(tmp_path):
    state = {"global_step": 300, "max_steps": 1000, "best_metric": 0.5, "log_history": [
        {"step": s, "loss": 1.0} for s in range(10, 310, 10)],
        "stateful_callbacks": {"EarlyStoppingCallback": {"args": {"early_stopping_patience": 3, "early_stopping_threshold": 0.0},
                                                         "attributes": {"early_stopping_patience_counter": 3}}}}
    (tmp_path / "trainer_state.json").write_text(json.dumps(state))
    assert early_stopping_state(load_run(tmp_path)).triggered


# -- learning ---------------------------------------------------------------------------------
def test_eval_loss_pinned_at_ln4_with_accuracy_at_chance_on_quality():
    r = analyze_learning(load_run(REAL / "quality_lrqa_chance"))
    (p,) = r.pinned
    assert p.metric == "eval_loss" and p.chance_classes == 4
    assert p.accuracy == pytest.approx(0.27, abs=0.03) and p.accuracy_chance == 0.25
    assert r.gain_relative < 0.02


@pytest.mark.parametrize("level,fires", [
    (math.log(5), True),  # pinned at ln 5, a uniform guess over 5 classes: no learning, training loss or not
    (0.8123, False),  # pinned at a value that is no ln k: perhaps a model done learning before its first evaluation
])
def test_an_eval_only_log_is_judged_by_a_validation_loss_pinned_at_chance(tmp_path, level, fires):
    """An evaluation-only trainer_state (no training loss, as multimodal_bert_roberta_vit_evalonly_300
    in the real corpus): HND407 reads the pinned validation loss without a training-loss curve, and
    only one pinned at ln(k) is evidence there."""
    from hnet_diag import diagnose

    state = {"global_step": 300, "max_steps": 300, "log_history": [
        {"step": s, "epoch": s / 100, "eval_loss": level * (1 + 1e-4 * i), "eval_accuracy": 0.2}
        for i, s in enumerate((100, 200, 300))]}
    (tmp_path / "trainer_state.json").write_text(json.dumps(state))
    f = diagnose(load_run(tmp_path)).finding("HND407")
    assert f.is_alarm is fires
    if fires:
        assert "eval_loss stayed at 1.61 over 3 evaluations" in f.message and "= ln(5)" in f.message


def test_chance_classes_matches_ln_k_only():
    assert chance_classes(math.log(2)) == 2 and chance_classes(math.log(1000)) == 1000
    assert chance_classes(0.75) is None and chance_classes(1.3) is None


def test_a_rebound_is_measured_on_the_trend_of_a_real_run():
    r = analyze_learning(load_run(REAL / "hmm_vi_rebound_v108"))
    assert r.end_over_min > 20 and r.given_back > 1 and r.end_share_above_2x == 1.0
    healthy = analyze_learning(load_run(REAL / "slm_lightning_v0"))
    assert healthy.end_over_min < 1.2 and healthy.gain_relative > 0.1


def test_a_loss_under_another_name_is_still_the_training_loss(tmp_path):
    rows = "".join(f"{s},{3 - s / 100},{1 - s / 300},{'nan' if s >= 60 else 0.5}\n" for s in range(100))
    (tmp_path / "metrics.csv").write_text("step,mean_loss,recon_loss,kl_loss\n" + rows)
    run = load_run(tmp_path)
    assert training_loss(run)[0] == "mean_loss"


def test_gradient_collapse_to_exact_zero(tmp_path):
    rows = [{"step": s, "loss": 0.5, "grad_norm": 1.0 if s < 50 else 0.0} for s in range(100)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = analyze_learning(load_run(tmp_path))
    assert r.grad_zero_tail == 50 and r.grad_first_zero_step == 50 and r.grad_zero_share == 0.5


# -- the analyzers' new measures ---------------------------------------------------------------
def test_a_nan_loss_from_the_first_step_is_measured_not_missing(tmp_path):
    rows = [{"step": s, "loss": float("nan"), "grad_norm": float("nan")} for s in range(1, 30)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r).replace("NaN", "NaN") + "\n" for r in rows))
    from hnet_diag.analyzers.loss import analyze_loss

    r = analyze_loss(load_run(tmp_path))
    assert r.ok and r.loss_nonfinite_count == 29 and r.first_nonfinite_step == 1


def test_a_nan_in_one_term_of_a_loss_without_a_plain_loss_column_is_counted(tmp_path):
    rows = "".join(f"{s},{3 - s / 100 if s < 60 else 'nan'},{1 - s / 300},{'nan' if s >= 60 else 0.5}\n" for s in range(100))
    (tmp_path / "metrics.csv").write_text("step,mean_loss,recon_loss,kl_loss\n" + rows)
    from hnet_diag.analyzers.loss import analyze_loss

    r = analyze_loss(load_run(tmp_path))
    assert r.loss_metric == "mean_loss" and r.loss_nonfinite_count == 40
    assert {n.metric for n in r.nonfinite} >= {"mean_loss", "kl_loss"}


def test_stage_share_and_weighted_spikes_reach_the_gradient_result(tmp_path):
    rows = []
    for s in range(300):
        stage1 = 0.18 if s == 200 else 0.003
        rows.append({"step": s, "loss": 2.0, "grad_norm": 1.0, "grad_norm/stage0": 1.0, "grad_norm/stage1": stage1})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    from hnet_diag.analyzers.gradients import analyze_gradients

    r = analyze_gradients(load_run(tmp_path))
    st1 = next(s for s in r.stages if s.stage == 1)
    assert st1.share == pytest.approx(0.003)
    (w,) = [w for w in st1.weighted if w.step == 200]
    assert w.stage_ratio == pytest.approx(60) and not w.total_reacted and w.weight < 1


def test_non_increasing_fit_pools_every_climb_into_a_flat_step():
    fit = noise.non_increasing_fit(np.array([5.0, 4.0, 6.0, 3.0, 3.5, 1.0]))
    assert fit.tolist() == [5.0, 5.0, 5.0, 3.25, 3.25, 1.0]
    assert (np.diff(fit) <= 0).all()


def _decaying(n, sigma, seed):
    rng = np.random.default_rng(seed)
    return _series(np.linspace(5.0, 3.0, n) * (1 + sigma * rng.standard_normal(n)), start=1)


def test_rise_p_value_is_rarely_small_for_noise_and_small_for_a_real_climb():
    """The climb of a noisy loss above its running minimum is judged against simulated
    noise-only runs: on 100 decaying series of pure 5% noise p is seldom under 1% (measured:
    4 in 100, against 1 for an exact test: the scatter read around a running median runs a
    little low), while the same series with a 40% bump over four of its first steps always is."""
    from hnet_diag.analyzers.trend import max_rise_above_running_min

    small = []
    for seed in range(100):
        s = _decaying(300, 0.05, seed)
        rise, _ = max_rise_above_running_min(s, None, 10)
        small.append(noise.rise_p_value(s, rise, noise.relative_noise_scale(s), None, 10) <= 0.01)
        bumped = s.copy()
        bumped.iloc[5:9] *= 1.4
        rise, _ = max_rise_above_running_min(bumped, None, 10)
        assert noise.rise_p_value(bumped, rise, noise.relative_noise_scale(bumped), None, 10) <= 0.01
    assert sum(small) <= 6


def test_rise_p_value_on_a_trend_grows_with_the_number_of_points_the_extremes_span():
    """A fixed 2x-the-scatter bar is the same on a 20-point and a 2000-point log; the noise
    extremes are not: the same rise is more surprising on the short one."""
    p_short = noise.rise_p_value(_decaying(20, 0.1, 1), 0.25, 0.1, 1, 20, window=3)
    p_long = noise.rise_p_value(_decaying(2000, 0.1, 1), 0.25, 0.1, 1, 2000, window=3)
    assert p_short < p_long


def test_rise_p_value_thins_a_long_log_and_still_tells_noise_from_a_climb():
    from hnet_diag.analyzers.trend import max_rise_above_running_min

    s = _decaying(50_000, 0.05, 7)
    w = noise.trend_window(len(s))
    rise, _ = max_rise_above_running_min(noise.smooth_trend(s), 5000, 10_000)
    assert noise.rise_p_value(s, rise, noise.relative_noise_scale(s), 5000, 10_000, window=w) > 0.01
    bumped = s.copy()
    bumped.iloc[7000:9000] *= 1.3
    rise, _ = max_rise_above_running_min(noise.smooth_trend(bumped), 5000, 10_000)
    assert rise > 0.2
    assert noise.rise_p_value(bumped, rise, noise.relative_noise_scale(bumped), 5000, 10_000, window=w) <= 0.01


def test_rise_p_value_is_unknown_for_a_loss_that_goes_negative_or_has_no_noise():
    s = _series([0.1, -0.2, 0.3, -0.1, 0.2, 0.0])
    assert noise.rise_p_value(s, 0.5, 0.1) is None
    assert noise.rise_p_value(_decaying(50, 0.05, 1), 0.5, 0.0) is None
    assert noise.rise_p_value(_decaying(50, 0.05, 1), None, 0.05) is None


def test_warmup_window_rise_on_the_trend_ignores_per_step_noise(tmp_path):
    rng = np.random.default_rng(3)
    rows = [{"step": s, "loss": float(2.0 + 0.4 * np.exp(-s / 100) + rng.normal(0, 0.12)),
             "lr": 1e-4 * min(1.0, (s + 1) / 50)} for s in range(1000)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    from hnet_diag.analyzers.warmup import analyze_warmup

    r = analyze_warmup(load_run(tmp_path))
    assert r.window_loss_rise > 0.15  # a raw point climbs 15% above the running minimum: noise
    assert r.window_loss_rise_trend < 0.05 and r.loss_noise_relative > 0.04


def test_every_eval_set_gets_a_curve_and_early_stopping_reaches_convergence():
    from hnet_diag.analyzers.convergence import analyze_convergence

    c = analyze_convergence(load_run(REAL / "trainer_state_viz_12030"))
    assert {v.metric for v in c.val_curves} == {f"eval_g{k}_loss" for k in range(6)}
    g0 = next(v for v in c.val_curves if v.metric == "eval_g0_loss")
    assert g0.rise_relative > 1 and g0.rise_over_noise > 5 and g0.points_after_best > 20
    assert c.val_metric is not None  # no canonical val_loss: the set that rose most stands for them
    es = analyze_convergence(load_run(REAL / "tinyllama_earlystop")).early_stopping
    assert es is not None and es.patience == 4


def test_a_transient_spike_comes_back_down_and_a_step_up_is_no_spike():
    rng = np.random.default_rng(3)
    x = 1.0 + rng.normal(0, 0.01, 300)
    x[100] = 2.5  # one point, back at once
    x[200:] += 1.5  # a level shift that stays
    spikes, scale = noise.transient_spikes(_series(x, every=10))
    assert [s.step for s in spikes] == [1000]
    assert spikes[0].ratio == pytest.approx(2.5, rel=0.05) and spikes[0].z > 50 and scale == pytest.approx(0.01, rel=0.3)
    assert spikes[0].back_step == 1020


def test_loss_spike_on_a_real_pinn_run_and_none_on_the_bundled_healthy_run():
    from hnet_diag import diagnose

    real = diagnose(load_run(REAL / "pinn_pendulum_spike_v31"))
    f = next(x for x in real.alarms if x.code == "HND405")
    assert f.evidence.steps == (4949,) and f.evidence.measured > 10  # z in noise scales
    healthy = diagnose(load_run(REAL.parent / "runs" / "healthy"))
    assert "HND405" not in {x.code for x in healthy.alarms}


# -- a training loss exactly constant from the start ---------------------------------------------
def _codes(run_dir):
    from hnet_diag import diagnose

    return {f.code: f for f in diagnose(load_run(run_dir)).findings}


def test_a_loss_exactly_zero_from_its_second_point_is_no_learning_on_a_real_llamafactory_run():
    """graduate_agent_llamafactory (tuning half): 122.14 at step 10, then exactly 0.0 at 36 points
    (every label masked out of the loss). The gain rule cannot judge it (its head median is 0)."""
    run = load_run(REAL / "graduate_agent_llamafactory")
    r = analyze_learning(run)
    assert (r.constant_points, r.constant_value, r.constant_from_step, r.constant_from_start) == (36, 0.0, 20, True)
    assert r.constant_grad_median is None  # LLaMA-Factory logs no grad norm
    f = _codes(REAL / "graduate_agent_llamafactory")["HND407"]
    assert f.status.value == "fail"
    assert "exactly 0 at each of its last 36 logged points (steps 20-370)" in f.message
    assert f.evidence.window == (20, 370) and f.evidence.measured == 36


def test_a_loss_that_fell_and_was_rounded_to_zero_at_the_end_learned(tmp_path):
    # a memorising fine-tune logged at 4 decimals: 0.0 only once it got there
    losses = [round(2.0 * 0.8**i, 4) for i in range(40)] + [0.0] * 10
    rows = [{"current_steps": 10 * (i + 1), "total_steps": 500, "loss": v, "lr": 1e-4}
            for i, v in enumerate(losses)]
    (tmp_path / "trainer_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = analyze_learning(load_run(tmp_path))
    assert r.constant_value == 0.0 and r.constant_points >= 10 and not r.constant_from_start
    assert _codes(tmp_path)["HND407"].status.value == "pass"


def test_a_grpo_loss_of_zero_while_gradients_flow_is_a_surrogate_not_a_plateau(tmp_path):
    """GRPO with beta 0 logs loss 0.0 by construction while it trains (huggingface/open-r1#239,
    huggingface/trl#2703); the grad norms below are the ones printed in huggingface/trl#3452."""
    grads = [0.09568341821432114, 0.10015729814767838, 0.11633292585611343, 0.10906606912612915,
             0.12483209371566772, 0.1010, 0.0987, 0.1150]
    state = {"global_step": 8, "max_steps": 8, "log_history": [
        {"step": i + 1, "loss": 0.0, "grad_norm": gn, "learning_rate": 3e-6, "reward": 1.8 + 0.01 * i}
        for i, gn in enumerate(grads)]}
    (tmp_path / "trainer_state.json").write_text(json.dumps(state))
    r = analyze_learning(load_run(tmp_path))
    assert r.constant_from_start and r.constant_points == 8 and r.constant_grad_median > 0.09
    f = _codes(tmp_path)["HND407"]
    assert f.status.value == "pass"
    assert "surrogate loss" in f.message and "judge learning by the reward" in f.message
    # the same run with no gradient reaching the model is not learning
    for rec in state["log_history"]:
        rec["grad_norm"] = 0.0
    (tmp_path / "trainer_state.json").write_text(json.dumps(state))
    assert _codes(tmp_path)["HND407"].status.value == "fail"


def test_a_rise_above_the_running_minimum_is_measured_only_on_a_positive_loss():
    from hnet_diag.analyzers.trend import max_rise_above_running_min

    steps = range(10, 110, 10)
    ce = pd.Series([2.0, 1.6, 1.4, 1.3, 1.7, 1.25, 1.2, 1.2, 1.1, 1.1], index=steps)
    rise, step = max_rise_above_running_min(ce)
    assert step == 50 and rise == pytest.approx(1.7 / 1.3 - 1)
    # a GRPO-style surrogate centred on 0: 0.0133 after -0.0143 is no 900% rise, it is no ratio at all
    surrogate = pd.Series([8e-4, -0.0143, 3e-4, 0.0133, -5e-4, 2e-3, -1e-3, 2.5e-3, 1e-4, 3e-3], index=steps)
    assert max_rise_above_running_min(surrogate) == (None, None)
    # a loss rounded to 0.0 once fitted is still a positive loss: its zeros are left out
    rounded = pd.Series([0.4, 0.1, 0.02, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0], index=steps)
    assert max_rise_above_running_min(rounded)[0] == pytest.approx(0.0)


def test_a_grpo_surrogate_loss_has_no_warmup_rise():
    """gptoss_minesweeper_grpo_500 (real, validation; SEEN.toml): a surrogate between -0.014 and
    0.013 read as 'the loss trend rose 900% above its running minimum'; now no rise is measured."""
    from hnet_diag.analyzers import analyze_all

    real = Path(__file__).resolve().parents[1] / "fixtures" / "real_runs" / "gptoss_minesweeper_grpo_500"
    warmup = analyze_all(load_run(real))["warmup"]
    assert warmup.window_loss_rise is None and warmup.window_loss_rise_trend is None


def test_typical_step_change_counts_the_trend_that_point_scatter_ignores():
    line = _series(np.linspace(1.0, 0.5, 11))  # falls 0.05 per point, no noise
    assert noise.point_scatter(line) == pytest.approx(0.0, abs=1e-12)
    assert noise.typical_step_change(line) == pytest.approx(0.05)
    assert noise.typical_step_change(_series([1.0, 0.9])) == 0.0  # too short to say


def _val_log(tmp_path, val_losses):
    run = tmp_path / "run"
    run.mkdir()
    rows = ["epoch,loss,val_loss"] + [f"{i},{1.0 / (i + 1):.4f},{v}" for i, v in enumerate(val_losses)]
    (run / "training_log.csv").write_text("\n".join(rows) + "\n")
    return run


@pytest.mark.parametrize("val_losses,fires", [
    # a smooth curve that turned up at its last two epochs by no more than it moved each epoch on
    # the way down (the shape of fixtures/real_runs/deepfake_cnn_keras_7): not yet overfitting,
    # and the pass says to watch it
    ([0.563, 0.523, 0.495, 0.457, 0.469, 0.498, 0.534], False),
    # the same descent, then up and staying up well beyond its own movement: overfitting
    ([0.563, 0.523, 0.495, 0.457, 0.52, 0.60, 0.66], True),
    # flat at its best: nothing to watch
    ([0.563, 0.523, 0.495, 0.457, 0.458, 0.457, 0.458], False),
])
def test_a_rise_must_outrun_the_curves_own_movement_between_evaluations(tmp_path, val_losses, fires):
    from hnet_diag import diagnose

    d = diagnose(load_run(_val_log(tmp_path, val_losses)))
    assert ("HND403" in {f.code for f in d.alarms}) is fires
    (f,) = [f for f in d.findings if f.code == "HND403"]
    assert "x its typical move between evaluations" in f.message
    turned = val_losses[-1] > val_losses[3] * 1.05 and not fires
    assert ("not yet beyond its own movement between evaluations, so watch" in f.message) is turned


def test_a_climb_that_keeps_most_of_the_gain_is_no_divergence():
    # fixtures/real_runs/volatility_rebound_csv_19 (tuning half): the training loss falls 2.58 ->
    # 0.061 and climbs every epoch to 0.55, 5x its minimum yet a sixth of what it had learned
    from hnet_diag import diagnose

    d = diagnose(load_run(REAL / "volatility_rebound_csv_19"))
    (f,) = [f for f in d.findings if f.code == "HND404"]
    assert f.status.value == "pass"
    assert "rising, but it gave back only 16.4% of what it had learned (threshold 25.0%)" in f.message


def test_a_climb_that_gives_back_the_gain_is_divergence(tmp_path):
    from hnet_diag import diagnose

    run = tmp_path / "run"
    run.mkdir()
    loss = list(np.linspace(2.6, 0.1, 14)) + [0.3, 0.6, 0.9, 1.2, 1.5, 1.8]  # back to 70% of the start
    (run / "training_log.csv").write_text("epoch,loss\n" + "".join(f"{i},{v:.4f}\n" for i, v in enumerate(loss)))
    d = diagnose(load_run(run))
    (f,) = [f for f in d.alarms if f.code == "HND404"]
    assert f.severity.value == "critical" and "and still rising" in f.message


def test_overfitting_is_judged_without_a_training_loss_curve():
    # fixtures/real_runs/legalbert_complaint_evalrise_500: 49 evaluations, one training-loss record;
    # the convergence analyzer has no loss curve, the validation curves are still there to judge
    from hnet_diag import diagnose

    d = diagnose(load_run(REAL / "legalbert_complaint_evalrise_500"))
    (f,) = [f for f in d.alarms if f.code == "HND403"]
    assert "eval_loss rose from its best 4.07" in f.message


@pytest.mark.parametrize("val_losses,fires", [
    # flat noisy series, one lucky low alone in the middle (both neighbours at the level), ending at
    # its level: no best to rise from
    ([1.00, 1.01, 0.99, 1.00, 1.02, 0.90, 1.00, 1.01, 0.99, 1.00, 1.01, 0.995, 0.99], False),
    # a descent to the best, then a rise that stays: the level held from the best on (1.0) is
    # what the end is judged against; all earlier points (median 1.065) would count the descent
    ([2.0, 1.6, 1.3, 1.1, 0.92, 0.90, 0.95, 1.0, 1.05, 1.08, 1.06, 1.05], True),
    # a dip of several points (btc_attention_lstm_32's shape, stock_lstm_yndx's): the neighbours of
    # the best stay low, so the end is judged from the best, not against the level held since
    ([1.0, 0.6, 0.3, 0.12, 0.10, 0.14, 0.3, 0.5, 0.62, 0.66, 0.64, 0.6, 0.58, 0.56], True),
])
def test_a_lucky_low_is_judged_against_the_level_held_from_the_best_on(tmp_path, val_losses, fires):
    from hnet_diag import diagnose

    d = diagnose(load_run(_val_log(tmp_path, val_losses)))
    assert ("HND403" in {f.code for f in d.alarms}) is fires


def test_a_first_evaluation_never_reached_again_is_a_best_to_rise_from():
    # fixtures/real_runs/whisper_small_braj (tuning half): eval_loss 2.55 at the first evaluation,
    # then 3.2-4.46, easing to 3.14, 3.42 at the end: below the level held since the best (3.6) but
    # 23% above the best; with no evaluation before it the best is no lone dip (best_alone)
    from hnet_diag import diagnose

    d = diagnose(load_run(REAL / "whisper_small_braj"))
    (v,) = d.results.convergence.val_curves
    assert not v.best_alone and v.end_over_typical < 0
    (f,) = [f for f in d.alarms if f.code == "HND403"]
    assert "eval_loss rose from its best 2.55" in f.message


def test_a_long_dip_then_a_return_is_overfitting():
    # fixtures/real_runs/btc_attention_lstm_32 (tuning half): val_loss 0.10-0.11, a dip to its best
    # 6.3e-4 (epochs 12-21), back to 0.06-0.106: the end sits below the median of all earlier
    # evaluations but above the level held from the best on
    from hnet_diag import diagnose

    (f,) = [f for f in diagnose(load_run(REAL / "btc_attention_lstm_32")).alarms if f.code == "HND403"]
    assert f.severity.value == "high" and "val_loss rose from its best" in f.message
