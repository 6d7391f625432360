"""HND2xx: the learning-rate schedule (warmup, per-stage multipliers, annealing).

Each rule stands with its predicate; see `hnet_diag.rules` for how to add one.
"""
from __future__ import annotations

import math
from typing import Any

from .. import paper
from ..analyzers.noise import RISE_SIMULATIONS
from ..formatting import g, listing, pct
from ..results import Results
from .gradients import stage_spikes
from .rule import Cause, Evidence, Outcome, Rule, RuleDoc, Severity, Thresholds
from .shared import T


def noise_reaches(p: float, t: Thresholds) -> str:
    """Why a climb is no evidence: noise alone reaches it often (noise.rise_p_value)."""
    return (f"a climb noise alone reaches in {pct(p)} of {RISE_SIMULATIONS} simulated runs of a loss that never rose "
            f"(threshold {pct(t['max_rise_p'])})")


def check_warmup(r: Results, t: Thresholds) -> Outcome:
    """Instability where the LR first peaks, seen three ways (any one is evidence):

    1. significant gradient/loss spikes clustered around the end of warmup;
    2. the loss rising well above its running minimum once the LR has peaked (a step at or
       after the end of warmup, inside the analyzer's window);
    3. with no warmup (or one shorter than the "first steps"), the first steps themselves:
       mostly high norms and a loss rise, where no spike detector has a baseline yet.
    """
    w = r.warmup
    gr = r.gradients
    if w.warmup_steps is None:
        return Outcome(None, {"reason": "warmup length unknown (no LR series or config)"})
    # significant events only: total-norm spikes of HND101's size and loss spikes of HND405's
    # size, one per step (a step where the total and the loss both jump is one event)
    loss_metric = getattr(r.loss, "loss_metric", None) or "loss"
    events = sorted({
        s.step for s in w.spikes_near_end
        if (s.metric in ("grad_norm", getattr(gr, "metric", "grad_norm")) and s.ratio >= t["min_grad_ratio"])
        or (s.metric in ("loss", loss_metric) and s.ratio >= t["min_loss_ratio"])
    })
    near = len(events)
    concentration = w.concentration or 0.0  # no spike at all: nothing concentrated anywhere
    clustered = near >= t["min_spikes_near_end"] and concentration >= t["min_concentration"]
    # the rise is read on the loss's trend when there is one: on a per-step log the raw loss of
    # a healthy fine-tune climbs 15-60% above its running minimum from batch noise alone
    trend = w.window_loss_rise_trend is not None
    rise = w.window_loss_rise_trend if trend else w.window_loss_rise
    rise_step = w.window_loss_rise_trend_step if trend else w.window_loss_rise_step
    # the running minimum of a noisy series is biased low: the rise must also beat the loss's
    # own scatter around its trend (relative to its level), or it is the noise it measures
    noise = w.loss_noise_relative
    large = rise is not None and rise >= t["min_loss_rise"]
    within_noise = large and noise is not None and rise < t["min_rise_over_noise"] * noise
    # ...and the extremes of a noisy series drift apart with its length: the climb must be one
    # that a loss which never rose, with this scatter, rarely shows (noise.rise_p_value)
    p_rise = w.window_loss_rise_trend_p if trend else None
    noise_could = large and not within_noise and p_rise is not None and p_rise > t["max_rise_p"]
    rose = bool(large and (rise_step or 0) >= w.warmup_steps and not within_noise and not noise_could)
    # the first steps' rise is read on the raw loss (too few points for a trend), so the same
    # scatter test applies to it: a rise within twice the loss's scatter is not instability
    early_shape = early_in_scatter = early_noise_could = False  # shape: mostly high norms, a large loss rise
    p_early = None
    if gr is not None and getattr(gr, "ok", False) and gr.first_steps and w.warmup_steps <= gr.first_steps:
        early_rise = gr.first_steps_loss_rise or 0.0
        p_early = gr.first_steps_loss_rise_p
        early_in_scatter = noise is not None and early_rise < t["min_rise_over_noise"] * noise
        early_noise_could = p_early is not None and p_early > t["max_rise_p"]
        early_shape = (gr.first_steps_high_norms >= t["min_high_norm_share"] * gr.first_steps
                       and early_rise >= t["min_loss_rise"])
    early = early_shape and not (early_in_scatter or early_noise_could)
    if not (clustered or rose or early) and w.concentration is None and w.spikes_total and rise is None:
        return Outcome(None, {"reason": "spike distribution around the end of warmup unknown"})
    fired = clustered or rose or early
    seen = []
    if clustered:
        seen.append(f"{near} steps with a significant gradient or loss spike ({', '.join(map(str, events))}), "
                    f"{g(concentration, 2)}x denser than if spread evenly (thresholds: {g(t['min_spikes_near_end'])} steps, "
                    f"{g(t['min_concentration'])}x)")
    if rose:
        seen.append(f"the loss{' trend' if trend else ''} rose {pct(rise)} above its running minimum at step {rise_step}, "
                    f"after the LR peaked (threshold {pct(t['min_loss_rise'])}"
                    + (f"; {g(rise / noise, 2)}x the loss's own scatter of {pct(noise)}, threshold "
                       f"{g(t['min_rise_over_noise'])}x" if noise else "")
                    + (f"; noise alone climbs as far in {pct(p_rise)} of {RISE_SIMULATIONS} simulated runs, threshold "
                       f"{pct(t['max_rise_p'])}" if p_rise is not None else "") + ")")
    if early:
        loss_part = "" if rose else (
            f" and the loss rose {pct(gr.first_steps_loss_rise)}"
            + (f", {g(gr.first_steps_loss_rise / noise, 2)}x its own scatter of {pct(noise)}" if noise else "")
            + (f", a climb noise alone reaches in {pct(p_early)} of {RISE_SIMULATIONS} simulated runs" if p_early is not None else ""))
        bars = f"{pct(t['min_high_norm_share'])} of the steps" + ("" if rose else (
            f", a rise of {pct(t['min_loss_rise'])}" + (f" and {g(t['min_rise_over_noise'])}x the scatter" if noise else "")
            + (f", p {pct(t['max_rise_p'])}" if p_early is not None else "")))
        seen.append(f"{gr.first_steps_high_norms} of the first {gr.first_steps} steps had gradient norms above "
                    f"{g(gr.high_norm_factor)}x the later median{loss_part} (thresholds: {bars})")
    planned = w.planned_steps
    suggested = max(2 * w.warmup_steps, int(round(t["suggested_fraction"] * planned)) if planned else 100, 1)
    suggested = int(float(f"{suggested:.2g}"))
    lo, hi = w.near_window or (w.warmup_steps, w.warmup_steps)
    facts = {
        "near": near, "steps": ", ".join(map(str, events)) or "none", "total": w.spikes_total, "lo": lo, "hi": hi,
        "warmup": w.warmup_steps, "seen": "; ".join(seen),
        "rise": pct(rise) if rise is not None else "unknown",
        "noise_note": (f", within {g(t['min_rise_over_noise'])}x the loss's own scatter of {pct(noise)}"
                       if within_noise else ", " + noise_reaches(p_rise, t) if noise_could else ""),
        # a pass must say when the first steps looked unstable but their loss rise was noise
        "early_note": (f"; in the first {gr.first_steps} steps {gr.first_steps_high_norms} gradient norms were above "
                       f"{g(gr.high_norm_factor)}x the later median and the loss rose {pct(gr.first_steps_loss_rise)}, "
                       + (f"within {g(t['min_rise_over_noise'])}x the loss's own scatter of {pct(noise)}"
                          if early_in_scatter else noise_reaches(p_early, t))
                       if early_shape and (early_in_scatter or early_noise_could) and not fired else ""),
        "concentration": g(concentration, 2), "fraction": pct(w.warmup_fraction),
        "of": f"{planned} planned steps" if w.fraction_of == "planned_steps" and planned else "the steps run",
        "suggested": suggested, "suggested_fraction": pct(suggested / planned) if planned else "?",
    }
    steps = tuple(events) + ((rise_step,) if rose and rise_step not in events else ())
    measured, threshold = (concentration, t["min_concentration"]) if clustered or not (rose or early) else (
        (rise, t["min_loss_rise"]) if rose else (gr.first_steps_loss_rise, t["min_loss_rise"]))
    ev = Evidence(metric=w.lr_metric, steps=tuple(sorted(steps)), measured=measured, threshold=threshold,
                  window=w.near_window, plot="lr.png")
    return Outcome(fired, facts, ev)


HND201 = Rule(
    code="HND201", name="warmup-too-short", title="Warmup too short for the instability seen",
    severity=Severity.HIGH, area="schedule", reads=("warmup",), needs=("lr", "grad_norm"),
    check=check_warmup,
    thresholds=(
        T("min_concentration", 3.0, "spikes near the end of warmup are at least this many times denser than if spread evenly"),
        T("min_spikes_near_end", 2, "steps with a significant spike needed near the end of warmup"),
        T("min_grad_ratio", 3.0, "a total gradient-norm spike is significant from this ratio to its local median"),
        T("min_loss_ratio", 1.3, "a loss spike is significant from this ratio to its local median"),
        T("min_loss_rise", 0.15, "a rise of the loss's trend (a running median over 5% of the run) above its running "
                                     "minimum, once the LR peaked, that counts as instability (the raw loss of a "
                                     "per-step fine-tune log climbs 15-60% from batch noise alone)"),
        T("min_rise_over_noise", 2.0, "...and at least this many times the loss's own scatter around its trend "
                                      "(robust, relative to its median): the running minimum of a noisy series is "
                                      "biased low, so a smaller rise is its noise"),
        T("max_rise_p", 0.01, "...and noise alone must rarely climb as far: the share of simulated runs of a loss "
                              "that never rose (its non-increasing fit times this loss's own scatter) whose climb "
                              "in the same steps is as large; chosen before any run was scored, strict because a "
                              "false high costs more than a miss"),
        T("min_high_norm_share", 0.5, "with no warmup: share of the first steps with high gradient norms (their "
                                      "loss rise must pass the same two bars as above)"),
        T("suggested_fraction", paper.WARMUP_FRACTION, "warmup fraction of the planned steps to suggest (the paper uses 10%)"),
    ),
    message="instability where a {warmup}-step warmup ({fraction} of {of}) ends, in steps {lo}-{hi}: {seen}.",
    pass_message="no instability where the {warmup}-step warmup ends (steps {lo}-{hi}): significant spikes {near} "
                 "(threshold {t_min_spikes_near_end}), loss rise {rise} (threshold {tp_min_loss_rise}){noise_note}{early_note}.",
    recommendation="Lengthen the warmup so the LR reaches its peak only once the model can take it (the paper warms "
                   "up over 10% of training)",
    flags=("--warmup-steps {suggested}",), actions=("warmup_steps:up",),
    expect="no spike cluster or loss rise where the LR first peaks (HND201 passes)",
    risk="A longer warmup spends more steps at a low LR; with a fixed step budget the stable phase gets shorter.",
    doc=RuleDoc(
        what="Looks for instability in a window around the step where warmup ends (the LR first reaches its "
             "peak): significant gradient/loss spikes clustered there, the loss rising above its running minimum "
             "after the peak, or, with no warmup, mostly high gradient norms and a loss rise in the first steps. "
             "A loss rise counts only when it also beats twice the loss's own scatter around its trend, and when "
             "a loss that never rose, with that scatter, would climb as far in at most 1% of simulated runs.",
        why="The warmup ratio alone proves nothing: 2% can be plenty. Instability that clusters exactly where the "
            "LR peaks is the evidence that the model reached the peak LR too soon.",
        example="HND201 instability where a 2000-step warmup (2.0% of 100000 planned steps) ends, in steps "
                "1000-4000: 4 steps with a significant gradient or loss spike (2010, 2050, 2080, 2300), 14x denser "
                "than if spread evenly (thresholds: 2 steps, 3x).",
        fix="Raise --warmup-steps (the paper uses 10% of the steps), or lower --learning-rate.",
    ),
    cause=Cause(
        order=20, title="Warmup too short for the learning rate reached",
        explains=(
            ("HND101", "the gradient spikes sit at the end of warmup: the LR reached its peak before the model could take it"),
            ("HND405", "the loss spikes follow the end of a short warmup"),
            ("HND404", "divergence starts right after a short warmup"),
        ),
        contradicted_by=("learning_rate:up", "warmup_steps:down"),
        specific_fix=True,
    ),
)


def _rule_ratio(lr: Any) -> tuple[float, str]:
    if lr.rule_max_min_ratio:
        return float(lr.rule_max_min_ratio), "the paper's Eq. 11 for this run's targets and widths"
    return float(lr.paper_suggested_ratio), "the paper's suggested multipliers"


def suggested_multipliers(lr: Any) -> tuple[float, ...]:
    """A flatter set: the paper's [2.0, 1.5, 1.0] when it fits, else Eq. 11, else sqrt of the current."""
    n = len(lr.multipliers)
    current = lr.max_min_ratio or 1.0
    if len(lr.paper_suggested) == n and lr.paper_suggested_ratio < current:
        return tuple(lr.paper_suggested)
    if lr.rule_multipliers and len(lr.rule_multipliers) == n and (lr.rule_max_min_ratio or current) < current:
        return tuple(round(m, 2) for m in lr.rule_multipliers)
    inner = lr.multipliers[-1] or 1.0
    return tuple(round(math.sqrt(m / inner), 2) for m in lr.multipliers)


def check_lr_ratio(r: Results, t: Thresholds) -> Outcome:
    lr = r.lr_ratio
    if len(lr.multipliers) < 2 or lr.max_min_ratio is None:
        return Outcome(None, {"reason": "fewer than two per-stage learning rates known"})
    ref, ref_name = _rule_ratio(lr)
    off = lr.max_min_ratio / ref
    # only too steep is a problem: flatter than Eq. 11 includes the paper's own [2.0, 1.5, 1.0]
    far = off >= t["far_factor"]
    gr = r.gradients
    if gr is not None and getattr(gr, "ok", False) and gr.stages:
        # significant spikes after warmup per stage (a global event at the end of warmup
        # shows on every stage and says nothing about which one is over-driven)
        by_stage = stage_spikes(gr, t["min_spike_ratio"])
        counts = tuple(len(by_stage.get(i, ())) for i in range(max(by_stage) + 1))
    else:
        counts = tuple(lr.stage_spike_counts or ())
    total_spikes = sum(counts)
    spiky = max(range(len(counts)), key=lambda i: (counts[i], -i)) if total_spikes else None
    unstable = spiky is not None and counts[spiky] >= t["min_stage_spikes"]
    # the paper's own general-purpose set (ratio 2) is never blamed for spikes: with it, an
    # unstable outer stage says the base LR is too high (HND101), not the multipliers
    on_largest = bool(
        unstable
        and lr.max_min_ratio > t["min_blamed_ratio"]
        and lr.largest_stage is not None
        and spiky == lr.largest_stage
        and counts[spiky] >= t["min_stage_share"] * total_spikes
    )
    fired = far or on_largest
    severity = Severity.HIGH if on_largest or (far and unstable) else Severity.MEDIUM
    why = []
    if on_largest:
        why.append(f"stage {lr.largest_stage}, the one with the largest multiplier, has the most gradient spikes "
                   f"({counts[lr.largest_stage]} of {total_spikes})")
    if far:
        why.append(f"the ratio is {g(off, 2)}x {ref_name} ({g(ref)}x; threshold: a factor {g(t['far_factor'])})")
        if unstable and not on_largest:
            why.append(f"stage {spiky}'s gradient norm spikes {counts[spiky]} times after warmup")
    if not why:
        why.append(f"the ratio is {g(off, 2)}x {ref_name} ({g(ref)}x), below a factor {g(t['far_factor'])}, "
                   "and the stage with the largest multiplier is not the unstable one")
    new = suggested_multipliers(lr)
    facts = {
        "multipliers": listing(lr.multipliers), "ratio": g(lr.max_min_ratio, 2), "why": "; ".join(why),
        "rule": listing(round(m, 2) for m in lr.rule_multipliers) if lr.rule_multipliers else "unknown",
        "rule_ratio": g(ref, 2), "suggested": listing(new),
        "suggested_ratio": g(max(new) / min(new), 2) if min(new) > 0 else "?",
        "largest": lr.largest_stage,
    }
    if on_largest:  # the evidence is the spikes on that stage
        measured, threshold = float(counts[lr.largest_stage]), t["min_stage_spikes"]
    else:
        measured, threshold = lr.max_min_ratio, ref * t["far_factor"]
    ev = Evidence(metric=f"lr/stage{lr.largest_stage}" if lr.largest_stage is not None else "lr",
                  values=tuple(lr.multipliers), measured=measured, threshold=threshold,
                  stage=spiky if unstable and (on_largest or far) else None, plot="lr.png")
    return Outcome(fired, facts, ev, severity)


HND202 = Rule(
    code="HND202", name="lr-ratio-out-of-range", title="Per-stage LR multipliers out of range",
    severity=Severity.HIGH, area="schedule", reads=("lr_ratio",),
    check=check_lr_ratio,
    thresholds=(
        T("far_factor", 2.0, "the multipliers' max/min ratio may differ from the paper's Eq. 11 ratio by this factor"),
        T("min_stage_spikes", 2, "spikes after warmup that make a stage unstable (per-stage gradient norms)"),
        T("min_stage_share", 0.5, "...and the share of all per-stage spikes the largest-multiplier stage must hold"),
        T("min_spike_ratio", 3.0, "a per-stage spike counts from this ratio to its local median"),
        T("min_blamed_ratio", paper.SUGGESTED_RATIO, "spikes on the largest-multiplier stage blame the multipliers only when their "
                                   "max/min ratio is above this (the paper's suggested [2.0, 1.5, 1.0] has 2)"),
    ),
    message="LR multipliers [{multipliers}] (max/min {ratio}x; Eq. 11 gives [{rule}], {rule_ratio}x): {why}.",
    pass_message="LR multipliers [{multipliers}] (max/min {ratio}x) against Eq. 11 [{rule}] ({rule_ratio}x): {why}.",
    recommendation="Flatten the per-stage multipliers (max/min {ratio}x -> {suggested_ratio}x) so the stage that "
                   "misbehaves gets a smaller share of the LR",
    flags=("--lr-multipliers {suggested}",), actions=("lr_multipliers:down",),
    expect="per-stage gradient spikes no longer concentrated on the stage with the largest multiplier (HND202 passes)",
    risk="Flatter multipliers slow the outer stages, which the paper found to benefit from a larger LR.",
    doc=RuleDoc(
        what="Reads the per-stage learning rates (logs, optimizer state or config), their multipliers and max/min "
             "ratio, and compares them with the paper's Eq. 11 computed from the run's compression targets and "
             "widths, and with per-stage gradient spikes.",
        why="H-Net trains outer stages with larger LRs on purpose: Eq. 11 gives an outer/inner ratio of 3-4x. A "
            "ratio like [3.0, 1.7, 0.9] is therefore not aggressive by itself. It becomes a problem when it is far "
            "from the rule, or when the stage with the largest multiplier is where the gradients spike.",
        example="HND202 LR multipliers [6,1.5,0.5] (max/min 12x; Eq. 11 gives [2.63,1.52,0.72], 3.65x): stage 0, "
                "the one with the largest multiplier, has the most gradient spikes (9 of 11).",
        fix="Use --lr-multipliers 2.0,1.5,1.0 (the paper's suggested set) or the Eq. 11 values.",
    ),
    cause=Cause(
        order=10, title="Per-stage learning rates too aggressive for the outer stage",
        explains=(
            ("HND101", "the gradient spikes are on the stage with the largest LR multiplier"),
            ("HND405", "the loss spikes coincide with instability on the most aggressively scaled stage"),
            ("HND404", "divergence starts on the stage with the largest LR multiplier"),
        ),
        contradicted_by=("lr_multipliers:up",),
        specific_fix=True,
    ),
)


def check_annealed(r: Results, t: Thresholds) -> Outcome:
    c = r.convergence
    if c.lr_last_over_peak is None:
        return Outcome(None, {"reason": "no learning-rate series"})
    if c.lr_points is not None and c.lr_points < t["min_lr_points"]:  # three values are no schedule to judge
        return Outcome(None, {"reason": f"{c.lr_points} learning-rate values (fewer than {int(t['min_lr_points'])})"})
    # the labelling guide's class (fixtures/real_runs/LABELLING.md): last LR >= 30% of the peak
    fired = c.lr_last_over_peak >= t["max_final_lr_fraction"]
    resume = bool(c.planned_steps and c.last_step is not None and c.last_step < c.planned_steps)
    facts = {
        "frac": pct(c.lr_last_over_peak), "last": g(c.lr_last), "peak": g(c.lr_peak), "step": c.last_step,
        "how": (f"resume the run to its planned {c.planned_steps} steps so the schedule's decay phase runs"
                if resume else "use a schedule that decays the LR before the last step (the paper's WSD decays over the last 20%)"),
        "flags": f"--resume --max-steps {c.planned_steps}" if resume else "--schedule wsd",
    }
    ev = Evidence(metric=c.lr_metric, measured=c.lr_last_over_peak, threshold=t["max_final_lr_fraction"],
                  window=(c.last_step, c.last_step) if c.last_step is not None else None, plot="lr.png")
    # resuming to the plan trains longer: say so, so the conflict check sees it beside "stop at
    # the best validation step" (HND403) and the plan never asks for both
    return Outcome(fired, facts, ev, actions=("max_steps:up", "schedule:anneal") if resume else None)


HND203 = Rule(
    code="HND203", live="end", name="lr-not-annealed", title="Learning rate not annealed when the run stopped",
    severity=Severity.MEDIUM, area="schedule", reads=("convergence",), needs=("lr",),
    reads_partial=("convergence",),  # the LR at the end and its peak need no loss curve
    check=check_annealed,
    thresholds=(T("max_final_lr_fraction", 0.3, "LR at the last step as a fraction of its peak at or above which it was not "
                                                "annealed (cosine schedules end at 10% of the peak or lower, WSD and linear "
                                                "decay near 0; 30% is a cosine-to-10% run cut at about 70% of its decay)"),
                T("min_lr_points", 5, "logged learning-rate values needed to judge a schedule")),
    message="at the last step ({step}) the LR was {last}, {frac} of its peak {peak} (threshold {tp_max_final_lr_fraction}).",
    pass_message="LR at the last step {last}, {frac} of its peak {peak}.",
    recommendation="Anneal before judging the model: {how}",
    flags=("{flags}",), actions=("schedule:anneal",),
    expect="LR at the last step below 30% of its peak (HND203 passes), and a lower final loss",
    risk="The decay phase costs steps; its gain in loss is usually the cheapest available.",
    doc=RuleDoc(
        what="Compares the LR at the last logged step with its peak.",
        why="Most of the final loss improvement of a WSD or cosine schedule comes from the decay. A run stopped "
            "at its peak LR (a cut-short run, or a constant schedule) is judged on an unannealed model and looks "
            "worse than it is.",
        example="HND203 at the last step (32,800) the LR was 3e-4, 100.0% of its peak 3e-4 (threshold 0.3).",
        fix="Resume to the planned --max-steps so the schedule decays, or use --schedule wsd (the paper's "
            "warmup-stable-decay).",
    ),
    cause=Cause(
        order=40, title="Learning rate never annealed",
        explains=(
            ("HND402", "without an annealing phase the loss never settled"),
        ),
    ),
)


RULES = (HND201, HND202, HND203)
