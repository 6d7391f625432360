"""Messages must not contradict their own evidence."""
from pathlib import Path

from hnet_diag import diagnose, load_run

HEALTHY = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "healthy"


def test_a_passing_spike_check_names_the_isolated_spike_it_measured_instead_of_saying_none():
    finding = diagnose(load_run(HEALTHY)).finding("HND101")
    # the committed healthy run has exactly one moderate spike after warmup (fixtures/runs/README.md)
    assert finding.status.value == "pass"
    assert len(finding.evidence.steps) == 1 and finding.evidence.measured >= 3.0
    assert "isolated spike" in finding.message
    assert f"step {finding.evidence.steps[0]}" in finding.message

NAN_RUN = HEALTHY.parent / "nan_divergence"


def test_the_nan_message_gives_the_loss_own_first_bad_step_and_the_earlier_grad_norm_one():
    run = load_run(NAN_RUN)
    loss = run.metric("loss")
    first_loss_nan = int(loss[~loss.apply(lambda v: v == v and abs(v) != float("inf"))].index.min())
    grad = run.metric("grad_norm")
    first_grad_bad = int(grad[~grad.apply(lambda v: v == v and abs(v) != float("inf"))].index.min())
    message = diagnose(run).finding("HND404").message
    assert f"first at step {first_loss_nan}" in message
    assert first_grad_bad < first_loss_nan and f"grad_norm was already non-finite at step {first_grad_bad}" in message


# -- every placeholder of every text a finding shows has a value ------------------------------

import pytest  # noqa: E402

from hnet_diag.rules.engine import MissingFact, evaluate, fill  # noqa: E402
from hnet_diag.rules.registry import RULES  # noqa: E402

from conftest import FIXTURE_RUNS, fixture_results  # noqa: E402
from test_rules_healthy import CASES  # noqa: E402


def test_strict_filling_fails_on_a_placeholder_without_a_value():
    assert fill("{a} of {b}", {"a": 1, "b": "x"}, strict=True) == "1 of x"
    assert fill("{a} of {b}", {"a": 1}) == "1 of ?"  # a user's report degrades, it does not crash
    for facts in ({"a": 1}, {"a": 1, "b": None}, {"a": 1, "b": "?"}, {"a": 1, "b": "?x"}):
        with pytest.raises(MissingFact):
            fill("{a} of {b}", facts, strict=True)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_every_text_a_rule_shows_fills_all_its_placeholders(rule):
    """On every predicate test case and every committed fixture run; a gap raises MissingFact."""
    seen = set()
    for results in CASES + [fixture_results(name) for name in FIXTURE_RUNS]:
        f = evaluate(rule, results, strict=True)
        seen.add(f.status)
        assert "?" not in f.message, f.message
    assert len(seen) >= 2, f"{rule.code}: only {seen} seen, the check would be vacuous"


def test_gradient_spikes_say_whether_the_loss_felt_them(tmp_path):
    import json

    # a real healthy run (fixtures/real_runs): two single-point spikes the loss never felt
    t5 = diagnose(load_run(HEALTHY.parents[1] / "real_runs" / "t5_summarization_215k")).finding("HND101")
    assert t5.status.value == "warn" and t5.severity.value == "medium"  # how sure: the weakest evidence
    assert "each a single logged point, and the loss did not react to any of them" in t5.message
    # the same shape with the loss jumping right after the second spike: critical, and said so
    rows = []
    for s in range(1, 401):
        gn = 1.0 + 0.01 * (s % 7)
        loss = 3.0 - s / 400
        if s in (200, 300):
            gn = 40.0
        if s in (301, 302):
            loss += 2.0
        rows.append({"step": s, "loss": loss, "grad_norm": gn, "lr": 1e-3})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    felt = diagnose(load_run(tmp_path)).finding("HND101")
    assert felt.status.value == "fail" and felt.severity.value == "critical"
    assert "followed by a loss spike" in felt.message and "did not react" not in felt.message


def test_a_loss_rise_after_warmup_must_beat_the_loss_own_scatter():
    """HND201's rise above the running minimum (biased low on a noisy loss) must be at least 2x
    the loss's scatter around its trend: on rlhf_recsys_reward_336 (healthy) one logged point of
    0.25 lifts a 3-point trend 17.2%, within its 37.3% scatter (33 points: a 3-point trend, whose
    residuals' raw scale, 17.6%, is under half the noise); on convnext_competition_4352 the 18.3%
    rise is 2.1x its 8.6% scatter and still counts."""
    real = HEALTHY.parents[1] / "real_runs"
    noisy = diagnose(load_run(real / "rlhf_recsys_reward_336")).finding("HND201")
    assert noisy.status.value == "pass"
    assert "loss rise 17.2% (threshold 15.0%), within 2x the loss's own scatter of 37.3%" in noisy.message
    clear = diagnose(load_run(real / "convnext_competition_4352")).finding("HND201")
    assert clear.status.value == "fail"
    assert "2.1x the loss's own scatter of 8.6%, threshold 2x" in clear.message


def test_a_first_steps_bump_that_noise_would_often_make_is_not_a_warmup_finding():
    """llama2_hr_inf_grad_70 (real, tuning half): all of its first 10 grad norms above twice the
    later median and a 43.4% climb of a 70-point per-step loss, beyond twice its scatter but one
    that noise-only runs of that scatter reach 10.5% of the time. gemma3_ocr_lora_perstep_60 (real,
    tuning half): loss 1.13, 1.57, 1.18 in its first steps, a 38.8% climb within twice its 20.7%
    scatter (a 60-point log: the scale is corrected for its 3-point trend). The bundled
    no_warmup run's 23% climb (a 2.1% scatter) is one noise never reaches."""
    real = HEALTHY.parents[1] / "real_runs"
    rare = diagnose(load_run(real / "llama2_hr_inf_grad_70")).finding("HND201")
    assert rare.status.value == "pass"
    assert "the loss rose 43.4%, a climb noise alone reaches in 10.5% of 400 simulated runs" in rare.message
    bump = diagnose(load_run(real / "gemma3_ocr_lora_perstep_60")).finding("HND201")
    assert bump.status.value == "pass"
    assert "the loss rose 38.8%, within 2x the loss's own scatter of 20.7%" in bump.message
    unstable = diagnose(load_run(HEALTHY.parent / "no_warmup")).finding("HND201")
    assert unstable.is_alarm and "a climb noise alone reaches in 0.2% of 400 simulated runs" in unstable.message


def test_a_run_cut_short_is_reported_even_with_too_few_loss_points_for_a_curve():
    """distilbert_hotel_sentiment_1500 (real, tuning half): trainer_state.json plans 8280 steps
    and stops at 1500 with 3 logged losses. The plan and the last step need no loss curve, so
    HND401 judges it; the rules that read the curve still say there is not enough of it."""
    d = diagnose(load_run(HEALTHY.parents[1] / "real_runs" / "distilbert_hotel_sentiment_1500"))
    cut = d.finding("HND401")
    assert cut.is_alarm and "the run stopped at step 1500 of 8280 planned (18.1%; threshold 90.0%)" in cut.message
    assert cut.recommendation.flags == ("--resume", "--max-steps 8280")
    assert d.finding("HND402").status.value == "no-data"
    # the validation curve needs no training-loss curve: HND403 reads its 3 evaluations
    judged = d.finding("HND403")
    assert judged.status.value == "pass" and "eval_loss 0.254 at step 1500, best 0.254" in judged.message
    assert "too few points for its scatter" in judged.message and "n/a" not in judged.message


def test_a_loss_that_rose_before_it_ever_fell_is_a_rebound_and_said_so():
    """camels_ada_lightning_v22 (real, tuning half): train loss 0.22 for its first points, then
    3.8 and 5.3 to the end. Its minimum is its first tenth, so there was no gain to give back;
    HND406 reads that as a rise from the start (not "too few points"), and HND404, which wants a
    still-rising end, passes without claiming the loss ended near its minimum."""
    run = diagnose(load_run(HEALTHY.parents[1] / "real_runs" / "camels_ada_lightning_v22"))
    rebound = run.finding("HND406")
    assert rebound.status.value == "fail" and rebound.evidence.measured > 20
    assert "already at that minimum: it rose without having learned first" in rebound.message
    nan_or_rising = run.finding("HND404")
    assert nan_or_rising.status.value == "pass"
    assert "within 1.5x" not in nan_or_rising.message and "but no longer rising" in nan_or_rising.message


def test_a_validation_loss_that_was_never_finite_is_a_broken_evaluation_not_divergence(tmp_path):
    """bertmini_wikiqa_evalnan_43800 (real, validation; SEEN.toml): eval_loss NaN at all 7
    evaluations while the training loss stayed finite. A val_loss that turns NaN after finite
    values still counts (a model that broke), and so does a NaN training loss."""
    import json
    import math

    real = HEALTHY.parents[1] / "real_runs" / "bertmini_wikiqa_evalnan_43800"
    f = diagnose(load_run(real)).finding("HND404")
    assert f.status.value == "pass"
    assert "val_loss was non-finite at every one of its 7 evaluations" in f.message
    rows = [{"step": s, "loss": 3.0 - s / 200, "grad_norm": 1.0} for s in range(1, 201)]
    rows += [{"step": s, "val_loss": (2.5 if s < 150 else math.nan)} for s in range(50, 201, 50)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    broke = diagnose(load_run(tmp_path)).finding("HND404")
    assert broke.is_alarm and "non-finite values in val_loss (2, first at step 150)" in broke.message


def test_the_schedule_is_judged_without_a_loss_curve_but_not_on_three_lr_values():
    """tft_sales_constlr_lightning_150 (real, tuning half): Lightning logs the LR (0.03 at all 30
    epochs) but its training loss mostly per epoch under another name, so there are 3 per-step
    losses and no loss curve; the LR at the end needs none. distilbert_hotel_sentiment_1500 logs
    3 LR values: no schedule to judge."""
    const = diagnose(load_run(HEALTHY.parents[1] / "real_runs" / "tft_sales_constlr_lightning_150")).finding("HND203")
    assert const.is_alarm and "the LR was 0.03, 100.0% of its peak 0.03" in const.message
    three = diagnose(load_run(HEALTHY.parents[1] / "real_runs" / "distilbert_hotel_sentiment_1500")).finding("HND203")
    assert three.status.value == "no-data"
