"""HND4xx: convergence and loss health (stopped early, undertrained, overfitting,
divergence, loss spikes).

Each rule stands with its predicate; see `hnet_diag.rules` for how to add one.
"""
from __future__ import annotations

import math
from typing import Any

from ..advice import Action
from ..formatting import g, pct
from ..results import Results
from .rule import Cause, Decides, Evidence, Outcome, Rule, RuleDoc, Severity, Thresholds
from .shared import T, clip_flag, lower_lr_flags, window_of

#: evaluations without improvement before early stopping ends an overfitting run (HND403's
#: extra remedy, shown only where the trainer has one: HF's EarlyStoppingCallback, Lightning's
#: EarlyStopping); two tolerates one noisy evaluation
EARLY_STOPPING_PATIENCE = 2

#: share of its early gain (first-tenth median minus the minimum of its trend) a finite loss must
#: have given back before a climb counts as divergence: HND404's climb still rising and HND406's
#: climb that held use the one measure (LearningResult.given_back)
MIN_GIVEN_BACK = 0.25

#: metrics whose NaN/Inf means the optimisation broke (not timing or throughput columns)
TRAINING_SIGNALS = {"loss", "val_loss", "bpb", "val_bpb", "grad_norm", "ratio_loss"}
EVAL_SIGNALS = {"val_loss", "val_bpb"}


def stopped_by_callback(es: Any, val_metric: str | None) -> str:
    """What ended the run, in the callback's terms: which metric stopped improving, for how many
    evaluations against which patience, the best value and where its checkpoint is."""
    metric = es.monitor or val_metric or "the monitored metric"
    at = f" at epoch {es.stopped_epoch}" if es.stopped_epoch else ""
    if es.patience is not None and es.counter is not None and es.counter >= es.patience:
        what = (f"{metric} did not improve for {es.counter} evaluations, reaching its patience of {es.patience}")
    else:
        what = es.reason or f"{metric} met its stopping condition"
    best = f"; best {metric} {g(es.best_metric)}" if es.best_metric is not None and math.isfinite(es.best_metric) else ""
    where = f" ({es.best_checkpoint})" if es.best_checkpoint else ""
    return f"stopped by {es.callback}{at}: {what}{best}{where}; state read from {es.source}"


def check_stopped_early(r: Results, t: Thresholds) -> Outcome:
    c = r.convergence
    es = c.early_stopping
    by_callback = es is not None and es.triggered
    planned = c.fraction_completed is not None and bool(c.planned_steps)
    if not planned and not by_callback:
        return Outcome(None, {"reason": "no planned step count (max_steps) in the run's config"})
    why = "; " + stopped_by_callback(es, c.val_metric) if by_callback else ""
    facts = {"last": c.last_step, "planned": c.planned_steps, "frac": pct(c.fraction_completed), "why": why,
             "of_plan": (f" of {c.planned_steps} planned ({pct(c.fraction_completed)}; threshold "
                         f"{pct(t['min_completed'])})") if planned else " (no planned step count logged)",
             "advice": ("The early-stopping callback ended the run on purpose: judge and use its best checkpoint, "
                        "not the last one") if by_callback else
                       f"Finish the planned training: resume from the last checkpoint up to {c.planned_steps} steps",
             "flags": "" if by_callback else f"--resume --max-steps {c.planned_steps}"}
    ev = Evidence(metric=c.loss_metric, measured=c.fraction_completed if planned else None,
                  threshold=t["min_completed"],
                  window=(c.last_step, c.last_step) if c.last_step is not None else None, plot="loss.png")
    # stopped on purpose by the callback: reported, but it is the plan working, not a cut run,
    # and its advice moves no knob (never "resume to the plan" beside the callback's stop)
    fired = c.fraction_completed < t["min_completed"] if planned else True
    return Outcome(fired, facts, ev, Severity.LOW if by_callback else None, actions=() if by_callback else None)


HND401 = Rule(
    code="HND401", live="end", name="stopped-early", title="Run stopped early against its plan",
    severity=Severity.MEDIUM, area="convergence", reads=("convergence",), needs=("planned_steps",),
    reads_partial=("convergence",),  # the plan and the last step need no loss curve
    check=check_stopped_early,
    thresholds=(T("min_completed", 0.9, "fraction of the planned steps that counts as finished"),),
    message="the run stopped at step {last}{of_plan}{why}.",
    pass_message="the run reached step {last} of {planned} planned ({frac}).",
    recommendation="{advice}",
    flags=("{flags}",), actions=("max_steps:up",),
    expect="the last step at 90% or more of the plan (HND401 passes)",
    risk="More compute; if an early-stopping callback stopped the run, resuming trains past the best validation point.",
    doc=RuleDoc(
        what="Compares the last logged step with the planned steps (max_steps in the config, LLaMA-Factory's "
             "total_steps, a progress bar's N/M). A run stopped by an early-stopping callback (HF's "
             "EarlyStoppingCallback in trainer_state.json, Lightning's EarlyStopping in its checkpoints: the "
             "patience counter reached its patience) is reported as such at low severity, with the metric, "
             "the count against the patience and the best value, even without a planned step count. The plan "
             "and the last step need no loss curve: a run that logged fewer than 5 losses is judged too.",
        why="A run cut short is judged before its schedule finished: unannealed (HND203) and often still "
            "improving (HND402). Its samples say little about the recipe.",
        example="HND401 the run stopped at step 32,800 of 100,000 planned (32.8%; threshold 0.9).",
        fix="Resume with --resume up to --max-steps; if the budget was the reason, plan fewer steps so the "
            "schedule decays within it.",
    ),
    cause=Cause(
        order=30, title="Run stopped before its plan finished",
        explains=(
            ("HND203", "the run stopped before its schedule decayed the LR"),
            ("HND402", "the run stopped while the loss was still falling"),
        ),
    ),
)


def check_still_improving(r: Results, t: Thresholds) -> Outcome:
    c = r.convergence
    if c.trend_z is None or c.slope_relative_per_1k is None or not c.tail_window or c.tail_points < t["min_points"]:
        return Outcome(None, {"reason": f"fewer than {int(t['min_points'])} loss points at the end of the run for a trend"})
    span = max(c.tail_window[1] - c.tail_window[0], 1)
    if c.loss_at_tail_start and c.slope_per_1k is not None and c.loss_at_tail_start > 0:
        rel_drop = -c.slope_per_1k * span / 1000.0 / c.loss_at_tail_start  # fraction of the tail's starting loss
    else:
        rel_drop = -c.slope_relative_per_1k * span / 1000.0
    rel_drop = min(rel_drop, 1.0)  # a straight-line fit can overshoot zero on a collapsing loss
    # while the LR decays the loss drops by design (the annealing gain): only a larger
    # drop then says the model is still undertrained
    annealing = c.lr_last_over_peak is not None and c.lr_last_over_peak <= 0.5
    needed = t["min_relative_drop_annealed"] if annealing else t["min_relative_drop"]
    fired = c.trend_z <= -t["min_trend_z"] and rel_drop >= needed
    more = int(float(f"{max(2 * (c.last_step or 0), c.planned_steps or 0):.2g}"))
    facts = {
        "drop": pct(rel_drop), "lo": c.tail_window[0], "hi": c.tail_window[1], "z": g(c.trend_z, 2),
        "slope": g(c.slope_per_1k), "more": more, "needed": pct(needed),
        "flags": f"--resume --max-steps {c.planned_steps}" if c.planned_steps and c.last_step and c.last_step < c.planned_steps
        else f"--max-steps {more}",
    }
    ev = Evidence(metric=c.loss_metric, measured=rel_drop, threshold=t["min_relative_drop"], window=c.tail_window,
                  plot="loss.png")
    return Outcome(fired, facts, ev)


HND402 = Rule(
    code="HND402", live="end", name="loss-still-improving", title="Loss still improving at the last step (undertrained)",
    severity=Severity.MEDIUM, area="convergence", reads=("convergence",), needs=("loss",),
    check=check_still_improving,
    thresholds=(
        T("min_trend_z", 2.0, "Mann-Kendall z of the falling trend over the last 20% (noise-aware)"),
        T("min_relative_drop", 0.02, "the loss fell by at least this fraction over the last 20% of the run"),
        T("min_relative_drop_annealed", 0.1, "the same when the LR was annealed over that stretch (decay lowers the loss by design)"),
        T("min_points", 10, "loss points in the last 20% needed to call a trend"),
    ),
    message="the loss fell by {drop} over steps {lo}-{hi} (slope {slope} per 1,000 steps, trend z {z}; threshold "
            "{needed} and |z| >= {t_min_trend_z}).",
    pass_message="loss change over the last part: {drop} (trend z {z}).",
    recommendation="The model is still learning: train longer",
    flags=("{flags}",), actions=("max_steps:up",),
    expect="a flat loss over the last 20% of training (HND402 passes)",
    risk="More compute; watch HND403 (overfitting) on small data.",
    doc=RuleDoc(
        what="Fits a robust (Theil-Sen) slope and a Mann-Kendall trend test to the loss over the last 20% of "
             "the run.",
        why="A loss that is still clearly falling at the last step means the model is undertrained: its quality "
            "reflects the budget, not the recipe.",
        example="HND402 the loss fell by 6.1% over steps 26,000-32,800 (slope -0.012 per 1,000 steps, trend z -7.9).",
        fix="Resume training (--resume, larger --max-steps).",
    ),
    cause=Cause(
        order=130,
    ),
)


def check_overfitting(r: Results, t: Thresholds) -> Outcome:
    c = r.convergence
    curves = [v for v in c.val_curves if v.points >= t["min_val_points"]]
    if not curves:
        return Outcome(None, {"reason": f"fewer than {int(t['min_val_points'])} validation points"})

    def rose(v) -> bool:  # above the best at the end, still so at the last two points, beyond the scatter
        return (v.points_after_best >= t["min_points_after_best"]
                and (v.rise_low_relative or 0.0) > t["min_val_increase"]
                and (v.rise_over_noise is None or v.rise_over_noise >= t["min_rise_over_noise"])
                and not lucky_low(v))

    def lucky_low(v) -> bool:  # one low point alone, and the end back at the level held since it
        return (v.best_alone and v.end_over_typical is not None
                and v.end_over_typical <= t["min_end_over_typical"])

    def outran(v) -> bool:  # the rise that persisted beyond the curve's own movement between evaluations
        return v.low_rise_over_step is None or v.low_rise_over_step >= t["min_low_rise_over_step"]

    turned = [v for v in curves if rose(v)]
    fired = [v for v in turned if outran(v)]
    v = max(fired or turned or curves, key=lambda v: ((v.rise_relative or 0.0), v.metric))
    others = f" ({len(fired)} of {len(curves)} eval sets rose)" if len(curves) > 1 else ""
    facts = {"metric": v.metric, "best": g(v.best), "best_step": v.best_step, "last": g(v.last), "last_step": v.last_step,
             "rise": pct(v.rise_relative),
             "scatter": (f"{g(v.rise_over_noise, 2)}x its point scatter {g(v.noise)}" if v.rise_over_noise
                         else "too few points for its scatter"),
             "others": others,
             "moves": (f"; the lower of its last two {g(v.low_rise_over_step, 3)}x its typical move between "
                       f"evaluations {g(v.step_change)}" if v.low_rise_over_step is not None else ""),
             # a pass says when the curve turned up but has not yet outrun its own movement: watch it
             "onset": "" if fired or not turned else (
                 f", under {g(t['min_low_rise_over_step'])}x: it has turned up, not yet beyond its own movement "
                 "between evaluations, so watch the next evaluations")}
    ev = Evidence(metric=v.metric, steps=(v.best_step, v.last_step), values=(v.best, v.last), measured=v.rise_relative,
                  threshold=t["min_val_increase"], window=(v.best_step, v.last_step), plot="loss.png")
    return Outcome(bool(fired), facts, ev)


HND403 = Rule(
    code="HND403", name="overfitting", title="Overfitting (validation loss rising from its best)",
    severity=Severity.HIGH, area="convergence", reads=("convergence",), needs=("val_loss",),
    reads_partial=("convergence",),  # the validation curves need no training-loss curve
    check=check_overfitting,
    thresholds=(
        T("min_val_increase", 0.05, "both of the last two validation points above the best by this fraction: a "
                                    "validation loss wanders a few percent around a level it holds (data order, "
                                    "eval-set size), so a rise under 5% of the best is no sign of memorising"),
        T("min_rise_over_noise", 2.0, "...and the rise (best to the mean of the last two) at least this many times the "
                                      "series' own point scatter: the best of a noisy series is biased low by about that"),
        T("min_end_over_typical", 0.0, "...and the end above the median of the points from the best on (before "
                                       "the last two) by this fraction, where the best is one point alone (the "
                                       "evaluations on both sides of it nearer that median than the best): a lucky "
                                       "low point of a flat noisy series is no best to rise from; a first "
                                       "evaluation the series never came back to, or a dip of several points, is"),
        T("min_low_rise_over_step", 2.0, "...and the lower of the last two above the best by at least this many times "
                                         "the series' typical move between evaluations (trend included): a smooth "
                                         "curve that has just turned up has not yet outrun its own movement"),
        T("min_points_after_best", 2, "validation points after the best needed"),
        T("min_val_points", 3, "validation points needed"),
    ),
    message="{metric} rose from its best {best} (step {best_step}) to {last} (step {last_step}), +{rise}, "
            "{scatter}{moves} (thresholds {tp_min_val_increase}, {t_min_rise_over_noise}x, "
            "{t_min_low_rise_over_step}x){others}.",
    pass_message="{metric} {last} at step {last_step}, best {best} at step {best_step} (+{rise}, {scatter}"
                 "{moves}{onset}){others}.",
    recommendation="Use the checkpoint nearest the best validation step ({best_step}) and stop there, or add data",
    flags=("--max-steps {best_step}",), actions=("max_steps:down",),
    offers=(Action("early_stopping", to=True, optional=True, params=(("patience", EARLY_STOPPING_PATIENCE),)),),
    expect="validation loss at its best at the last evaluation (HND403 passes)",
    risk="Stopping earlier leaves the LR schedule unfinished unless --max-steps is set before training.",
    doc=RuleDoc(
        what="Every validation loss (one per eval set: eval_loss, eval_<set>_loss, val/*, validation_*): its best "
             "against its last two points, the rise against the series' own point scatter (robust, blind to "
             "a steady trend), and the rise that persisted against the series' typical move between evaluations "
             "(trend included): a smooth curve that has only just turned up, by less than twice its own movement, "
             "is not yet overfitting (the pass says so: watch the next evaluations).",
        why="Validation loss rising while training loss falls means the model memorises its training data; "
            "further steps make it worse.",
        example="HND403 eval_loss rose from its best 1.21 (step 4,000) to 1.34 (step 8,000), +10.7%, 9.3x its point "
                "scatter 0.014; the lower of its last two 3.1x its typical move between evaluations 0.03 "
                "(thresholds 5.0%, 2x, 2x).",
        fix="Stop at the best step (--max-steps), use more data, or regularise.",
    ),
    cause=Cause(
        order=140,
        # the training loss still falling at the end (HND402) reads as "undertrained, train longer";
        # beside a validation loss that rose from its best and stays up it is memorisation
        decides=(Decides(
            "HND402",
            evidence="{this.evidence.metric} rose from its best {this.evidence.values[0]:.3g} at step "
                     "{this.evidence.steps[0]} to {this.evidence.values[1]:.3g} at step {this.evidence.steps[1]} "
                     "while the training loss still fell by {other.evidence.measured:.1%} "
                     "over steps {other.evidence.window[0]}-{other.evidence.window[1]}: the rising validation series "
                     "decides, since a model that fits its training data better and held-out data worse is "
                     "overfitting, not undertrained, and more steps would widen the gap",
            note="this is the training loss only: {this.evidence.metric} rose from its best at step "
                 "{this.evidence.steps[0]} ({this.code}), so the run overfits rather than being undertrained, and "
                 "no more steps are recommended",
        ),),
    ),
)


def check_divergence(r: Results, t: Thresholds) -> Outcome:
    lo = r.loss
    nonfinite_loss = lo.loss_nonfinite_count > 0
    climbing = (
        lo.final_over_min is not None
        and lo.final_over_min >= t["max_final_over_min"]
        and (lo.end_trend_z is None or lo.end_trend_z >= t["min_trend_z"])
    )
    # a loss that fell 2.6 -> 0.06 and climbs to 0.33 is 5x its minimum yet keeps most of what it
    # learned: a climb from a deep minimum, not (yet) divergence
    le = r.learning
    given_back = le.given_back if le is not None and getattr(le, "ok", True) else None
    kept_gain = climbing and given_back is not None and given_back < t["min_given_back"]
    diverged = climbing and not kept_gain
    if lo.final_over_min is None and not lo.nonfinite_count:
        return Outcome(None, {"reason": "too few loss points"})
    # NaN in a timing or throughput column (step 0 of many loggers) says nothing about training
    others = [n for n in lo.nonfinite if n.metric != lo.loss_metric and n.metric.split("/")[0] in TRAINING_SIGNALS]
    # a validation series never finite, beside a finite training loss, is an evaluation that
    # never worked (an empty eval set, an overflow in half precision), not training that diverged
    broken_eval = [n for n in others if n.metric.split("/")[0] in EVAL_SIGNALS and n.never_finite and not nonfinite_loss]
    others = [n for n in others if n not in broken_eval]
    what = []
    # the loss's own first bad step; first_nonfinite_step is the earliest over every metric
    loss_first = next((n.first_step for n in lo.nonfinite if n.metric == lo.loss_metric), lo.first_nonfinite_step)
    if nonfinite_loss:
        what.append(f"the loss is NaN/Inf at {lo.loss_nonfinite_count} logged step(s), first at step {loss_first}")
        if lo.first_nonfinite_step is not None and lo.first_nonfinite_step < loss_first:
            first = min(lo.nonfinite, key=lambda n: n.first_step)
            what.append(f"{first.metric} was already non-finite at step {first.first_step}")
    if diverged:
        what.append(f"the final loss {g(lo.final_loss)} is {g(lo.final_over_min, 3)}x its minimum {g(lo.running_min)} "
                    f"(step {lo.running_min_step}; threshold {g(t['max_final_over_min'])}x) and still rising")
    if others and not what:
        what.append("non-finite values in " + ", ".join(f"{n.metric} ({n.count}, first at step {n.first_step})" for n in others))
    fired = nonfinite_loss or diverged or bool(others)
    lr_flag, lr_change = lower_lr_flags(r)
    start = lo.first_nonfinite_step if nonfinite_loss else lo.running_min_step
    # a pass must not say "within 1.5x" of a loss that ended far above its minimum but flat
    # (a rebound that stopped rising is HND406's to judge)
    high_flat = lo.final_over_min is not None and lo.final_over_min >= t["max_final_over_min"]
    end_note = (f"final loss {g(lo.final_over_min, 3)}x its minimum and rising, but it gave back only "
                f"{pct(given_back)} of what it had learned (threshold {pct(t['min_given_back'])})" if kept_gain
                else f"final loss {g(lo.final_over_min, 3)}x its minimum but no longer rising (trend z "
                f"{g(lo.end_trend_z, 2)}, threshold {g(t['min_trend_z'])}; HND406 judges a rebound that held)"
                if high_flat else f"final loss within {g(t['max_final_over_min'])}x of its minimum")
    if broken_eval:
        end_note += "; " + ", ".join(f"{n.metric} was non-finite at every one of its {n.logged} evaluations" for n in broken_eval)
        end_note += " while the training loss stayed finite: the evaluation never worked, which is no divergence"
    facts = {"what": "; ".join(what), "lr_flag": lr_flag, "lr_change": lr_change, "clip_flag": clip_flag(r),
             "end_note": end_note}
    ev = Evidence(metric=lo.loss_metric, measured=float("nan") if nonfinite_loss else lo.final_over_min,
                  threshold=t["max_final_over_min"],
                  window=(start, max(start, lo.val_last_step or start)) if start is not None else None, plot="loss.png")
    severity = Severity.CRITICAL if (nonfinite_loss or diverged) else Severity.HIGH
    return Outcome(fired, facts, ev, severity)


HND404 = Rule(
    code="HND404", name="divergence-or-nonfinite", title="Divergence or NaN/Inf",
    severity=Severity.CRITICAL, area="loss", reads=("loss",), needs=("loss",),
    check=check_divergence,
    thresholds=(
        T("max_final_over_min", 1.5, "final loss over its running minimum that counts as divergence"),
        T("min_trend_z", 2.0, "...with a rising trend at least this strong at the end (Mann-Kendall z)"),
        T("min_given_back", MIN_GIVEN_BACK, "...having given back at least this share of what it had learned "
                                            "(first-tenth median minus the minimum of its trend; HND406's measure)"),
    ),
    message="{what}.",
    pass_message="loss finite everywhere; {end_note}.",
    recommendation="Training diverged: lower the learning rate ({lr_change}) and restart from the last good checkpoint",
    flags=("{lr_flag}", "{clip_flag}"), actions=("learning_rate:down",),
    expect="a finite loss ending near its minimum (HND404 passes)",
    risk="Restarting from an earlier checkpoint repeats the steps after it.",
    doc=RuleDoc(
        what="NaN/Inf in the loss (or other metrics), and a final loss far above its running minimum with a "
             "rising trend, having given back at least a quarter of what it had learned (a climb from a deep "
             "minimum that keeps most of the gain is not yet divergence).",
        why="A diverged run produces nothing useful after the divergence; every later metric is noise.",
        example="HND404 the loss is NaN/Inf at 120 logged step(s), first at step 4,180.",
        fix="Lower --learning-rate, add clipping (--max-grad-norm 1.0), and restart from a checkpoint before the "
            "first bad step.",
    ),
    cause=Cause(
        order=110, title="Divergence",
        contradicted_by=("max_grad_norm:up", "learning_rate:up", "lr_multipliers:up", "max_steps:up"),
    ),
)


def loss_spikes_of(lo: Any, t: Thresholds) -> list[Any]:
    """The transient spikes of HND405's size (z, ratio and rise; before the noise cap)."""
    return [s for s in getattr(lo, "transient", ()) if s.z > t["min_z"] and s.ratio > t["min_ratio"]
            and s.value - s.level > t["min_abs_rise"]]


def check_loss_spikes(r: Results, t: Thresholds) -> Outcome:
    """The labelling guide's loss spike (fixtures/real_runs/LABELLING.md), in its own noise units.

    A spike is a point far above the median of its neighbours on both sides, measured in the
    series' own noise scale (so a per-step classifier loss and a smoothed LM loss are judged
    alike), large in ratio and in loss units, and *transient*: two points later the loss is
    back within half the jump (a jump that stays is a rebound, HND406). Spikes more often than
    one point in a hundred are the series' heavy-tailed noise, not isolated events.
    """
    lo = r.loss
    if lo.n_points < 20:
        return Outcome(None, {"reason": "fewer than 20 loss points"})
    spikes = loss_spikes_of(lo, t)
    cap = max(t["max_spikes_noise"], t["max_spike_share"] * lo.n_points)
    noise = len(spikes) > cap
    top = max(spikes, key=lambda s: s.ratio) if spikes else None
    lr_flag, lr_change = lower_lr_flags(r, 0.7)
    facts = {"n": len(spikes), "max_ratio": g(top.ratio if top else None), "step": top.step if top else "?",
             "level": g(top.level if top else None), "back": g(top.back_value if top else None),
             "back_step": top.back_step if top else "?", "scale": g(lo.transient_scale),
             "steps": ", ".join(str(s.step) for s in spikes[:8]) + (" …" if len(spikes) > 8 else ""),
             "noise_note": (f"; {len(spikes)} such jumps in {lo.n_points} points (more than {g(cap)}) are the "
                            "loss's heavy-tailed noise, not isolated spikes") if noise else "",
             "lr_flag": lr_flag, "lr_change": lr_change}
    ev = Evidence(metric=lo.loss_metric, steps=tuple(s.step for s in spikes), values=tuple(s.value for s in spikes),
                  measured=top.z if top else 0.0, threshold=t["min_z"],
                  window=window_of(s.step for s in spikes), plot="loss.png")
    fired = len(spikes) >= t["min_spikes"] and not noise
    return Outcome(fired, facts, ev, Severity.HIGH if fired and len(spikes) >= t["many_spikes"] else None)


HND405 = Rule(
    code="HND405", name="loss-spikes", title="Loss spikes",
    severity=Severity.MEDIUM, area="loss", reads=("loss",), needs=("loss",),
    check=check_loss_spikes,
    thresholds=(
        T("min_z", 10.0, "a loss spike is more than this many noise scales (1.4826 x MAD of the residuals from the "
                         "median of the 4 points on either side) above that local level..."),
        T("min_ratio", 1.5, "...more than this many times the local level..."),
        T("min_abs_rise", 0.1, "...more than this much above it in loss units, and back within half the jump two "
                               "points later (a jump that stays is a rebound, HND406)"),
        T("min_spikes", 1, "spikes needed to raise the finding"),
        T("max_spikes_noise", 3, "more spikes than this and than max_spike_share of the points are the loss's "
                                 "heavy-tailed noise, not isolated spikes (no finding)..."),
        T("max_spike_share", 0.01, "...(one point in a hundred)"),
        T("many_spikes", 5, "this many spikes make the finding high severity"),
    ),
    message="{n} loss spike(s) of more than {t_min_z} noise scales ({scale}) and {t_min_ratio}x above the local level, "
            "each back down two points later; the largest {max_ratio}x its level {level} at step {step}, back to {back} "
            "at step {back_step} (steps {steps}).",
    pass_message="no transient loss spike of more than {t_min_z} noise scales and {t_min_ratio}x the local "
                 "level{noise_note}.",
    recommendation="Lower the learning rate ({lr_change}) to calm the loss spikes",
    flags=("{lr_flag}",), actions=("learning_rate:down",),
    expect="no loss spike of 1.5x its local level and 10 noise scales (HND405 passes)",
    risk="A lower LR slows training a little.",
    doc=RuleDoc(
        what="Transient spikes of the training loss: points far above the median of their neighbours on both "
             "sides, in units of the loss's own noise, that come back down within two points (the labelling "
             "guide's definition, fixtures/real_runs/LABELLING.md).",
        why="Loss spikes are the visible side of unstable updates; each one costs the steps needed to recover, "
            "and repeated spikes often precede divergence. Measured against the series' own noise, a per-step "
            "fine-tune's batch noise is not called a spike; a jump that does not come back is a rebound (HND406).",
        example="HND405 1 loss spike(s) of more than 10 noise scales (0.377) and 1.5x above the local level, each "
                "back down two points later; the largest 4.45x its level 1.41 at step 4949, back to 1.23 at step "
                "5049 (steps 4949).",
        fix="Lower --learning-rate; check HND101/HND201 for the cause.",
    ),
    cause=Cause(
        order=120,
        contradicted_by=("max_grad_norm:up", "learning_rate:up"),
        generic_fix=True,
    ),
)


def check_rebound(r: Results, t: Thresholds) -> Outcome:
    le = r.learning
    if le.end_over_min is None or le.given_back is None or le.end_share_above_2x is None:
        return Outcome(None, {"reason": "too few finite training-loss points for a trend"})
    if r.loss is not None and getattr(r.loss, "loss_nonfinite_count", 0):
        return Outcome(None, {"reason": "the loss went NaN/Inf (HND404 reports that divergence)"})
    # the trend's minimum of a noisy loss is biased low (issue 9 item 4): the climb from it must
    # also beat the loss's own scatter around its trend, or it is that scatter
    climb = le.end_level - le.trend_min
    over_noise = climb / le.noise if le.noise else None
    within_noise = over_noise is not None and over_noise < t["min_rise_over_noise"]
    rebound = (le.end_over_min >= t["min_end_over_min"] and le.given_back >= t["min_given_back"]
               and le.end_share_above_2x >= t["min_share_held"])
    fired = rebound and not within_noise
    lr_flag, lr_change = lower_lr_flags(r)
    facts = {"metric": le.loss_metric, "end": g(le.end_level), "ratio": g(le.end_over_min, 3), "min": g(le.trend_min),
             "min_step": le.trend_min_step, "held": pct(le.end_share_above_2x),
             "noise_note": (f"; the climb of {g(climb)} is {g(over_noise, 2)}x the loss's own scatter {g(le.noise)} "
                            f"(threshold {g(t['min_rise_over_noise'])}x)" if over_noise is not None else ""),
             # a pass says when the rebound's shape was there but within the scatter
             "pass_note": (f", a climb of {g(climb)} within {g(t['min_rise_over_noise'])}x the loss's own scatter "
                           f"{g(le.noise)}" if rebound and within_noise else ""),
             # a loss whose first tenth already sat at the minimum had no gain to give back: it rose from the start
             "back": (f"giving back {pct(min(le.given_back, 9.99))} of what it had learned" if math.isfinite(le.given_back)
                      else f"from a first tenth (median {g(le.head_median)}) already at that minimum: it rose "
                           "without having learned first"),
             "lr_flag": lr_flag, "lr_change": lr_change, "clip_flag": clip_flag(r)}
    ev = Evidence(metric=le.loss_metric, measured=le.end_over_min, threshold=t["min_end_over_min"],
                  window=(le.trend_min_step, le.tail_window[1]) if le.tail_window and le.trend_min_step is not None else None,
                  plot="loss.png")
    return Outcome(fired, facts, ev)


HND406 = Rule(
    code="HND406", name="loss-rebound", title="Training loss rebounded and stayed up (divergence without NaN)",
    severity=Severity.HIGH, area="loss", reads=("learning", "loss"), needs=("loss",),
    check=check_rebound,
    thresholds=(
        T("min_end_over_min", 2.0, "the loss at the end (median of the last 10% of points) over the minimum of its "
                                   "trend (a running median over 5% of the run) before that"),
        T("min_given_back", MIN_GIVEN_BACK, "...having given back at least this share of what it had learned "
                                            "(first-tenth median minus the minimum)"),
        T("min_share_held", 0.5, "...and at least this share of the last 10% of points above twice the minimum "
                                 "(it stayed up)"),
        T("min_rise_over_noise", 2.0, "...and the climb (end minus minimum) at least this many times the loss's own "
                                      "scatter around its trend: the minimum of a noisy series is biased low"),
    ),
    message="{metric} ended at {end}, {ratio}x the minimum of its trend {min} (step {min_step}; threshold "
            "{t_min_end_over_min}x), {back}; {held} of the last points stay "
            "above twice the minimum{noise_note}.",
    pass_message="{metric} ends at {ratio}x the minimum of its trend ({min} at step {min_step}){pass_note}.",
    recommendation="The loss climbed back and stayed up: lower the learning rate ({lr_change}) and restart from the "
                   "checkpoint nearest the minimum",
    flags=("{lr_flag}", "{clip_flag}"), actions=("learning_rate:down",),
    expect="a loss that ends near the minimum of its trend (HND406 passes)",
    risk="Restarting from an earlier checkpoint repeats the steps after it.",
    doc=RuleDoc(
        what="The training loss's trend (a running median over 5% of the run, so single noisy points do not count) "
             "against its end: the minimum before the last 10% of the run, the median of that last 10%, and how "
             "much of the early gain was given back.",
        why="A loss that climbs back to several times its minimum and stays there has diverged as surely as a "
            "NaN, without the NaN: the weights moved somewhere worse and did not come back.",
        example="HND406 loss ended at 152, 44.5x the minimum of its trend 3.42 (step 2,500; threshold 2x), giving "
                "back 1560% of what it had learned; 100% of the last points stay above twice the minimum.",
        fix="Lower --learning-rate (and clip, --max-grad-norm 1.0); resume from the checkpoint at the minimum.",
    ),
    cause=Cause(
        order=115, title="Divergence (loss rebound)",
        contradicted_by=("max_grad_norm:up", "learning_rate:up", "max_steps:up"),
    ),
)


def constant_loss(le: Any, t: Thresholds) -> tuple[bool, str]:
    """Whether the training loss was exactly constant from its first tenth to its end, and the
    pass note when it was but gradients flowed (a surrogate loss, judged by its reward instead).

    Only a stretch that began at the start counts: a loss that fell and was logged as 0.0 at
    the end (rounded) learned. A policy-gradient loss is 0 by construction (GRPO with beta = 0:
    the group-normalised advantages sum to zero) while the gradient is not, so a stretch with
    gradient norm flowing is no evidence; grad norm exactly 0 over it is (HND104 says so too).
    """
    if not (le.constant_from_start and le.constant_points >= t["min_points"]):
        return False, ""
    if le.constant_grad_median:
        return False, (f"; {le.loss_metric} was exactly {g(le.constant_value)} at its last {le.constant_points} points "
                       f"while the gradient norm flowed (median {g(le.constant_grad_median)}): a surrogate loss "
                       f"whose value carries no signal (GRPO with beta 0 logs 0.0 while it trains); judge learning "
                       f"by the reward")
    return True, ""


def check_no_learning(r: Results, t: Thresholds) -> Outcome:
    le = r.learning
    pinned_chance = [p for p in le.pinned if p.chance_classes is not None]
    if le.points < t["min_points"] and not le.pinned:
        return Outcome(None, {"reason": f"fewer than {int(t['min_points'])} finite training-loss points and no "
                                        f"pinned validation loss"})
    flat = (le.gain_relative is not None and le.points >= t["min_points"] and le.gain_relative < t["min_gain"])
    constant, constant_note = constant_loss(le, t)
    stretch = (le.constant_from_step, le.tail_window[1]) if constant else None
    what = []
    if constant:
        what.append(f"{le.loss_metric} was exactly {g(le.constant_value)} at each of its last {le.constant_points} "
                    f"logged points (steps {stretch[0]}-{stretch[1]}), from its first tenth on: "
                    f"a model that learns never logs one loss to the last digit point after point")
    elif flat:
        what.append(f"{le.loss_metric} went from {g(le.head_median)} (median of the first tenth) to {g(le.tail_median)} "
                    f"(median of the last fifth), a gain of {pct(le.gain_relative)} (threshold {pct(t['min_gain'])})")
    for p in le.pinned:
        chance = ""
        if p.chance_classes is not None:
            chance = f" = ln({p.chance_classes}), the loss of a uniform guess over {p.chance_classes} classes"
            if p.accuracy is not None:
                chance += f"; {p.accuracy_metric} {g(p.accuracy, 3)} against chance {g(p.accuracy_chance, 3)}"
        what.append(f"{p.metric} stayed at {g(p.level, 4)} over {p.points} evaluations (steps {p.first_step}-"
                    f"{p.last_step}; every point within {pct(p.spread)} of the first){chance}")
    # without a training loss (an eval-only log) only a validation loss pinned at chance, ln(k), is
    # evidence: a constant one may be a model that had finished learning before its first evaluation
    no_training_loss = getattr(le, "ok", True) is False
    fired = flat or constant or bool(pinned_chance) or (
        bool(le.pinned) and not no_training_loss and (le.gain_relative or 0.0) < t["min_gain_pinned"])
    facts = {"what": "; ".join(what) or f"{le.loss_metric} gained {pct(le.gain_relative)}",
             "gain": pct(le.gain_relative), "metric": le.loss_metric, "constant_note": constant_note}
    metric = pinned_chance[0].metric if pinned_chance else le.loss_metric
    if constant and not flat and not pinned_chance:  # the evidence is the stretch, not a gain
        ev = Evidence(metric=metric, measured=float(le.constant_points), threshold=t["min_points"],
                      steps=stretch, values=(le.constant_value, le.constant_value), window=stretch, plot="loss.png")
        return Outcome(fired, facts, ev)
    ev = Evidence(metric=metric, measured=le.gain_relative, threshold=t["min_gain"],
                  window=(le.head_window[0], le.tail_window[1]) if le.head_window and le.tail_window else None,
                  plot="loss.png")
    return Outcome(fired, facts, ev)


HND407 = Rule(
    code="HND407", live="settled", name="no-learning", title="No learning (loss flat from start to end, or validation at chance)",
    severity=Severity.HIGH, area="convergence", reads=("learning",), needs=("loss", "val_loss"),
    reads_partial=("learning",),  # a validation loss pinned at chance needs no training-loss curve
    check=check_no_learning,
    thresholds=(
        T("min_gain", 0.02, "the training loss must fall by this fraction from its first tenth to its last fifth "
                            "(medians)"),
        T("min_points", 5, "training-loss points needed to judge the gain, and the least run of points at one "
                           "exact value (from the first tenth to the end) that counts as a constant loss"),
        T("min_gain_pinned", 0.1, "a validation loss pinned at a constant (not ln k) counts when the training loss "
                                  "gained less than this"),
    ),
    message="{what}.",
    pass_message="{metric} gained {gain} over the run (threshold {tp_min_gain}){constant_note}.",
    recommendation="The model is not learning: check that the targets reach the loss (labels not all masked, "
                   "the label column and classes right), that the learning rate is not zero or far too small, and "
                   "that the trained parameters are not frozen, before spending more steps",
    flags=(), actions=(),
    expect="a training loss that falls over the run and a validation loss below chance (HND407 passes)",
    risk="None: steps spent on a run that does not learn are lost.",
    doc=RuleDoc(
        what="The training loss's median over the first tenth of its points against its last fifth; every "
             "validation loss that never moved from its first value (within 0.5%), and whether that value is "
             "ln(k) for a whole k (a k-way classifier at chance), with the validation accuracy against 1/k; "
             "and a training loss exactly one value (0.0 included) from its first tenth to its end, unless the "
             "gradient norm flowed over that stretch (a policy-gradient surrogate such as GRPO's, 0 by "
             "construction while it trains).",
        why="A loss flat from the first step to the last, or an eval loss pinned at ln(num_classes) with "
            "accuracy at chance, means the optimiser is not changing what the model predicts: a pipeline or "
            "setting error that more steps will not fix.",
        example="HND407 eval_loss stayed at 1.386 over 62 evaluations (steps 50-3100; every point within 0.1% of "
                "the first) = ln(4), the loss of a uniform guess over 4 classes; eval_accuracy 0.271 against "
                "chance 0.25.",
        fix="Inspect one batch end to end (inputs, labels, loss mask); log the LR; check requires_grad.",
    ),
    cause=Cause(
        order=125, title="The model is not learning",
        contradicted_by=("max_steps:up",),
    ),
)


RULES = (HND401, HND402, HND403, HND404, HND405, HND406, HND407)
