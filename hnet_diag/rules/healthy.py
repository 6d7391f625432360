"""HND9xx: healthy signs, each the absence of the problem rules it mirrors.

A healthy sign is judged with the thresholds of the rules it `mirrors` (so a user's
override of HND202 moves HND907 too) plus, at most, a stricter band of its own ("on
target", tighter than "not far from target"). Its predicate is the problem predicate
with the verdict reversed, or stricter, never looser; and the engine withdraws a healthy
sign that would pass beside an alarm of a rule it mirrors. So a healthy sign never
contradicts its problem rule.
"""
from __future__ import annotations

from ..formatting import g
from ..results import Results
from .convergence import HND401, HND403, HND404, HND405, check_overfitting, check_stopped_early, loss_spikes_of
from .generation import HND504, check_decoding
from .gradients import HND101, check_gradient_spikes
from .load_balance import HND302, HND303, check_compression, check_undecided
from .rule import Evidence, Outcome, Predicate, Rule, RuleDoc, Severity, Thresholds
from .schedule import HND202, HND203, check_annealed, check_lr_ratio
from .shared import T


def positive(check: Predicate) -> Predicate:
    """The problem rule's predicate with its verdict reversed, same facts and evidence."""

    def pred(r: Results, t: Thresholds) -> Outcome:
        out = check(r, t)
        if out.fired is None:
            return out
        return Outcome(not out.fired, out.facts, out.evidence)

    return pred


def check_val_at_best(r: Results, t: Thresholds) -> Outcome:
    """HND403 silent *and* the validation loss that rose most ends within HND403's
    `min_val_increase` of its best. HND403 also stays silent on a rise it cannot yet call
    overfitting (a turn within the curve's own movement, a lucky low): that is no healthy sign."""
    out = check_overfitting(r, t)
    if out.fired is None:
        return out
    rise = out.evidence.measured
    at_best = not out.fired and (rise is None or rise <= t["min_val_increase"])
    return Outcome(at_best, out.facts, out.evidence)


def check_no_spikes(r: Results, t: Thresholds) -> Outcome:
    """HND101 at its strictest: not one spike of its size after warmup, total or per stage."""
    gr = r.gradients
    if gr.n_points < t["min_points"]:
        return Outcome(None, {"reason": f"fewer than {int(t['min_points'])} gradient-norm points"})
    out = check_gradient_spikes(r, {**t, "min_spikes": 1, "single_spike_ratio": t["min_ratio"], "min_stage_spikes": 1,
                                    "min_stage_share": 0.0})  # every spike of the size, small stages too
    return Outcome(not out.fired, out.facts, out.evidence)


def check_loss_healthy(r: Results, t: Thresholds) -> Outcome:
    """No NaN/Inf, not one loss spike of HND405's size, final loss within the stricter band."""
    lo = r.loss
    if lo.final_over_min is None or lo.n_points < 20:
        return Outcome(None, {"reason": "too few loss points"})
    spikes = loss_spikes_of(lo, t)
    healthy = lo.nonfinite_count == 0 and lo.final_over_min < t["max_final_over_min"] and not spikes
    facts = {"final": g(lo.final_loss), "min": g(lo.running_min), "points": lo.n_points}
    return Outcome(healthy, facts, Evidence(metric=lo.loss_metric, measured=lo.final_over_min,
                                            threshold=t["max_final_over_min"], plot="loss.png"))


HND901 = Rule(
    code="HND901", name="no-gradient-spikes", title="No gradient spikes after warmup",
    severity=Severity.POSITIVE, area="gradients", reads=("gradients",),
    mirrors=(HND101,),
    thresholds=(T("min_points", 50, "gradient-norm points needed to say so"),),
    message="no gradient-norm spike of {t_min_ratio}x the local median or more after warmup over {points} logged "
            "points{first_note}.",
    pass_message="gradient spikes after warmup were found (see HND101).",
    recommendation="", doc=RuleDoc(
        what="The absence of HND101's spikes over enough points.",
        why="Stable post-warmup gradients are the first thing to rule out when samples are bad.",
        example="HND901 no gradient-norm spike of 3x the local median or more after warmup over 2,000 logged points.",
        fix="Nothing to fix."),
    check=check_no_spikes,
)


HND902 = Rule(
    code="HND902", live="settled", name="compression-on-target", title="Compression on target",
    severity=Severity.POSITIVE, area="load balance", reads=("load_balance",),
    mirrors=(HND302,),
    thresholds=(T("max_relative_error", 0.2, "relative distance from the target counted as on target (a stricter band "
                                             "than HND302's 'far from target')"),),
    message="compression within {tp_max_relative_error} of the target on every stage: {all}.",
    pass_message="compression not within range on every stage: {all}.",
    recommendation="", doc=RuleDoc(
        what="Realized compression per stage within 20% of its target.",
        why="On-target chunking is the proof that load balancing works; a ratio loss near 1.0 alone is not.",
        example="HND902 compression within 0.2 of the target on every stage: stage 0: 3.1x (target 3).",
        fix="Nothing to fix."),
    check=positive(check_compression),
)


HND903 = Rule(
    code="HND903", live="settled", name="routing-decided", title="Routing decided",
    severity=Severity.POSITIVE, area="load balance", reads=("load_balance",),
    mirrors=(HND303,),
    thresholds=(T("max_undecided_frac", 0.1, "share of boundary probabilities near 0.5 still called decided (a "
                                             "stricter band than HND303's)"),),
    message="the router commits: {all} of boundary probabilities within 0.05 of 0.5 (threshold {tp_max_undecided_frac}).",
    pass_message="undecided boundary probabilities: {all}.",
    recommendation="", doc=RuleDoc(
        what="Few boundary probabilities near 0.5 on every stage.",
        why="A decided router gives stable chunks and a strong confidence signal to the upsampler.",
        example="HND903 the router commits: stage 0: 2.1% of boundary probabilities within 0.05 of 0.5.",
        fix="Nothing to fix."),
    check=positive(check_undecided),
)


HND904 = Rule(
    code="HND904", name="loss-healthy", title="Loss finite, falling and free of spikes",
    severity=Severity.POSITIVE, area="loss", reads=("loss",),
    mirrors=(HND404, HND405),
    thresholds=(T("max_final_over_min", 1.1, "final loss over its minimum still called healthy (a stricter band than "
                                             "HND404's divergence)"),),
    message="loss finite at all {points} points, final {final} against a minimum of {min}, no loss spike.",
    pass_message="loss not clean (see HND404/HND405).",
    recommendation="", doc=RuleDoc(
        what="No NaN/Inf, no loss spike, final loss near its minimum.",
        why="Rules out the loss-side failure modes at once.",
        example="HND904 loss finite at all 2,000 points, final 1.62 against a minimum of 1.60, no loss spike.",
        fix="Nothing to fix."),
    check=check_loss_healthy,
)


HND905 = Rule(
    code="HND905", live="end", name="lr-annealed", title="Learning rate annealed",
    severity=Severity.POSITIVE, area="schedule", reads=("convergence",),
    mirrors=(HND203,),
    message="the LR was annealed to {frac} of its peak by the last step.",
    pass_message="the LR was not annealed ({frac} of its peak at the last step).",
    recommendation="", doc=RuleDoc(
        what="LR at the last step below HND203's fraction of its peak (30%).",
        why="An annealed model is judged at its best.",
        example="HND905 the LR was annealed to 0.0% of its peak by the last step.",
        fix="Nothing to fix."),
    check=positive(check_annealed),
)


HND906 = Rule(
    code="HND906", name="decoding-matches-forward", title="Step-wise decoding matches the forward pass",
    severity=Severity.POSITIVE, area="decoding", reads=("decoding",),
    mirrors=(HND504,),
    message="step-wise decoding reproduces the forward pass (max logit difference {diff} over {n} sequences of {len} bytes).",
    pass_message="decoding differs (see HND504).",
    recommendation="", doc=RuleDoc(
        what="Step-wise logits equal the teacher-forced logits.",
        why="Rules out the train/inference mismatch as the cause of bad samples.",
        example="HND906 step-wise decoding reproduces the forward pass (max logit difference 2.1e-6).",
        fix="Nothing to fix."),
    check=positive(check_decoding),
)


HND907 = Rule(
    code="HND907", name="lr-multipliers-consistent", title="Per-stage LR multipliers consistent with the paper",
    severity=Severity.POSITIVE, area="schedule", reads=("lr_ratio",),
    mirrors=(HND202,),
    message="LR multipliers [{multipliers}] (max/min {ratio}x) are consistent with Eq. 11 [{rule}] ({rule_ratio}x) "
            "and the largest is not on the unstable stage.",
    pass_message="LR multipliers [{multipliers}]: {why}.",
    recommendation="", doc=RuleDoc(
        what="Multipliers within a factor 2 of the paper's Eq. 11 ratio, with no instability on the largest stage.",
        why="Answers the frequent claim that H-Net's multipliers are 'too aggressive' with the paper's own rule.",
        example="HND907 LR multipliers [3,1.7,0.9] (max/min 3.3x) are consistent with Eq. 11 [2.63,1.52,0.72] (3.65x).",
        fix="Nothing to fix."),
    check=positive(check_lr_ratio),
)


HND908 = Rule(
    code="HND908", live="end", name="run-completed", title="Run completed its plan",
    severity=Severity.POSITIVE, area="convergence", reads=("convergence",),
    mirrors=(HND401,),
    message="the run reached step {last} of {planned} planned ({frac}).",
    pass_message="the run stopped at {frac} of its plan (see HND401).",
    recommendation="", doc=RuleDoc(
        what="Last step at 90% or more of the planned steps.",
        why="A finished run is judged on what its recipe can do.",
        example="HND908 the run reached step 2,000 of 2,000 planned (100.0%).",
        fix="Nothing to fix."),
    check=positive(check_stopped_early),
)


HND909 = Rule(
    code="HND909", name="no-overfitting", title="Validation loss at its best",
    severity=Severity.POSITIVE, area="convergence", reads=("convergence",),
    mirrors=(HND403,),
    message="validation loss {last} at step {last_step} is within {tp_min_val_increase} of its best {best} (step {best_step}).",
    pass_message="validation loss {last} at step {last_step} ended above its best {best} (step {best_step}) by "
                 "more than {tp_min_val_increase} (HND403 judges whether that is overfitting).",
    recommendation="", doc=RuleDoc(
        what="HND403 silent, and the validation loss that rose most ends within HND403's min_val_increase "
             "(5%) of its best.",
        why="No sign of memorisation.",
        example="HND909 validation loss 1.42 at step 2,000 is within 5.0% of its best 1.41 (step 1,800).",
        fix="Nothing to fix."),
    check=check_val_at_best,
)


RULES = (HND901, HND902, HND903, HND904, HND905, HND906, HND907, HND908, HND909)
