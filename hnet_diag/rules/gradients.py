"""HND1xx: the gradients (spikes after warmup, saturated clipping, vanishing norms).

Each rule stands with its predicate; see `hnet_diag.rules` for how to add one.
"""
from __future__ import annotations

from typing import Any

from ..formatting import g, pct
from ..results import Results
from .rule import Cause, Evidence, Outcome, Rule, RuleDoc, Severity, Thresholds
from .shared import NO, T, after_warmup, clip_flag, lower_lr_flags, window_of


def stage_spikes(gr: Any, min_ratio: float, min_share: float = 0.0) -> dict[int, list[Any]]:
    """Per-stage spikes after warmup of at least `min_ratio` (warmup-phase events are global).

    With `min_share` > 0, a spike of a stage that carries less than that share of the total
    norm counts only when the total norm or the loss reacted to it: a stage at 0.5% of the
    norm jumping 60x moves the total by 0.3x of itself, which is no explosion of the run.
    """
    out: dict[int, list[Any]] = {}
    for st in gr.stages:
        reacted = {w.step for w in getattr(st, "weighted", ()) if w.total_reacted or w.loss_reacted}
        share = getattr(st, "share", None)
        small = share is not None and share < min_share
        out[st.stage] = [s for s in after_warmup(st.spikes) if s.ratio >= min_ratio and (not small or s.step in reacted)]
    return out


def _isolated_note(total: list[Any], stage: int | None, per_stage: dict[int, list[Any]], t: Thresholds) -> str:
    """What a pass measured below the bars: the spikes HND901 would cite against "no spike".

    Those are the total norm's isolated spikes or, when it had none, those of the stage
    with the most (a stage's spike where the total spiked too is the same event).
    """
    if total:
        top = max(total, key=lambda s: s.ratio)
        return (f"; {len(total)} isolated spike(s), largest {g(top.ratio)}x at step {top.step}, below the bar of "
                f"{int(t['min_spikes'])} spikes or one of {g(t['single_spike_ratio'])}x")
    if stage is None:
        return ""
    top = max(per_stage[stage], key=lambda s: s.ratio)
    return (f"; {len(per_stage[stage])} isolated spike(s) of stage {stage}'s norm, largest {g(top.ratio)}x at step "
            f"{top.step}, below the bar of {int(t['min_stage_spikes'])} on one stage")


def fleeting_and_unfelt(spikes: list[Any]) -> bool:
    """Every spike lasted one logged point and the loss was seen not to react to any.

    The weakest evidence the rule accepts: nothing persisted over a window and the run paid
    nothing for it (issue 9: weigh a spike by whether the loss reacts; prefer evidence that
    persists). An unknown reaction (no loss logged) is not "unfelt".
    """
    return bool(spikes) and all(_single_point(s) and s.loss_spike_after is False for s in spikes)


def _single_point(spike: Any) -> bool:
    return (spike.n_points or 1) <= 1


def reaction_note(spikes: list[Any], loss_follow: int) -> str:
    """How sure the spikes make the finding: did the loss feel them, did they last.

    A spike the loss followed is instability the run paid for (critical); spikes that lasted
    one logged point each and that the loss never felt are the weakest evidence the rule
    accepts, and the reader should know which of the two this is.
    """
    if not spikes:
        return ""
    if loss_follow:
        return f"; {loss_follow} followed by a loss spike"
    if fleeting_and_unfelt(spikes):
        return "; each a single logged point, and the loss did not react to any of them"
    if all(s.loss_spike_after is False for s in spikes):
        return "; the loss did not react to any of them"
    return "; each a single logged point" if all(_single_point(s) for s in spikes) else ""


def check_gradient_spikes(r: Results, t: Thresholds) -> Outcome:
    gr = r.gradients
    if not gr.n_points and not gr.stages:
        return NO
    total = [s for s in after_warmup(gr.spikes) if s.ratio >= t["min_ratio"]]
    per_stage = stage_spikes(gr, t["min_ratio"], t["min_stage_share"])
    # what a pass must still name: every stage spike of the size, small stages included
    per_stage_all = stage_spikes(gr, t["min_ratio"])
    seen_stage = max(per_stage_all, key=lambda k: (len(per_stage_all[k]), -k), default=None)
    if seen_stage is not None and not per_stage_all[seen_stage]:
        seen_stage = None
    worst_stage = max(per_stage, key=lambda k: (len(per_stage[k]), -k), default=None)
    if worst_stage is not None and not per_stage[worst_stage]:
        worst_stage = None
    # one moderate spike is noise every run has; repeated spikes, a huge one, or one that
    # hit the loss are instability. A stage's own norm is small and noisy, so a stage alone
    # needs repeated spikes (its single huge ratios are common and mean little)
    top = max(total, key=lambda s: s.ratio) if total else None
    loss_follow = sum(bool(s.loss_spike_after) for s in total)
    fired_total = bool(total) and (
        len(total) >= t["min_spikes"] or top.ratio >= t["single_spike_ratio"] or loss_follow > 0
    )
    fired_stage = worst_stage is not None and len(per_stage[worst_stage]) >= t["min_stage_spikes"]
    spikes = total
    if not fired_total and fired_stage:
        spikes = per_stage[worst_stage]
        top = max(spikes, key=lambda s: s.ratio)
        loss_follow = sum(bool(s.loss_spike_after) for s in spikes)
    fired = fired_total or fired_stage
    # how sure: a spike the loss felt is instability the run paid for (critical); spikes that
    # each lasted one logged point and that the loss was seen not to feel are reported at
    # medium (fixtures/real_runs/TUNING_LOG.md, 2026-12-01 03:00); anything else at the
    # rule's own high
    severity = None
    if fired and loss_follow:
        severity = Severity.CRITICAL
    elif fired and fleeting_and_unfelt(spikes):
        severity = Severity.MEDIUM
    lr_flag, lr_change = lower_lr_flags(r)
    stage_note = ""
    if worst_stage is not None:
        stage_note = f"; per stage, most spikes on stage {worst_stage} ({len(per_stage[worst_stage])})"
    where = "the total gradient norm" if spikes is total else f"stage {worst_stage}'s gradient norm"
    facts = {
        "where": where,
        "n": len(spikes),
        "max_ratio": g(top.ratio if top else None),
        "max_value": g(top.value if top else None),
        "max_step": top.step if top else "?",
        "lr_note": f", LR {g(top.lr)}" if top and top.lr is not None else "",
        "loss_note": reaction_note(spikes, loss_follow),
        "stage_note": stage_note,
        "lr_flag": lr_flag,
        "lr_change": lr_change,
        "clip_flag": clip_flag(r),
        "points": gr.n_points,
        "first_note": f" ({gr.first_steps_note})" if gr.first_steps_note else "",
        # a pass must not read "no spike" when an isolated one was measured, on the total
        # norm or on one stage's (HND901 counts both): say what it was
        "isolated_note": "" if fired else _isolated_note(total, seen_stage, per_stage_all, t),
    }
    ev = Evidence(
        metric=spikes[0].metric if spikes else gr.metric,
        steps=tuple(s.step for s in spikes),
        values=tuple(s.value for s in spikes),
        measured=top.ratio if top else 0.0,
        threshold=t["min_ratio"],
        stage=worst_stage,
        window=window_of([s.step for s in spikes] + [s.end_step or s.step for s in spikes]),
        plot="grad_norm.png",
    )
    return Outcome(fired, facts, ev, severity)


HND101 = Rule(
    code="HND101", name="gradient-spikes-after-warmup", title="Gradient explosion / spikes after warmup",
    severity=Severity.HIGH, area="gradients", reads=("gradients",), needs=("grad_norm",),
    check=check_gradient_spikes,
    thresholds=(
        T("min_ratio", 3.0, "a spike counts when the pre-clip norm is at least this many times its local median"),
        T("min_spikes", 2, "spikes after warmup needed to raise the finding..."),
        T("single_spike_ratio", 10.0, "...unless one spike is at least this large, or is followed by a loss spike "
                                      "(which also makes the finding critical)"),
        T("min_stage_spikes", 3, "spikes after warmup on one stage's own norm (smaller and noisier than the total) "
                                 "that raise the finding when the total norm does not"),
        T("min_stage_share", 0.05, "a stage carrying less than this share of the total norm counts a spike only when "
                                   "the total norm or the loss reacted to it"),
    ),
    message="{n} spike(s) of {where} after warmup, up to {max_ratio}x the local median (norm {max_value} at step "
            "{max_step}{lr_note}; threshold {t_min_ratio}x){loss_note}{stage_note}.",
    pass_message="no repeated or large gradient-norm spikes of {t_min_ratio}x the local median or more after warmup{isolated_note}{first_note}.",
    recommendation="Lower the peak learning rate ({lr_change}) so post-warmup updates stay in the stable range",
    flags=("{lr_flag}", "{clip_flag}"), actions=("learning_rate:down",),
    expect="no gradient-norm spike above {t_min_ratio}x its local median after warmup (HND101 passes)",
    risk="A lower learning rate slows progress per step; if the loss falls clearly slower, raise it back halfway.",
    doc=RuleDoc(
        what="Finds spikes in the pre-clip gradient norm (total, and per stage when logged) after warmup, with a "
             "rolling median/MAD detector on the log norm. Spikes in the first steps are normal and ignored. "
             "Graded by how sure the evidence is: critical when a loss spike followed, medium when every spike "
             "lasted one logged point and the logged loss did not react to any, high otherwise.",
        why="After warmup the LR is at its peak; norms jumping several times above their local level mean updates "
            "the optimizer cannot absorb. Clipping hides the size of the step but not its direction, and spikes "
            "followed by loss spikes are how runs diverge.",
        example="HND101 12 gradient-norm spike(s) after warmup, up to 41x the local median (norm 1,810 at step "
                "2,150, LR 9e-4; threshold 3x); 3 followed by a loss spike.",
        fix="Lower --learning-rate; if the spikes sit on the stage with the largest LR multiplier, flatten "
            "--lr-multipliers (HND202); if they cluster at the end of warmup, lengthen --warmup-steps (HND201). "
            "Never raise --max-grad-norm to make spikes disappear.",
    ),
    cause=Cause(
        order=80, title="Unstable optimisation (gradient spikes)",
        explains=(
            ("HND404", "gradient spikes precede the divergence"),
            ("HND405", "gradient spikes and loss spikes fall on the same steps"),
            ("HND102", "clipping is saturated by the same exploding gradients"),
        ),
        contradicted_by=("max_grad_norm:up", "learning_rate:up", "lr_multipliers:up", "warmup_steps:down"),
        generic_fix=True,
    ),
)


def check_clipping(r: Results, t: Thresholds) -> Outcome:
    gr = r.gradients
    rate = gr.clip_rate_after_warmup if gr.clip_rate_after_warmup is not None else gr.clip_rate
    if rate is None or gr.max_grad_norm is None:
        return Outcome(None, {"reason": "no max grad norm known, so no clipping rate"})
    typical = max(v for v in (gr.norm_end, gr.norm_start, gr.max_grad_norm) if v is not None)
    suggested = float(f"{1.5 * typical:.2g}")
    facts = {
        "rate": pct(rate), "clip": g(gr.max_grad_norm), "typical": g(typical), "suggested": g(suggested),
        "start_norm": g(gr.norm_start) if gr.norm_start is not None else "unknown",
        "end_norm": g(gr.norm_end) if gr.norm_end is not None else "unknown",
        "clipped": gr.clipped_steps,
    }
    ev = Evidence(metric="clipped" if gr.clip_source == "clipped" else gr.metric, measured=rate,
                  threshold=t["max_clip_rate"], window=(gr.first_step, gr.last_step) if gr.first_step is not None else None,
                  plot="grad_norm.png")
    return Outcome(rate > t["max_clip_rate"], facts, ev)


HND102 = Rule(
    code="HND102", name="clipping-saturated", title="Gradient clipping saturated (most steps clipped)",
    severity=Severity.MEDIUM, area="gradients", reads=("gradients",), needs=("grad_norm", "max_grad_norm"),
    check=check_clipping,
    thresholds=(T("max_clip_rate", 0.5, "fraction of steps after warmup whose pre-clip norm exceeds --max-grad-norm"),),
    message="{rate} of steps after warmup were clipped at --max-grad-norm {clip} (threshold {tp_max_clip_rate}); "
            "the median pre-clip norm is {start_norm} early in training and {end_norm} over the last steps.",
    pass_message="{rate} of steps clipped at {clip} (threshold {tp_max_clip_rate}).",
    recommendation="Clipping acts on almost every step, so it silently rescales the learning rate: set the clip "
                   "above the typical norm ({typical}) so it only catches outliers",
    flags=("--max-grad-norm {suggested}",), actions=("max_grad_norm:up",),
    expect="under half of the steps after warmup clipped (HND102 passes)",
    risk="A looser clip lets real outliers through; keep watching HND101.",
    doc=RuleDoc(
        what="Measures the fraction of steps whose pre-clip gradient norm exceeds the max grad norm.",
        why="Clipping is meant for rare outliers. When it fires on most steps, every update is rescaled: the "
            "effective LR is lower than configured and varies with the norm, which confuses any LR tuning.",
        example="HND102 87.0% of steps after warmup were clipped at --max-grad-norm 0.1 (threshold 0.5); the "
                "median pre-clip norm is 0.45 early in training and 0.3 over the last steps.",
        fix="Set --max-grad-norm above the typical norm. If the norms are large because training is unstable "
            "(HND101), fix that first: this recommendation is withdrawn beside gradient explosion.",
    ),
    cause=Cause(
        order=90,
    ),
)


def check_vanishing(r: Results, t: Thresholds) -> Outcome:
    gr = r.gradients
    if gr.norm_end is None or gr.norm_decades_drop is None:
        return Outcome(None, {"reason": "too few gradient-norm points for a trend"})
    stalled = gr.loss_relative_change is None or gr.loss_relative_change > -t["min_loss_improvement"]
    vanished = gr.norm_decades_drop >= t["min_decades_drop"] and stalled
    fired = vanished or gr.norm_end < t["abs_floor"]
    facts = {
        "start": g(gr.norm_start), "end": g(gr.norm_end), "decades": g(gr.norm_decades_drop, 2),
        "loss_change": pct(gr.loss_relative_change) if gr.loss_relative_change is not None else "unknown",
    }
    ev = Evidence(metric=gr.metric, measured=gr.norm_decades_drop, threshold=t["min_decades_drop"],
                  window=(gr.first_step, gr.last_step) if gr.first_step is not None else None, plot="grad_norm.png")
    return Outcome(fired, facts, ev)


HND103 = Rule(
    code="HND103", name="vanishing-gradients", title="Vanishing gradients",
    severity=Severity.MEDIUM, area="gradients", reads=("gradients",), needs=("grad_norm",),
    check=check_vanishing,
    thresholds=(
        T("min_decades_drop", 2.0, "the norm fell by at least this many powers of ten from early to late training"),
        T("min_loss_improvement", 0.05, "...while the loss improved by less than this fraction"),
        T("abs_floor", 1e-4, "a late median norm below this is vanishing whatever the loss does"),
    ),
    message="the gradient norm fell from {start} to {end} ({decades} decades; threshold {t_min_decades_drop}) while "
            "the loss changed by {loss_change}.",
    pass_message="gradient norm from {start} to {end} ({decades} decades), loss change {loss_change}.",
    recommendation="Gradients vanished while the loss stalled: check the per-stage norms for a dead stage, the "
                   "routing projections' gradients and the initialisation before changing the LR",
    expect="a late gradient norm within two decades of its early value while the loss keeps falling",
    risk="None from checking; changing init or LR needs a new run.",
    doc=RuleDoc(
        what="Compares the median gradient norm early and late in training, together with the loss change.",
        why="A falling norm is normal as the loss falls. A norm that collapses by orders of magnitude while the "
            "loss stops improving means the network stopped learning (dead stage, saturated routing, LR decayed "
            "to nothing). A low final norm alone is not a problem.",
        example="HND103 the gradient norm fell from 1.2 to 0.0008 (3.2 decades; threshold 2) while the loss "
                "changed by -0.4%.",
        fix="Look at grad_norm/stage{i} to find the stage that went silent; check the LR schedule did not decay "
            "to zero early; check the routing projections receive gradients.",
    ),
    cause=Cause(
        order=100,
    ),
)


def check_gradient_collapse(r: Results, t: Thresholds) -> Outcome:
    le = r.learning
    if not le.grad_points or le.grad_zero_share is None:
        return Outcome(None, {"reason": "no finite gradient norm logged"})
    zero = le.grad_zero_tail >= t["min_zero_points"] and le.grad_zero_tail >= t["min_zero_share"] * le.grad_points
    conv = r.convergence
    flat = conv is not None and getattr(conv, "trend_z", None) is not None and abs(conv.trend_z) < t["max_loss_trend_z"]
    fell = (le.grad_tail_over_head is not None and le.grad_tail_over_head <= t["max_tail_over_head"] and flat)
    entropy = le.entropy_tail_over_head is not None and le.entropy_tail_over_head <= t["max_entropy_tail_over_head"]
    what = []
    if zero:
        what.append(f"the gradient norm is exactly 0 at the last {le.grad_zero_tail} of {le.grad_points} logged "
                    f"steps (from step {le.grad_first_zero_step})")
    if fell:
        what.append(f"the gradient norm fell from {g(le.grad_head)} to {g(le.grad_tail)} ({g(le.grad_tail_over_head)}x; "
                    f"threshold {g(t['max_tail_over_head'])}x) while the loss stopped moving (trend z {g(conv.trend_z, 2)})")
    if entropy and (zero or fell):
        what.append(f"{le.entropy_metric} fell to {pct(le.entropy_tail_over_head)} of its start")
    facts = {"what": "; ".join(what), "points": le.grad_points, "zeros": le.grad_zero_tail}
    ev = Evidence(metric=le.grad_metric, measured=float(le.grad_zero_tail) if zero else le.grad_tail_over_head,
                  threshold=t["min_zero_points"] if zero else t["max_tail_over_head"],
                  window=(le.grad_first_zero_step, le.grad_first_zero_step) if zero and le.grad_first_zero_step is not None
                  else None, plot="grad_norm.png")
    return Outcome(zero or fell, facts, ev)


HND104 = Rule(
    code="HND104", name="gradient-collapse", title="Gradient collapse (no gradient reaches the model)",
    severity=Severity.HIGH, area="gradients", reads=("learning", "convergence"), needs=("grad_norm",),
    check=check_gradient_collapse,
    thresholds=(
        T("min_zero_points", 3, "trailing logged steps with a gradient norm of exactly 0..."),
        T("min_zero_share", 0.1, "...that are at least this share of all logged gradient norms"),
        T("max_tail_over_head", 1e-3, "or: the gradient norm's last fifth over its first tenth (medians) at most this..."),
        T("max_loss_trend_z", 2.0, "...while the loss shows no trend over its last fifth (Mann-Kendall |z| below this)"),
        T("max_entropy_tail_over_head", 0.1, "a logged entropy at most this share of its start is cited as entropy collapse"),
    ),
    message="{what}.",
    pass_message="the gradient norm stays away from zero ({points} logged steps).",
    recommendation="No gradient is reaching the weights: check that the loss has trainable targets (labels not all "
                   "masked, rewards not all equal in RL), that parameters are not frozen and that mixed precision "
                   "does not underflow; the run cannot learn until this is fixed",
    flags=(), actions=(),
    expect="a gradient norm that stays away from zero (HND104 passes)",
    risk="None: nothing is learned while the gradient is zero.",
    doc=RuleDoc(
        what="The logged gradient norm: exact zeros at the end of the run, or a fall by orders of magnitude while "
             "the loss stops moving; a logged entropy collapsing with it is cited.",
        why="A zero gradient means the weights no longer change: in supervised fine-tuning all labels masked "
            "(loss 0.0), in RL fine-tuning every completion of a group rewarded the same (zero advantage).",
        example="HND104 the gradient norm is exactly 0 at the last 40 of 80 logged steps (from step 410).",
        fix="Inspect a batch: labels present after masking, reward variance within groups, requires_grad on "
            "the trained parameters, bf16 instead of fp16.",
    ),
    cause=Cause(
        order=105, title="No gradient reaches the model",
        explains=(("HND407", "with no gradient the loss cannot move"),),
    ),
)


def check_stage_without_gradient(r: Results, t: Thresholds) -> Outcome:
    le = r.learning
    shares = [s for s in le.stage_shares if s.median_share is not None]
    if not shares:
        return Outcome(None, {"reason": "no per-stage gradient norms (grad_norm/stage{i}) logged"})
    starved = [s for s in shares if s.median_share < t["min_share"]]
    facts = {"stages": ", ".join(f"stage {s.stage} {100 * s.median_share:.3g}%" for s in (starved or shares)),
             "n": len(starved)}
    worst = min(shares, key=lambda s: s.median_share)
    ev = Evidence(metric=worst.metric, measured=worst.median_share, threshold=t["min_share"], stage=worst.stage,
                  plot="grad_norm.png")
    return Outcome(bool(starved), facts, ev)


HND105 = Rule(
    code="HND105", name="stage-without-gradient", title="An H-Net stage receives (almost) no gradient",
    severity=Severity.MEDIUM, area="gradients", reads=("learning",), needs=("grad_norm",), only_hnet=True,
    check=check_stage_without_gradient,
    thresholds=(T("min_share", 0.001, "median share of the total gradient norm (stage / total) below which a stage "
                                      "is not being trained"),),
    message="median share of the total gradient norm: {stages} (threshold {tp_min_share}).",
    pass_message="every stage carries a share of the gradient norm: {stages}.",
    recommendation="Check that the starved stage is in the optimizer and that its routing passes gradients "
                   "(the smoothing/straight-through path), before raising its learning-rate multiplier",
    flags=(), actions=(),
    expect="every stage above 0.1% of the total gradient norm (HND105 passes)",
    risk="None until the cause is found; raising its multiplier blindly can destabilise the stage.",
    doc=RuleDoc(
        what="Each stage's gradient norm (grad_norm/stage{i}) as a share of the total norm, median over the run.",
        why="A stage that gets almost none of the gradient is frozen in effect: its encoder/decoder never "
            "learns, and the chunking it feeds stays where it was initialised. A small share alone is normal "
            "(inner stages are smaller; 0.5% is seen on healthy runs); below 0.1% it is not.",
        example="HND105 median share of the total gradient norm: stage 1 0.02% (threshold 0.1%).",
        fix="Verify requires_grad and optimizer groups for the stage; check the routing module's backward path.",
    ),
    cause=Cause(order=106, title="A stage is not being trained"),
)


RULES = (HND101, HND102, HND103, HND104, HND105)
