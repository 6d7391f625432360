"""Each rule fires on evidence, stays silent on healthy evidence, and says no-data without it.

Analyzer results are built directly from the analyzers' own dataclasses, so these tests
pin the predicates, not the detectors (those have their own tests).
"""
from __future__ import annotations

import pytest

from hnet_diag.analyzers.convergence import ConvergenceResult, ValCurve
from hnet_diag.analyzers.learning import LearningResult
from hnet_diag.analyzers.gradients import GradientResult, StageGradients
from hnet_diag.analyzers.loss import LossResult, NonFinite
from hnet_diag.analyzers.lr_ratio import LRRatioResult
from hnet_diag.analyzers.warmup import WarmupResult
from hnet_diag.rules.registry import BY_CODE, PROBLEM_CODES
from hnet_diag.rules.engine import evaluate
from hnet_diag.rules.rule import Severity, Status
from hnet_diag.run import TrainingSettings

from conftest import (
    BAD, CONV_CUT, CONV_OK, DEC_BAD, GRAD_SPIKY, HEALTHY, LB_BAD, LB_COLLAPSE, LEARN_OK, LEARN_REBOUND, LOSS_DIVERGED,
    LOSS_NAN, LOSS_OK, LOSS_SPIKY, LR_OK, LR_STEEP, LR_UNSTABLE_OUTER, TRAINING, WARM_OK, WARM_SHORT, spike,
)


def test_every_problem_rule_has_a_firing_case():
    assert set(BAD) == set(PROBLEM_CODES)


@pytest.mark.parametrize("code", sorted(BAD))
def test_rule_fires_on_evidence_and_quotes_value_and_threshold(code):
    results, quotes = BAD[code]
    f = evaluate(BY_CODE[code], {**HEALTHY, **results})
    assert f.is_alarm, f.message
    assert f.status is (Status.FAIL if f.severity.rank >= Severity.HIGH.rank else Status.WARN)
    for q in quotes:
        assert q in f.message, (q, f.message)
    assert f.recommendation is not None and f.recommendation.text


@pytest.mark.parametrize("code", sorted(BAD))
def test_rule_stays_silent_on_healthy_evidence(code):
    f = evaluate(BY_CODE[code], HEALTHY)
    assert f.status is Status.PASS, f.message
    assert f.recommendation is None


@pytest.mark.parametrize("code", sorted(BAD))
def test_rule_says_no_data_when_its_analyzer_had_nothing(code):
    rule = BY_CODE[code]
    empty = {k: type(HEALTHY[k]).no_data("nothing logged") for k in rule.reads}
    f = evaluate(rule, {**HEALTHY, **empty})
    assert f.status is Status.NO_DATA and not f.is_alarm


def test_a_large_norm_in_the_first_steps_alone_is_not_explosion():
    only_early = GradientResult(n_points=500, spikes=(spike(1, 50.0, "first_steps"), spike(40, 9.0, "warmup")))
    assert evaluate(BY_CODE["HND101"], {"gradients": only_early}).status is Status.PASS


def test_spikes_followed_by_loss_spikes_make_explosion_critical():
    g = GradientResult(n_points=500, spikes=(spike(120, 4.0, loss_after=True),))
    f = evaluate(BY_CODE["HND101"], {"gradients": g, "training": TRAINING})
    assert f.severity is Severity.CRITICAL
    assert "--learning-rate 1.5e-4" in f.recommendation.flags


def test_user_threshold_silences_small_spikes():
    g = GradientResult(n_points=500, spikes=(spike(120, 4.0), spike(300, 5.0)))
    assert evaluate(BY_CODE["HND101"], {"gradients": g}).is_alarm
    assert not evaluate(BY_CODE["HND101"], {"gradients": g}, {"min_ratio": 8}).is_alarm


def test_one_moderate_spike_is_noise_but_one_huge_spike_is_not():
    one = GradientResult(n_points=500, spikes=(spike(120, 6.0),))
    assert evaluate(BY_CODE["HND101"], {"gradients": one}).status is Status.PASS
    huge = GradientResult(n_points=500, spikes=(spike(120, 40.0),))
    f = evaluate(BY_CODE["HND101"], {"gradients": huge})
    # one logged point that the loss was seen not to feel: reported, at medium
    assert f.is_alarm and f.severity is Severity.MEDIUM and "single logged point" in f.message
    two = GradientResult(n_points=500, spikes=(spike(120, 5.0), spike(300, 5.0)))
    assert evaluate(BY_CODE["HND101"], {"gradients": two}).severity is Severity.MEDIUM
    felt = GradientResult(n_points=500, spikes=(spike(120, 40.0, loss_after=True),))
    assert evaluate(BY_CODE["HND101"], {"gradients": felt}).severity is Severity.CRITICAL


def test_how_sure_the_spikes_are_sets_the_grade():
    from dataclasses import replace

    # spikes that lasted several logged points are the rule's own high, felt by the loss or not
    lasting = GradientResult(n_points=500, spikes=tuple(replace(spike(s, 6.0), n_points=3, end_step=s + 2) for s in (120, 300)))
    assert evaluate(BY_CODE["HND101"], {"gradients": lasting}).severity is Severity.HIGH
    # so are single points where no loss was logged to tell: an unknown reaction is not "unfelt"
    unknown = GradientResult(n_points=500, spikes=(spike(120, 5.0, loss_after=None), spike(300, 5.0, loss_after=None)))
    assert evaluate(BY_CODE["HND101"], {"gradients": unknown}).severity is Severity.HIGH
    # one the loss felt among fleeting ones makes it critical
    mixed = GradientResult(n_points=500, spikes=(spike(120, 5.0), spike(300, 5.0, loss_after=True)))
    assert evaluate(BY_CODE["HND101"], {"gradients": mixed}).severity is Severity.CRITICAL


def test_a_small_stage_spike_the_total_and_the_loss_did_not_feel_is_no_explosion():
    from hnet_diag.analyzers.noise import WeightedSpike

    quiet = tuple(WeightedSpike(step=s, stage_ratio=60.0, stage_share=0.005, total_ratio=1.0, loss_ratio=1.0, weight=0.3)
                  for s in (150, 250, 350))
    stage1 = StageGradients(1, "grad_norm/stage1", 500, 0.003, tuple(spike(s, 60.0, metric="grad_norm/stage1") for s in (150, 250, 350)),
                            share=0.005, weighted=quiet)
    gr = GradientResult(n_points=500, stages=(StageGradients(0, "grad_norm/stage0", 500, 0.9, ()), stage1))
    assert evaluate(BY_CODE["HND101"], {"gradients": gr}).status is Status.PASS
    felt = tuple(WeightedSpike(step=w.step, stage_ratio=60.0, stage_share=0.005, total_ratio=3.0, loss_ratio=1.0, weight=0.3)
                 for w in quiet)
    gr2 = GradientResult(n_points=500, stages=(StageGradients(0, "grad_norm/stage0", 500, 0.9, ()),
                                               StageGradients(**{**stage1.__dict__, "weighted": felt})))
    assert evaluate(BY_CODE["HND101"], {"gradients": gr2}).is_alarm


def test_overfitting_needs_the_rise_to_beat_the_series_scatter():
    # the case: +3.3% for a validation loss whose point scatter is about 2%
    noisy = ValCurve("eval_loss", 12, 1.0, 400, 1.033, 1200, 0.033, 0.025, 0.02, 1.65, 4, 0.01)
    conv = ConvergenceResult(**{**CONV_OK.__dict__, "val_curves": (noisy,)})
    assert evaluate(BY_CODE["HND403"], {"convergence": conv}).status is Status.PASS
    # one of several eval sets rising is enough, and the message names it
    rising = ValCurve("eval_g3_loss", 12, 1.0, 400, 1.4, 1200, 0.4, 0.38, 0.02, 20.0, 8, 0.2)
    conv = ConvergenceResult(**{**CONV_OK.__dict__, "val_curves": (noisy, rising)})
    f = evaluate(BY_CODE["HND403"], {"convergence": conv})
    assert f.is_alarm and "eval_g3_loss" in f.message and "1 of 2 eval sets" in f.message


def test_a_run_stopped_by_its_early_stopping_callback_says_so_at_low_severity():
    from hnet_diag.analyzers.validation import EarlyStopping

    es = EarlyStopping(source="trainer_state.json", patience=3, counter=3, threshold=0.0, best_metric=0.41,
                       best_checkpoint="out/checkpoint-600")
    conv = ConvergenceResult(**{**CONV_CUT.__dict__, "early_stopping": es})
    f = evaluate(BY_CODE["HND401"], {"convergence": conv})
    assert f.is_alarm and f.severity is Severity.LOW
    assert "EarlyStoppingCallback" in f.message and "patience of 3" in f.message and "checkpoint-600" in f.message


def test_no_learning_from_a_flat_training_loss_alone():
    flat = LearningResult(**{**LEARN_OK.__dict__, "gain_relative": -0.16, "head_median": 2.2, "tail_median": 2.6})
    f = evaluate(BY_CODE["HND407"], {"learning": flat})
    assert f.is_alarm and "gain of -16.0%" in f.message


def test_a_nan_loss_is_not_also_called_a_rebound():
    nan = LossResult(**{**LOSS_NAN.__dict__})
    assert evaluate(BY_CODE["HND406"], {"learning": LEARN_REBOUND, "loss": nan}).status is Status.NO_DATA


def test_a_rebound_must_climb_beyond_the_losss_own_scatter():
    # the same shape (2.5x the minimum, held, more than all the gain given back) at two noise levels
    shape = dict(loss_metric="loss", points=5000, head_median=0.0025, tail_median=0.0012, head_window=(0, 499),
                 tail_window=(4000, 4999), gain_relative=0.5, trend_min=0.0005, trend_min_step=3249,
                 end_level=0.00125, end_over_min=2.5, given_back=0.375, end_share_above_2x=0.6)
    calm = evaluate(BY_CODE["HND406"], {"learning": LearningResult(**shape, noise=0.0001), "loss": LOSS_OK})
    assert calm.is_alarm and "7.5x the loss's own scatter" in calm.message
    noisy = evaluate(BY_CODE["HND406"], {"learning": LearningResult(**shape, noise=0.0007), "loss": LOSS_OK})
    assert noisy.status is Status.PASS and "within 2x the loss's own scatter 7e-4" in noisy.message
    assert evaluate(BY_CODE["HND406"], {"learning": LEARN_REBOUND, "loss": LOSS_OK}).is_alarm  # scatter unknown


def test_per_stage_spikes_and_small_loss_blips_near_warmup_end_are_not_significant():
    noisy = WarmupResult(**{**WARM_SHORT.__dict__, "spikes_near_end": (
        spike(26, 20.0, "warmup", metric="grad_norm/stage1"), spike(36, 6.0), spike(40, 1.15, metric="loss"))})
    f = evaluate(BY_CODE["HND201"], {"warmup": noisy})
    assert f.status is Status.PASS and "significant spikes 1 (threshold 2)" in f.message


def test_multipliers_near_eq11_are_not_a_finding_unless_the_largest_stage_is_unstable():
    calm = LRRatioResult(**{**LR_UNSTABLE_OUTER.__dict__, "stage_spike_counts": (0, 0, 0), "largest_stage_is_most_spiky": False})
    assert evaluate(BY_CODE["HND202"], {"lr_ratio": calm}).status is Status.PASS
    f = evaluate(BY_CODE["HND202"], {"lr_ratio": LR_UNSTABLE_OUTER})
    assert f.status is Status.FAIL and f.severity is Severity.HIGH and f.evidence.stage == 0
    assert "--lr-multipliers 2.0,1.5,1.0" in f.recommendation.flags


def test_the_papers_suggested_multipliers_are_never_too_flat():
    assert evaluate(BY_CODE["HND202"], {"lr_ratio": LR_OK}).status is Status.PASS


def test_warmup_ratio_alone_is_not_evidence():
    short_but_calm = WarmupResult(**{**WARM_SHORT.__dict__, "grad_spikes_near_end": 0, "loss_spikes_near_end": 0,
                                     "spikes_near_end": (), "concentration": 0.0})
    assert evaluate(BY_CODE["HND201"], {"warmup": short_but_calm}).status is Status.PASS


def test_compression_collapse_is_critical():
    f = evaluate(BY_CODE["HND302"], {"load_balance": LB_COLLAPSE, "training": TRAINING})
    assert f.severity is Severity.CRITICAL and "collapsed" in f.message


def test_ratio_loss_weight_zero_is_recommended_back_to_the_papers_alpha():
    t = TrainingSettings(ratio_loss_weight=0.0)
    f = evaluate(BY_CODE["HND302"], {"load_balance": LB_BAD, "training": t})
    assert "--ratio-loss-weight 0.03" in f.recommendation.flags


def test_divergence_by_a_rising_loss_is_critical():
    f = evaluate(BY_CODE["HND404"], {"loss": LOSS_DIVERGED})
    assert f.severity is Severity.CRITICAL and "2.67x" in f.message


@pytest.mark.parametrize("code", ["HND901", "HND902", "HND903", "HND904", "HND905", "HND906", "HND907", "HND908", "HND909"])
def test_healthy_signs_pass_on_healthy_evidence_and_are_absent_otherwise(code):
    f = evaluate(BY_CODE[code], HEALTHY)
    assert f.is_positive, f.message
    bad = {**HEALTHY, "gradients": GRAD_SPIKY, "load_balance": LB_BAD, "loss": LOSS_SPIKY, "convergence": CONV_CUT,
           "decoding": DEC_BAD, "lr_ratio": LR_STEEP}
    g = evaluate(BY_CODE[code], bad)
    assert not g.is_positive and not g.is_alarm


def test_nan_in_a_timing_column_is_not_divergence():
    timing = LossResult(**{**LOSS_OK.__dict__, "nonfinite": (NonFinite("step_time", 0, 1, 1, 0),), "nonfinite_count": 1})
    assert evaluate(BY_CODE["HND404"], {"loss": timing}).status is Status.PASS
    grad = LossResult(**{**LOSS_OK.__dict__, "nonfinite": (NonFinite("grad_norm", 50, 3, 0, 3),), "nonfinite_count": 3})
    assert evaluate(BY_CODE["HND404"], {"loss": grad}).is_alarm


def test_a_trend_from_a_handful_of_final_points_is_no_data():
    few = ConvergenceResult(**{**CONV_CUT.__dict__, "tail_points": 6})
    assert evaluate(BY_CODE["HND402"], {"convergence": few}).status is Status.NO_DATA


def test_the_drop_quoted_never_exceeds_the_whole_loss():
    collapsing = ConvergenceResult(**{**CONV_CUT.__dict__, "loss_at_tail_start": 0.08, "slope_per_1k": -2.0})
    f = evaluate(BY_CODE["HND402"], {"convergence": collapsing})
    assert "100.0%" in f.message


def test_a_minority_of_spikes_on_the_largest_stage_does_not_blame_the_multipliers():
    spread = LRRatioResult(**{**LR_OK.__dict__, "stage_spike_counts": (2, 2, 2), "largest_stage_is_most_spiky": True})
    assert evaluate(BY_CODE["HND202"], {"lr_ratio": spread}).status is Status.PASS


def test_with_the_papers_alpha_already_set_the_advice_is_to_let_the_router_settle():
    f = evaluate(BY_CODE["HND301"], {"load_balance": LB_BAD, "training": TRAINING})
    assert f.recommendation.flags == () and "train longer" in f.recommendation.text


def test_repeated_spikes_on_one_stage_are_instability_even_when_the_total_norm_is_calm():
    calm_total = GradientResult(n_points=500, spikes=(), stages=(
        StageGradients(0, "grad_norm/stage0", 500, 0.5, ()),
        StageGradients(1, "grad_norm/stage1", 500, 0.1, tuple(spike(s, 5.0, metric="grad_norm/stage1") for s in (65, 93, 209))),
    ))
    f = evaluate(BY_CODE["HND101"], {"gradients": calm_total})
    assert f.is_alarm and f.evidence.stage == 1 and "stage 1's gradient norm" in f.message
    one_big = GradientResult(n_points=500, spikes=(), stages=(
        StageGradients(2, "grad_norm/stage2", 500, 0.01, (spike(29, 14.0, metric="grad_norm/stage2"),)),))
    assert evaluate(BY_CODE["HND101"], {"gradients": one_big}).status is Status.PASS


def test_steep_multipliers_with_an_unstable_stage_are_high_and_point_at_that_stage():
    gr = GradientResult(n_points=500, stages=(
        StageGradients(0, "grad_norm/stage0", 500, 0.5, ()),
        StageGradients(1, "grad_norm/stage1", 500, 0.1, tuple(spike(s, 5.0, metric="grad_norm/stage1") for s in (65, 93))),
    ))
    f = evaluate(BY_CODE["HND202"], {"lr_ratio": LR_STEEP, "gradients": gr})
    assert f.severity is Severity.HIGH and f.evidence.stage == 1


def test_a_global_spike_at_the_end_of_warmup_does_not_blame_the_largest_stage():
    gr = GradientResult(n_points=500, stages=tuple(
        StageGradients(i, f"grad_norm/stage{i}", 500, 0.1, (spike(29, 50.0, "warmup", f"grad_norm/stage{i}"),)) for i in range(3)))
    assert evaluate(BY_CODE["HND202"], {"lr_ratio": LR_UNSTABLE_OUTER, "gradients": gr}).status is Status.PASS


def test_a_loss_rise_once_the_lr_peaked_is_warmup_instability_but_not_one_before():
    rise_after = WarmupResult(**{**WARM_OK.__dict__, "window_loss_rise": 0.23, "window_loss_rise_step": 120})
    f = evaluate(BY_CODE["HND201"], {"warmup": rise_after})
    assert f.is_alarm and "23.0%" in f.message and "step 120" in f.message
    rise_before = WarmupResult(**{**WARM_OK.__dict__, "window_loss_rise": 0.23, "window_loss_rise_step": 90})
    assert evaluate(BY_CODE["HND201"], {"warmup": rise_before}).status is Status.PASS
    noise = WarmupResult(**{**WARM_OK.__dict__, "window_loss_rise": 0.07, "window_loss_rise_step": 120})
    assert evaluate(BY_CODE["HND201"], {"warmup": noise}).status is Status.PASS


def test_without_warmup_unstable_first_steps_are_the_evidence():
    no_warm = WarmupResult(warmup_steps=0, planned_steps=300, warmup_fraction=0.0, fraction_of="planned_steps",
                           near_window=(1, 30), concentration=None)
    rough = GradientResult(n_points=300, first_steps=10, first_steps_high_norms=9, first_steps_loss_rise=0.23)
    f = evaluate(BY_CODE["HND201"], {"warmup": no_warm, "gradients": rough})
    assert f.is_alarm and "9 of the first 10 steps" in f.message
    assert "--warmup-steps 30" in f.recommendation.flags
    calm = GradientResult(n_points=300, first_steps=10, first_steps_high_norms=1, first_steps_loss_rise=0.0)
    assert evaluate(BY_CODE["HND201"], {"warmup": no_warm, "gradients": calm}).status is Status.PASS


def test_without_warmup_a_first_steps_loss_rise_within_the_losss_scatter_is_not_evidence():
    # the same 23% rise and high norms: instability on a loss whose own scatter is 2%, noise
    # on one whose scatter is 27% (a per-step log of a noisy fine-tune)
    no_warm = WarmupResult(warmup_steps=0, planned_steps=300, warmup_fraction=0.0, fraction_of="planned_steps",
                           near_window=(1, 30), concentration=None, loss_noise_relative=0.02)
    rough = GradientResult(n_points=300, first_steps=10, first_steps_high_norms=9, first_steps_loss_rise=0.23,
                           high_norm_factor=2.0)
    f = evaluate(BY_CODE["HND201"], {"warmup": no_warm, "gradients": rough})
    assert f.is_alarm and "the loss rose 23.0%, 12x its own scatter of 2.0% (thresholds: 50.0% of the steps, a rise of 15.0% and 2x the scatter)" in f.message
    noisy = WarmupResult(**{**no_warm.__dict__, "loss_noise_relative": 0.27})
    f = evaluate(BY_CODE["HND201"], {"warmup": noisy, "gradients": rough})
    assert f.status is Status.PASS
    assert "the loss rose 23.0%, within 2x the loss's own scatter of 27.0%" in f.message


def test_a_warmup_rise_noise_alone_would_often_reach_is_not_evidence():
    """Beyond 2x the scatter, the climb must be one a loss that never rose, with this
    scatter, rarely shows (p <= 1% of simulated runs): the extremes of a long noisy log
    drift apart further than those of a short one."""
    from dataclasses import replace

    after_peak = WarmupResult(warmup_steps=500, planned_steps=1281, warmup_fraction=0.39, fraction_of="planned_steps",
                              near_window=(250, 628), concentration=None, window_loss_rise_trend=0.328,
                              window_loss_rise_trend_step=580, loss_noise_relative=0.117, window_loss_rise_trend_p=0.03)
    f = evaluate(BY_CODE["HND201"], {"warmup": after_peak})
    assert f.status is Status.PASS
    assert "a climb noise alone reaches in 3.0% of 400 simulated runs of a loss that never rose (threshold 1.0%)" in f.message
    f = evaluate(BY_CODE["HND201"], {"warmup": replace(after_peak, window_loss_rise_trend_p=0.0025)})
    assert f.is_alarm and "noise alone climbs as far in 0.2% of 400 simulated runs, threshold 1.0%" in f.message

    no_warm = WarmupResult(warmup_steps=0, planned_steps=300, warmup_fraction=0.0, fraction_of="planned_steps",
                           near_window=(1, 30), concentration=None, loss_noise_relative=0.058)
    rough = GradientResult(n_points=300, first_steps=10, first_steps_high_norms=10, first_steps_loss_rise=0.207,
                           first_steps_loss_rise_p=0.087, high_norm_factor=2.0)
    f = evaluate(BY_CODE["HND201"], {"warmup": no_warm, "gradients": rough})
    assert f.status is Status.PASS and "the loss rose 20.7%, a climb noise alone reaches in 8.7%" in f.message
    f = evaluate(BY_CODE["HND201"], {"warmup": no_warm, "gradients": replace(rough, first_steps_loss_rise_p=0.005)})
    assert f.is_alarm and "a climb noise alone reaches in 0.5% of 400 simulated runs" in f.message


def test_a_collapse_with_the_papers_alpha_recommends_a_gentler_start_not_more_ratio_loss():
    t = TrainingSettings(learning_rate=0.1, ratio_loss_weight=0.03, warmup_steps=0, max_steps=300)
    f = evaluate(BY_CODE["HND302"], {"load_balance": LB_COLLAPSE, "training": t})
    assert f.recommendation.flags == ("--learning-rate 5e-2", "--warmup-steps 30")
    assert f.recommendation.actions == ("learning_rate:down", "warmup_steps:up")


def test_spikes_on_the_outer_stage_never_blame_the_papers_suggested_multipliers_but_do_blame_steeper_ones():
    gr = GradientResult(n_points=500, stages=(
        StageGradients(0, "grad_norm/stage0", 500, 0.5, tuple(spike(s, 8.0, metric="grad_norm/stage0") for s in (80, 150, 257))),
        StageGradients(1, "grad_norm/stage1", 500, 0.1, ()),
    ))
    spiky_outer = {**LR_OK.__dict__, "stage_spike_counts": (3, 0, 0)}
    assert evaluate(BY_CODE["HND202"], {"lr_ratio": LRRatioResult(**spiky_outer), "gradients": gr}).status is Status.PASS
    f = evaluate(BY_CODE["HND202"], {"lr_ratio": LR_UNSTABLE_OUTER, "gradients": gr})
    assert f.status is Status.FAIL and f.evidence.stage == 0


def test_lr_not_annealed_follows_the_labelling_guides_thirty_percent():
    from dataclasses import replace

    def at(frac):
        return evaluate(BY_CODE["HND203"], {"convergence": replace(CONV_CUT, lr_last=3e-4 * frac, lr_last_over_peak=frac)})
    assert at(0.30).is_alarm and at(0.38).is_alarm  # a cosine-to-10% run cut at ~70% of its decay
    assert not at(0.29).is_alarm and not at(0.10).is_alarm  # a cosine schedule's usual floor


def test_loss_spikes_more_often_than_one_point_in_a_hundred_are_noise_not_spikes():
    from dataclasses import replace

    from hnet_diag.analyzers.noise import TransientSpike

    def jumps(k):
        return tuple(TransientSpike(step=100 + 10 * i, value=3.0, level=1.5, ratio=2.0, z=20.0, back_step=102 + 10 * i,
                                    back_value=1.5) for i in range(k))
    rule = BY_CODE["HND405"]
    assert evaluate(rule, {"loss": replace(LOSS_SPIKY, n_points=400, transient=jumps(3))}).is_alarm  # <= max(3, 4)
    crowded = evaluate(rule, {"loss": replace(LOSS_SPIKY, n_points=400, transient=jumps(5))})
    assert not crowded.is_alarm and "heavy-tailed noise" in crowded.message
    many = evaluate(rule, {"loss": replace(LOSS_SPIKY, n_points=1000, transient=jumps(6))})
    assert many.is_alarm and many.severity is Severity.HIGH
    small = jumps(1)[0]
    for weak in (replace(small, z=9.0), replace(small, ratio=1.4), replace(small, value=0.14, level=0.05, ratio=2.8)):  # rise 0.09
        assert not evaluate(rule, {"loss": replace(LOSS_SPIKY, transient=(weak,))}).is_alarm, weak
