"""Each rule fires on evidence, stays silent on healthy evidence, and says no-data without it.

Analyzer results are built directly from the analyzers' own dataclasses, so these tests
pin the predicates, not the detectors (those have their own tests).
"""
from __future__ import annotations

import pytest

from hnet_diag.analyzers.convergence import ConvergenceResult
from hnet_diag.analyzers.decoding import DecodingResult
from hnet_diag.analyzers.generation import GenerationResult
from hnet_diag.analyzers.gradients import GradientResult, StageGradients
from hnet_diag.analyzers.load_balance import LoadBalanceResult, StageBalance
from hnet_diag.analyzers.loss import LossResult, NonFinite
from hnet_diag.analyzers.ranks import RankDeparture, RankResult
from hnet_diag.analyzers.schedule import LRRatioResult, WarmupResult
from hnet_diag.analyzers.spikes import Spike
from hnet_diag.rules.registry import BY_CODE, PROBLEM_CODES
from hnet_diag.rules.engine import evaluate
from hnet_diag.rules.rule import Severity, Status
from hnet_diag.run import TrainingSettings


def spike(step, ratio, phase="after_warmup", metric="grad_norm", loss_after=False):
    return Spike(metric=metric, step=step, value=ratio * 0.5, local_median=0.5, ratio=ratio, z=20.0,
                 end_step=step, phase=phase, lr=3e-4, loss_spike_after=loss_after)


TRAINING = TrainingSettings(learning_rate=3e-4, max_grad_norm=1.0, ratio_loss_weight=0.03)

GRAD_OK = GradientResult(n_points=500, first_step=0, last_step=499, spikes=(spike(1, 20.0, "first_steps"),),
                         max_grad_norm=1.0, clip_rate=0.01, clip_rate_after_warmup=0.01, norm_start=0.6, norm_end=0.4,
                         norm_decades_drop=0.18, loss_relative_change=-0.6, first_steps_note="a large norm at step 1 is normal")
GRAD_SPIKY = GradientResult(n_points=500, first_step=0, last_step=499,
                            spikes=(spike(1, 20.0, "first_steps"), spike(120, 7.0), spike(130, 4.0), spike(300, 2.0)),
                            stages=(StageGradients(0, "grad_norm/stage0", 500, 0.3, (spike(120, 9.0, metric="grad_norm/stage0"),
                                                                                      spike(130, 5.0, metric="grad_norm/stage0"))),
                                    StageGradients(1, "grad_norm/stage1", 500, 0.3, ())),
                            max_grad_norm=1.0, clip_rate=0.01, clip_rate_after_warmup=0.01)
GRAD_CLIPPED = GradientResult(n_points=500, first_step=0, last_step=499, max_grad_norm=0.1, clip_rate=0.95,
                              clip_rate_after_warmup=0.97, norm_start=0.5, norm_end=0.45, norm_decades_drop=0.05,
                              loss_relative_change=-0.5)
GRAD_VANISHED = GradientResult(n_points=500, first_step=0, last_step=499, norm_start=1.0, norm_end=0.001,
                               norm_decades_drop=3.0, loss_relative_change=-0.01)

WARM_OK = WarmupResult(warmup_steps=100, planned_steps=1000, warmup_fraction=0.1, fraction_of="planned_steps",
                       near_window=(80, 150), grad_spikes_near_end=0, spikes_total=0, concentration=0.0, lr_metric="lr")
WARM_SHORT = WarmupResult(warmup_steps=20, planned_steps=1000, warmup_fraction=0.02, fraction_of="planned_steps",
                          near_window=(15, 60), spikes_near_end=(spike(25, 6.0), spike(30, 5.0), spike(40, 4.0)),
                          grad_spikes_near_end=3, loss_spikes_near_end=1, spikes_total=5, fraction_near_end=0.8,
                          window_fraction=0.045, concentration=17.8, lr_metric="lr")

LR_OK = LRRatioResult(multipliers=(2.0, 1.5, 1.0), max_min_ratio=2.0, largest_stage=0, rule_multipliers=(2.63, 1.52, 0.72),
                      rule_max_min_ratio=3.65, stage_spike_counts=(0, 0, 0), largest_stage_is_most_spiky=False)
LR_STEEP = LRRatioResult(multipliers=(8.0, 1.5, 0.5), max_min_ratio=16.0, largest_stage=0,
                         rule_multipliers=(2.63, 1.52, 0.72), rule_max_min_ratio=3.65, stage_spike_counts=(0, 0, 0),
                         largest_stage_is_most_spiky=False)
LR_UNSTABLE_OUTER = LRRatioResult(multipliers=(3.0, 1.7, 0.9), max_min_ratio=3.33, largest_stage=0,
                                  rule_multipliers=(2.63, 1.52, 0.72), rule_max_min_ratio=3.65,
                                  stage_spike_counts=(5, 1, 0), most_spiky_stage=0, largest_stage_is_most_spiky=True)

CONV_OK = ConvergenceResult(loss_metric="loss", planned_steps=1000, last_step=999, fraction_completed=1.0,
                            tail_window=(800, 999), tail_points=200, loss_at_tail_start=1.5, slope_per_1k=-0.01, slope_relative_per_1k=-0.005, trend_z=-1.0,
                            lr_metric="lr", lr_peak=3e-4, lr_last=1e-6, lr_last_over_peak=0.003,
                            val_metric="val_loss", val_points=10, best_val=1.5, best_val_step=999, last_val=1.5,
                            last_val_step=999, val_increase_relative=0.0)
CONV_CUT = ConvergenceResult(loss_metric="loss", planned_steps=3000, last_step=999, fraction_completed=0.333,
                             tail_window=(800, 999), tail_points=200, loss_at_tail_start=2.0, slope_per_1k=-0.5, slope_relative_per_1k=-0.3, trend_z=-8.0,
                             lr_metric="lr", lr_peak=3e-4, lr_last=3e-4, lr_last_over_peak=1.0,
                             val_metric="val_loss", val_points=10, best_val=1.5, best_val_step=400, last_val=1.8,
                             last_val_step=999, val_increase_relative=0.2)

LOSS_OK = LossResult(loss_metric="loss", n_points=1000, final_loss=1.5, running_min=1.48, running_min_step=990,
                     final_over_min=1.01, end_trend_z=-1.0)
LOSS_NAN = LossResult(loss_metric="loss", n_points=1000, loss_nonfinite_count=40, nonfinite_count=40,
                      first_nonfinite_step=600, nonfinite=(NonFinite("loss", 600, 40, 40, 0),))
LOSS_DIVERGED = LossResult(loss_metric="loss", n_points=1000, final_loss=4.0, running_min=1.5, running_min_step=300,
                           final_over_min=2.67, end_trend_z=5.0)
LOSS_SPIKY = LossResult(loss_metric="loss", n_points=1000, final_loss=1.5, running_min=1.48, final_over_min=1.01,
                        spikes=(spike(200, 1.8, metric="loss"), spike(2, 3.0, "first_steps", "loss")))


def stage(i, comp=3.0, target=3.0, rl=1.0, undecided=0.05):
    return StageBalance(stage=i, tail_window=(800, 999), target=target, ratio_loss=rl, ratio_loss_excess=rl - 1.0,
                        compression=comp, compression_relative_error=(comp - target) / target,
                        boundary_frac=1 / comp, f_times_target=target / comp, undecided_frac=undecided)


LB_OK = LoadBalanceResult(stages=(stage(0), stage(1)))
LB_BAD = LoadBalanceResult(stages=(stage(0, comp=12.0, rl=1.4, undecided=0.6), stage(1)))
LB_COLLAPSE = LoadBalanceResult(stages=(stage(0, comp=60.0, rl=1.0), stage(1)))

GEN_OK = GenerationResult(temperature=0.7, top_p=0.9, repetition_penalty=1.1, max_new_tokens=256, training_seq_len=512,
                          max_new_over_seq_len=0.5, pure_sampling=False, has_repetition_penalty=True)
GEN_BAD = GenerationResult(temperature=1.0, top_p=1.0, repetition_penalty=None, max_new_tokens=2048, training_seq_len=512,
                           max_new_over_seq_len=4.0, pure_sampling=True, has_repetition_penalty=False)

DEC_OK = DecodingResult(max_abs_diff=2e-6, relative_max_diff=1e-7, n_sequences=4, seq_len=256)
DEC_BAD = DecodingResult(max_abs_diff=3.2, relative_max_diff=0.2, n_sequences=4, seq_len=256, first_position_above=64,
                         attention_windows=(64, -1))

RANKS_OK = RankResult(ranks=(0, 1, 2, 3), metrics=("loss", "grad_norm"), noise=(("loss", 0.25), ("grad_norm", 0.001)))
RANKS_BAD = RankResult(ranks=(0, 1, 2, 3), metrics=("loss", "grad_norm"), noise=(("loss", 0.25), ("grad_norm", 0.001)),
                       departures=(RankDeparture("loss", 2, 60, 115, 54, 120, 6.79, 62.6, 7.9, 60, 3.23, 0.0494, 0),))

HEALTHY = {"ranks": RANKS_OK, "gradients": GRAD_OK, "warmup": WARM_OK, "lr_ratio": LR_OK, "convergence": CONV_OK, "loss": LOSS_OK,
           "load_balance": LB_OK, "generation": GEN_OK, "decoding": DEC_OK, "training": TRAINING}

# code -> (results that must fire it, strings its message must quote: measured value, threshold)
BAD = {
    "HND101": ({"gradients": GRAD_SPIKY}, ["7", "120", "threshold 3x"]),
    "HND102": ({"gradients": GRAD_CLIPPED}, ["97.0%", "0.1", "threshold 50.0%"]),
    "HND103": ({"gradients": GRAD_VANISHED}, ["0.001", "3 decades", "threshold 2"]),
    "HND201": ({"warmup": WARM_SHORT}, ["15-60", "18x denser", "thresholds: 2 steps, 3x", "2.0%", "(25, 30, 40)"]),
    "HND202": ({"lr_ratio": LR_STEEP}, ["16x", "3.65x", "factor 2"]),
    "HND203": ({"convergence": CONV_CUT}, ["100.0%", "threshold 50.0%"]),
    "HND301": ({"load_balance": LB_BAD}, ["1.4000", "threshold 0.1"]),
    "HND302": ({"load_balance": LB_BAD}, ["12x", "target of 3x", "±50.0%"]),
    "HND303": ({"load_balance": LB_BAD}, ["60.0%", "threshold 50.0%"]),
    "HND401": ({"convergence": CONV_CUT}, ["999 of 3000", "33.3%", "threshold 90.0%"]),
    "HND402": ({"convergence": CONV_CUT}, ["800-999", "threshold 2.0%"]),
    "HND403": ({"convergence": CONV_CUT}, ["1.5", "step 400", "1.8", "threshold 2.0%"]),
    "HND404": ({"loss": LOSS_NAN}, ["NaN", "step 600"]),
    "HND405": ({"loss": LOSS_SPIKY}, ["1.8x", "step 200", "1.3x"]),
    "HND501": ({"generation": GEN_BAD}, ["temperature 1", "top-p 1", "temperature 1, top-p 0.99"]),
    "HND502": ({"generation": GEN_BAD}, ["unset"]),
    "HND503": ({"generation": GEN_BAD}, ["2048", "512", "threshold 1x"]),
    "HND504": ({"decoding": DEC_BAD}, ["3.2", "threshold 0.001", "window 64"]),
    "HND601": ({"ranks": RANKS_BAD}, ["rank 2", "step 60", "679.0%", "threshold 25.0%"]),
}


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
    assert f.is_alarm and f.severity is Severity.HIGH


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
