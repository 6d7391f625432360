"""Every hnet-diag rule: code, name, severity, thresholds, texts, and one small predicate.

Codes are stable and never reused or renumbered (tests/test_rules_catalog.py pins them):
HND1xx gradients, HND2xx learning-rate schedule, HND3xx H-Net load balance / dynamic
chunking, HND4xx convergence and loss health, HND5xx generation and decoding, HND9xx
healthy signs (severity `positive`).

Predicates read the analyzer results (`hnet_diag.analyzers`, keys as in `analyze_all`) plus
`results["training"]` (the run's TrainingSettings, for flag suggestions). They return an
Outcome whose facts fill the message: every message quotes the measured value and the
threshold. Recommendations use the reference trainer's flags (`hnet-diag train`) and the
generation flags (`hnet-diag generate`).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from .rule import Evidence, Outcome, Rule, RuleDoc, Severity, Threshold

NO = Outcome(None)
PAPER_RATIO_LOSS_WEIGHT = 0.03  # alpha in every experiment of the H-Net paper
#: metrics whose NaN/Inf means the optimisation broke (not timing or throughput columns)
TRAINING_SIGNALS = {"loss", "val_loss", "bpb", "val_bpb", "grad_norm", "ratio_loss"}


# -- small helpers -------------------------------------------------------------------------

def g(v: Any, digits: int = 3) -> str:
    """A number for a sentence: 3 significant digits, thousands separated, sci for tiny."""
    if v is None:
        return "?"
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v != 0 and abs(v) < 1e-3:
        return sci(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def sci(v: float) -> str:
    """3e-4, 1.5e-4: how people type learning rates."""
    mant, exp = f"{v:.1e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


def pct(v: float | None) -> str:
    return "?" if v is None else f"{100 * v:.1f}%"


def listing(values: Iterable[float]) -> str:
    out = []
    for v in values:
        v = round(float(v), 2)  # 2.9999998 (float32 LR ratios) is 3.0
        out.append(f"{v:.1f}" if v.is_integer() else f"{v:.2f}".rstrip("0"))
    return ",".join(out)


def after_warmup(spikes: Iterable[Any]) -> list[Any]:
    return [s for s in spikes if s.phase == "after_warmup"]


def training(r: Mapping[str, Any]) -> Any:
    return r.get("training")


def base_lr(r: Mapping[str, Any]) -> float | None:
    """The run's --learning-rate: config first, else the peak of the logged LR."""
    t = training(r)
    if t is not None and getattr(t, "learning_rate", None):
        return float(t.learning_rate)
    w = r.get("warmup")
    if w is not None and getattr(w, "ok", False) and w.peak_lr:
        return float(w.peak_lr)
    return None


def lower_lr_flags(r: Mapping[str, Any], factor: float = 0.5) -> tuple[str, str]:
    """('--learning-rate 1.5e-4', '3e-4 -> 1.5e-4') or ('', '') when the LR is unknown."""
    lr = base_lr(r)
    if lr is None:
        return "--learning-rate <half the current value>", "half the current LR"
    return f"--learning-rate {sci(lr * factor)}", f"{sci(lr)} -> {sci(lr * factor)}"


def window_of(steps: Iterable[int]) -> tuple[int, int] | None:
    steps = list(steps)
    return (min(steps), max(steps)) if steps else None


def clip_flag(r: Mapping[str, Any]) -> str:
    """Recommend clipping only where the run has none."""
    gr = r.get("gradients")
    t = training(r)
    clips = [getattr(gr, "max_grad_norm", None), getattr(t, "max_grad_norm", None)]
    has_clip = any(c is not None and c > 0 for c in clips)  # the trainer's --max-grad-norm 0 disables clipping
    return "" if has_clip else "--max-grad-norm 1.0"


# -- HND1xx gradients ----------------------------------------------------------------------

def stage_spikes(gr: Any, min_ratio: float) -> dict[int, list[Any]]:
    """Per-stage spikes after warmup of at least `min_ratio` (warmup-phase events are global)."""
    return {st.stage: [s for s in after_warmup(st.spikes) if s.ratio >= min_ratio] for st in gr.stages}


def check_gradient_spikes(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    gr = r["gradients"]
    if not gr.n_points and not gr.stages:
        return NO
    total = [s for s in after_warmup(gr.spikes) if s.ratio >= t["min_ratio"]]
    per_stage = stage_spikes(gr, t["min_ratio"])
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
    severity = Severity.CRITICAL if fired and loss_follow else None
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
        "lr_at_max": g(top.lr) if top and top.lr is not None else "?",
        "loss_note": f"; {loss_follow} followed by a loss spike" if loss_follow else "",
        "stage_note": stage_note,
        "lr_flag": lr_flag,
        "lr_change": lr_change,
        "clip_flag": clip_flag(r),
        "points": gr.n_points,
        "first_note": f" ({gr.first_steps_note})" if gr.first_steps_note else "",
        # a pass must not read "no spike" when an isolated one was measured: say what it was
        "isolated_note": (
            f"; {len(spikes)} isolated spike(s), largest {g(top.ratio)}x at step {top.step}, below the bar of "
            f"{int(t['min_spikes'])} spikes or one of {g(t['single_spike_ratio'])}x"
            if spikes and not fired else ""
        ),
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


def check_clipping(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    gr = r["gradients"]
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


def check_vanishing(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    gr = r["gradients"]
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


# -- HND2xx schedule -----------------------------------------------------------------------

def check_warmup(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    """Instability where the LR first peaks, seen three ways (any one is evidence):

    1. significant gradient/loss spikes clustered around the end of warmup;
    2. the loss rising well above its running minimum once the LR has peaked (a step at or
       after the end of warmup, inside the analyzer's window);
    3. with no warmup (or one shorter than the "first steps"), the first steps themselves:
       mostly high norms and a loss rise, where no spike detector has a baseline yet.
    """
    w = r["warmup"]
    gr = r.get("gradients")
    if w.warmup_steps is None:
        return Outcome(None, {"reason": "warmup length unknown (no LR series or config)"})
    # significant events only: total-norm spikes of HND101's size and loss spikes of HND405's
    # size, one per step (a step where the total and the loss both jump is one event)
    loss_metric = getattr(r.get("loss"), "loss_metric", None) or "loss"
    events = sorted({
        s.step for s in w.spikes_near_end
        if (s.metric in ("grad_norm", getattr(gr, "metric", "grad_norm")) and s.ratio >= t["min_grad_ratio"])
        or (s.metric in ("loss", loss_metric) and s.ratio >= t["min_loss_ratio"])
    })
    near = len(events)
    concentration = w.concentration or 0.0  # no spike at all: nothing concentrated anywhere
    clustered = near >= t["min_spikes_near_end"] and concentration >= t["min_concentration"]
    rise = w.window_loss_rise
    rose = bool(rise is not None and rise >= t["min_loss_rise"] and (w.window_loss_rise_step or 0) >= w.warmup_steps)
    early = False
    if gr is not None and getattr(gr, "ok", False) and gr.first_steps and w.warmup_steps <= gr.first_steps:
        early = (gr.first_steps_high_norms >= t["min_high_norm_share"] * gr.first_steps
                 and (gr.first_steps_loss_rise or 0.0) >= t["min_loss_rise"])
    if not (clustered or rose or early) and w.concentration is None and w.spikes_total and rise is None:
        return Outcome(None, {"reason": "spike distribution around the end of warmup unknown"})
    fired = clustered or rose or early
    seen = []
    if clustered:
        seen.append(f"{near} steps with a significant gradient or loss spike ({', '.join(map(str, events))}), "
                    f"{g(concentration, 2)}x denser than if spread evenly (thresholds: {g(t['min_spikes_near_end'])} steps, "
                    f"{g(t['min_concentration'])}x)")
    if rose:
        seen.append(f"the loss rose {pct(rise)} above its running minimum at step {w.window_loss_rise_step}, after the LR "
                    f"peaked (threshold {pct(t['min_loss_rise'])})")
    if early:
        loss_part = "" if rose else f" and the loss rose {pct(gr.first_steps_loss_rise)}"
        seen.append(f"{gr.first_steps_high_norms} of the first {gr.first_steps} steps had gradient norms above "
                    f"{g(gr.high_norm_factor)}x the later median{loss_part} (threshold: {pct(t['min_high_norm_share'])} "
                    "of the steps)")
    planned = w.planned_steps
    suggested = max(2 * w.warmup_steps, int(round(t["suggested_fraction"] * planned)) if planned else 100, 1)
    suggested = int(float(f"{suggested:.2g}"))
    lo, hi = w.near_window or (w.warmup_steps, w.warmup_steps)
    facts = {
        "near": near, "steps": ", ".join(map(str, events)) or "none", "total": w.spikes_total, "lo": lo, "hi": hi,
        "warmup": w.warmup_steps, "seen": "; ".join(seen),
        "rise": pct(rise) if rise is not None else "unknown",
        "concentration": g(concentration, 2), "fraction": pct(w.warmup_fraction),
        "of": f"{planned} planned steps" if w.fraction_of == "planned_steps" and planned else "the steps run",
        "suggested": suggested, "suggested_fraction": pct(suggested / planned) if planned else "?",
    }
    steps = tuple(events) + ((w.window_loss_rise_step,) if rose and w.window_loss_rise_step not in events else ())
    measured, threshold = (concentration, t["min_concentration"]) if clustered or not (rose or early) else (
        (rise, t["min_loss_rise"]) if rose else (gr.first_steps_loss_rise, t["min_loss_rise"]))
    ev = Evidence(metric=w.lr_metric, steps=tuple(sorted(steps)), measured=measured, threshold=threshold,
                  window=w.near_window, plot="lr.png")
    return Outcome(fired, facts, ev)


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


def check_lr_ratio(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    lr = r["lr_ratio"]
    if len(lr.multipliers) < 2 or lr.max_min_ratio is None:
        return Outcome(None, {"reason": "fewer than two per-stage learning rates known"})
    ref, ref_name = _rule_ratio(lr)
    off = lr.max_min_ratio / ref
    # only too steep is a problem: flatter than Eq. 11 includes the paper's own [2.0, 1.5, 1.0]
    far = off >= t["far_factor"]
    gr = r.get("gradients")
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


def check_annealed(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    c = r["convergence"]
    if c.lr_last_over_peak is None:
        return Outcome(None, {"reason": "no learning-rate series"})
    fired = c.lr_last_over_peak > t["max_final_lr_fraction"]
    resume = bool(c.planned_steps and c.last_step is not None and c.last_step < c.planned_steps)
    facts = {
        "frac": pct(c.lr_last_over_peak), "last": g(c.lr_last), "peak": g(c.lr_peak), "step": c.last_step,
        "how": (f"resume the run to its planned {c.planned_steps} steps so the schedule's decay phase runs"
                if resume else "use a schedule that decays the LR before the last step (the paper's WSD decays over the last 20%)"),
        "flags": f"--resume --max-steps {c.planned_steps}" if resume else "--schedule wsd",
    }
    ev = Evidence(metric=c.lr_metric, measured=c.lr_last_over_peak, threshold=t["max_final_lr_fraction"],
                  window=(c.last_step, c.last_step) if c.last_step is not None else None, plot="lr.png")
    return Outcome(fired, facts, ev)


# -- HND3xx load balance -------------------------------------------------------------------

def _stages(r: Mapping[str, Any]) -> list[Any]:
    return list(r["load_balance"].stages)


def _weight_flag(r: Mapping[str, Any]) -> tuple[str, str]:
    """(flag, advice): restore the paper's alpha when the run used less, else let the router settle."""
    w = getattr(training(r), "ratio_loss_weight", None)
    if w is not None and w >= PAPER_RATIO_LOSS_WEIGHT:
        return "", (f"the ratio loss weight is already {g(w)}, so give the router time: train longer and check that "
                    "--target-compression matches the config")
    now = "unknown" if w is None else g(w)
    return (f"--ratio-loss-weight {PAPER_RATIO_LOSS_WEIGHT}",
            f"give the load-balancing loss its weight: {now} -> {PAPER_RATIO_LOSS_WEIGHT} (the paper's alpha)")


def check_ratio_loss(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    stages = [s for s in _stages(r) if s.ratio_loss is not None]
    if not stages:
        return Outcome(None, {"reason": "no ratio loss logged per stage"})
    worst = max(stages, key=lambda s: (s.ratio_loss_excess or 0.0, -s.stage))
    excess = worst.ratio_loss_excess if worst.ratio_loss_excess is not None else worst.ratio_loss - 1.0
    flag, change = _weight_flag(r)
    below = [s for s in stages if s.ratio_loss < 1.0 - t["max_excess"]]
    below_note = ""
    if below:
        below_note = (f"; below 1.0 on stage {', '.join(str(s.stage) for s in below)}, which only happens when the "
                      "boundary fraction F and the mean probability G differ: not a sign of balance (see HND302)")
    facts = {
        "stage": worst.stage, "value": f"{worst.ratio_loss:.4f}", "excess": g(excess),
        "all": ", ".join(f"stage {s.stage}: {s.ratio_loss:.4f}" for s in stages), "flag": flag, "change": change,
        "below_note": below_note,
    }
    ev = Evidence(metric=f"ratio_loss/stage{worst.stage}", measured=worst.ratio_loss, threshold=1.0 + t["max_excess"],
                  stage=worst.stage, window=worst.tail_window, plot="compression.png")
    return Outcome(excess > t["max_excess"], facts, ev)


def check_compression(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    stages = [s for s in _stages(r) if s.compression is not None and s.target]
    if not stages:
        return Outcome(None, {"reason": "no compression (or boundary fraction) logged, or no target known"})
    problems = []
    collapse = False
    for s in stages:
        err = s.compression_relative_error if s.compression_relative_error is not None else (s.compression - s.target) / s.target
        if s.f_times_target is not None and s.f_times_target < t["min_f_times_target"]:
            collapse = True
            problems.append((s, err, f"stage {s.stage} collapsed to almost no boundaries (F x N = {g(s.f_times_target, 2)}, "
                                     f"threshold {g(t['min_f_times_target'])})"))
        elif s.boundary_frac is not None and s.boundary_frac >= t["max_boundary_frac"]:
            collapse = True
            problems.append((s, err, f"stage {s.stage} selects almost every position (F = {g(s.boundary_frac, 2)}, "
                                     f"threshold {g(t['max_boundary_frac'])})"))
        elif abs(err) > t["max_relative_error"]:
            problems.append((s, err, f"stage {s.stage} compresses {g(s.compression)}x against a target of {g(s.target)}x "
                                     f"({'+' if err > 0 else ''}{pct(err)}; threshold ±{pct(t['max_relative_error'])})"))
    worst = max(problems, key=lambda p: abs(p[1]))[0] if problems else max(stages, key=lambda s: abs(s.compression / s.target - 1))
    flag, change = _weight_flag(r)
    extra: list[str] = []
    if collapse and not flag:  # alpha is right, yet the router collapsed: it was driven too hard
        lr_flag, lr_change = lower_lr_flags(r)
        extra.append(lr_flag)
        tr = training(r)
        change = f"the ratio loss weight is already the paper's, so restart with a gentler LR ({lr_change})"
        if getattr(tr, "warmup_steps", None) == 0:
            planned = getattr(tr, "max_steps", None)
            extra.append(f"--warmup-steps {max(1, int(0.1 * planned)) if planned else 100}")
            change += " and a warmup (the router starts at the identity and is the most LR-sensitive part)"
    facts = {
        "problems": "; ".join(p[2] for p in problems) or "every stage within range",
        "all": ", ".join(f"stage {s.stage}: {g(s.compression)}x (target {g(s.target)})" for s in stages),
        "flag": " ".join([flag, *extra]).strip(), "change": change,
        "targets": listing(s.target for s in stages),
    }
    ev = Evidence(metric=f"compression/stage{worst.stage}", measured=worst.compression, threshold=worst.target,
                  stage=worst.stage, window=worst.tail_window, plot="compression.png")
    actions = None
    if extra:  # the fix is a gentler start, not a stronger ratio loss
        actions = ("learning_rate:down",) + (("warmup_steps:up",) if len(extra) > 1 else ())
    elif not flag:
        actions = ()
    return Outcome(bool(problems), facts, ev, Severity.CRITICAL if collapse else None, actions)


def check_undecided(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    stages = [s for s in _stages(r) if s.undecided_frac is not None]
    if not stages:
        return Outcome(None, {"reason": "no boundary_undecided metric logged"})
    worst = max(stages, key=lambda s: (s.undecided_frac, -s.stage))
    facts = {"stage": worst.stage, "frac": pct(worst.undecided_frac),
             "all": ", ".join(f"stage {s.stage}: {pct(s.undecided_frac)}" for s in stages)}
    ev = Evidence(metric=f"boundary_undecided/stage{worst.stage}", measured=worst.undecided_frac,
                  threshold=t["max_undecided_frac"], stage=worst.stage, window=worst.tail_window)
    return Outcome(worst.undecided_frac > t["max_undecided_frac"], facts, ev)


# -- HND4xx convergence and loss -----------------------------------------------------------

def check_stopped_early(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    c = r["convergence"]
    if c.fraction_completed is None or not c.planned_steps:
        return Outcome(None, {"reason": "no planned step count (max_steps) in the run's config"})
    facts = {"last": c.last_step, "planned": c.planned_steps, "frac": pct(c.fraction_completed)}
    ev = Evidence(metric=c.loss_metric, measured=c.fraction_completed, threshold=t["min_completed"],
                  window=(c.last_step, c.last_step) if c.last_step is not None else None, plot="loss.png")
    return Outcome(c.fraction_completed < t["min_completed"], facts, ev)


def check_still_improving(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    c = r["convergence"]
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


def check_overfitting(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    c = r["convergence"]
    if c.val_points < t["min_val_points"] or c.val_increase_relative is None or c.best_val_step is None:
        return Outcome(None, {"reason": f"fewer than {int(t['min_val_points'])} validation points"})
    fired = c.val_increase_relative > t["min_val_increase"] and (c.last_val_step or 0) > c.best_val_step
    facts = {"best": g(c.best_val), "best_step": c.best_val_step, "last": g(c.last_val), "last_step": c.last_val_step,
             "rise": pct(c.val_increase_relative)}
    ev = Evidence(metric=c.val_metric, steps=(c.best_val_step, c.last_val_step or c.best_val_step),
                  values=(c.best_val or 0.0, c.last_val or 0.0), measured=c.val_increase_relative,
                  threshold=t["min_val_increase"], window=(c.best_val_step, c.last_val_step or c.best_val_step), plot="loss.png")
    return Outcome(fired, facts, ev)


def check_divergence(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    lo = r["loss"]
    nonfinite_loss = lo.loss_nonfinite_count > 0
    diverged = (
        lo.final_over_min is not None
        and lo.final_over_min >= t["max_final_over_min"]
        and (lo.end_trend_z is None or lo.end_trend_z >= t["min_trend_z"])
    )
    if lo.final_over_min is None and not lo.nonfinite_count:
        return Outcome(None, {"reason": "too few loss points"})
    # NaN in a timing or throughput column (step 0 of many loggers) says nothing about training
    others = [n for n in lo.nonfinite if n.metric != lo.loss_metric and n.metric.split("/")[0] in TRAINING_SIGNALS]
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
    facts = {"what": "; ".join(what), "lr_flag": lr_flag, "lr_change": lr_change, "clip_flag": clip_flag(r)}
    ev = Evidence(metric=lo.loss_metric, measured=float("nan") if nonfinite_loss else lo.final_over_min,
                  threshold=t["max_final_over_min"],
                  window=(start, max(start, lo.val_last_step or start)) if start is not None else None, plot="loss.png")
    severity = Severity.CRITICAL if (nonfinite_loss or diverged) else Severity.HIGH
    return Outcome(fired, facts, ev, severity)


def check_loss_spikes(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    lo = r["loss"]
    if lo.n_points < 20:
        return Outcome(None, {"reason": "fewer than 20 loss points"})
    spikes = [s for s in lo.spikes if s.phase != "first_steps" and s.ratio >= t["min_ratio"]]
    top = max(spikes, key=lambda s: s.ratio) if spikes else None
    lr_flag, lr_change = lower_lr_flags(r, 0.7)
    facts = {"n": len(spikes), "max_ratio": g(top.ratio if top else None), "step": top.step if top else "?",
             "steps": ", ".join(str(s.step) for s in spikes[:8]) + (" …" if len(spikes) > 8 else ""),
             "lr_flag": lr_flag, "lr_change": lr_change}
    ev = Evidence(metric=lo.loss_metric, steps=tuple(s.step for s in spikes), values=tuple(s.value for s in spikes),
                  measured=top.ratio if top else 0.0, threshold=t["min_ratio"],
                  window=window_of(s.step for s in spikes), plot="loss.png")
    fired = len(spikes) >= t["min_spikes"]
    return Outcome(fired, facts, ev, Severity.HIGH if len(spikes) >= t["many_spikes"] else None)


# -- HND5xx generation and decoding --------------------------------------------------------

def check_sampling(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    ge = r["generation"]
    if ge.temperature is None:
        return Outcome(None, {"reason": "no sampling temperature recorded"})
    top_p_open = ge.top_p is None or ge.top_p >= t["max_top_p"]
    no_top_k = not ge.top_k
    fired = ge.temperature >= t["max_temperature"] and top_p_open and no_top_k
    facts = {"temp": g(ge.temperature), "top_p": "unset" if ge.top_p is None else g(ge.top_p),
             "top_k": "unset" if not ge.top_k else ge.top_k}
    ev = Evidence(metric=None, measured=ge.temperature, threshold=t["max_temperature"])
    return Outcome(fired, facts, ev)


def check_repetition_penalty(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    ge = r["generation"]
    if ge.has_repetition_penalty is None:
        return Outcome(None, {"reason": "no repetition-penalty setting recorded"})
    facts = {"value": "unset" if ge.repetition_penalty is None else g(ge.repetition_penalty)}
    return Outcome(not ge.has_repetition_penalty, facts, Evidence(measured=ge.repetition_penalty or 1.0, threshold=1.0))


def check_generation_length(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    ge = r["generation"]
    if ge.max_new_over_seq_len is None:
        return Outcome(None, {"reason": "max new tokens or training sequence length unknown"})
    facts = {"new": ge.max_new_tokens, "seq": ge.training_seq_len, "ratio": g(ge.max_new_over_seq_len, 2)}
    ev = Evidence(measured=ge.max_new_over_seq_len, threshold=t["max_ratio"])
    return Outcome(ge.max_new_over_seq_len > t["max_ratio"], facts, ev)


def check_decoding(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    de = r["decoding"]
    if de.max_abs_diff is None:
        return Outcome(None, {"reason": "step-wise decoding could not be compared"})
    window_note = ""
    windows = [w for w in (de.attention_windows or ()) if w and w > 0]
    if de.first_position_above is not None and windows and de.first_position_above >= min(windows):
        window_note = (f"; the mismatch starts at position {de.first_position_above}, past the attention window "
                       f"{min(windows)}: decoding likely ignores the window")
    elif de.first_position_above is not None:
        window_note = f"; first differing position {de.first_position_above}"
    facts = {"diff": g(de.max_abs_diff), "rel": g(de.relative_max_diff), "n": de.n_sequences, "len": de.seq_len,
             "note": window_note, "ckpt": de.checkpoint or "?"}
    ev = Evidence(measured=de.max_abs_diff, threshold=t["max_abs_diff"],
                  steps=(de.checkpoint_step,) if de.checkpoint_step is not None else ())
    return Outcome(de.max_abs_diff > t["max_abs_diff"], facts, ev)


# -- HND9xx healthy signs ------------------------------------------------------------------

def positive(check, invert: bool = True):
    """A healthy sign is the problem rule's predicate with its verdict reversed, same evidence."""

    def pred(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
        out = check(r, t)
        if out.fired is None:
            return out
        return Outcome(not out.fired if invert else out.fired, out.facts, out.evidence)

    return pred


def check_no_spikes(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    gr = r["gradients"]
    if gr.n_points < t["min_points"]:
        return Outcome(None, {"reason": f"fewer than {int(t['min_points'])} gradient-norm points"})
    out = check_gradient_spikes(r, {"min_ratio": t["min_ratio"], "min_spikes": 1, "single_spike_ratio": t["min_ratio"],
                                    "min_stage_spikes": 1})
    return Outcome(not out.fired, out.facts, out.evidence)


def check_loss_healthy(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    lo = r["loss"]
    if lo.final_over_min is None or lo.n_points < 20:
        return Outcome(None, {"reason": "too few loss points"})
    spikes = [s for s in lo.spikes if s.phase != "first_steps" and s.ratio >= t["spike_ratio"]]
    healthy = lo.nonfinite_count == 0 and lo.final_over_min < t["max_final_over_min"] and not spikes
    facts = {"final": g(lo.final_loss), "min": g(lo.running_min), "points": lo.n_points}
    return Outcome(healthy, facts, Evidence(metric=lo.loss_metric, measured=lo.final_over_min,
                                            threshold=t["max_final_over_min"], plot="loss.png"))


def check_lr_consistent(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    out = check_lr_ratio(r, {"far_factor": t["far_factor"], "min_stage_spikes": 2, "min_stage_share": 0.5,
                             "min_spike_ratio": 3.0, "min_blamed_ratio": 2.0})
    if out.fired is None:
        return out
    return Outcome(not out.fired, out.facts, out.evidence)


def check_routing_decided(r: Mapping[str, Any], t: Mapping[str, float]) -> Outcome:
    out = check_undecided(r, {"max_undecided_frac": t["max_undecided_frac"]})
    return out if out.fired is None else Outcome(not out.fired, out.facts, out.evidence)


# -- the catalog ---------------------------------------------------------------------------

def T(name: str, default: float, doc: str) -> Threshold:
    return Threshold(name, default, doc)


RULES: tuple[Rule, ...] = (
    Rule(
        code="HND101", name="gradient-spikes-after-warmup", title="Gradient explosion / spikes after warmup",
        severity=Severity.HIGH, area="gradients", reads=("gradients",),
        check=check_gradient_spikes,
        thresholds=(
            T("min_ratio", 3.0, "a spike counts when the pre-clip norm is at least this many times its local median"),
            T("min_spikes", 2, "spikes after warmup needed to raise the finding..."),
            T("single_spike_ratio", 10.0, "...unless one spike is at least this large, or is followed by a loss spike "
                                          "(which also makes the finding critical)"),
            T("min_stage_spikes", 3, "spikes after warmup on one stage's own norm (smaller and noisier than the total) "
                                     "that raise the finding when the total norm does not"),
        ),
        message="{n} spike(s) of {where} after warmup, up to {max_ratio}x the local median (norm {max_value} at step "
                "{max_step}, LR {lr_at_max}; threshold {t_min_ratio}x){loss_note}{stage_note}.",
        pass_message="no repeated or large gradient-norm spikes of {t_min_ratio}x the local median or more after warmup{isolated_note}{first_note}.",
        recommendation="Lower the peak learning rate ({lr_change}) so post-warmup updates stay in the stable range",
        flags=("{lr_flag}", "{clip_flag}"), actions=("learning_rate:down",),
        expect="no gradient-norm spike above {t_min_ratio}x its local median after warmup (HND101 passes)",
        risk="A lower learning rate slows progress per step; if the loss falls clearly slower, raise it back halfway.",
        doc=RuleDoc(
            what="Finds spikes in the pre-clip gradient norm (total, and per stage when logged) after warmup, with a "
                 "rolling median/MAD detector on the log norm. Spikes in the first steps are normal and ignored.",
            why="After warmup the LR is at its peak; norms jumping several times above their local level mean updates "
                "the optimizer cannot absorb. Clipping hides the size of the step but not its direction, and spikes "
                "followed by loss spikes are how runs diverge.",
            example="HND101 12 gradient-norm spike(s) after warmup, up to 41x the local median (norm 1,810 at step "
                    "2,150, LR 9e-4; threshold 3x); 3 followed by a loss spike.",
            fix="Lower --learning-rate; if the spikes sit on the stage with the largest LR multiplier, flatten "
                "--lr-multipliers (HND202); if they cluster at the end of warmup, lengthen --warmup-steps (HND201). "
                "Never raise --max-grad-norm to make spikes disappear.",
        ),
    ),
    Rule(
        code="HND102", name="clipping-saturated", title="Gradient clipping saturated (most steps clipped)",
        severity=Severity.MEDIUM, area="gradients", reads=("gradients",),
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
    ),
    Rule(
        code="HND103", name="vanishing-gradients", title="Vanishing gradients",
        severity=Severity.MEDIUM, area="gradients", reads=("gradients",),
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
    ),
    Rule(
        code="HND201", name="warmup-too-short", title="Warmup too short for the instability seen",
        severity=Severity.HIGH, area="schedule", reads=("warmup",),
        check=check_warmup,
        thresholds=(
            T("min_concentration", 3.0, "spikes near the end of warmup are at least this many times denser than if spread evenly"),
            T("min_spikes_near_end", 2, "steps with a significant spike needed near the end of warmup"),
            T("min_grad_ratio", 3.0, "a total gradient-norm spike is significant from this ratio to its local median"),
            T("min_loss_ratio", 1.3, "a loss spike is significant from this ratio to its local median"),
            T("min_loss_rise", 0.15, "a loss rise above its running minimum, once the LR peaked, that counts as "
                                     "instability (the tiny fixtures' noise is about 0.07)"),
            T("min_high_norm_share", 0.5, "with no warmup: share of the first steps with high gradient norms"),
            T("suggested_fraction", 0.1, "warmup fraction of the planned steps to suggest (the paper uses 10%)"),
        ),
        message="instability where a {warmup}-step warmup ({fraction} of {of}) ends, in steps {lo}-{hi}: {seen}.",
        pass_message="no instability where the {warmup}-step warmup ends (steps {lo}-{hi}): significant spikes {near} "
                     "(threshold {t_min_spikes_near_end}), loss rise {rise} (threshold {tp_min_loss_rise}).",
        recommendation="Lengthen the warmup so the LR reaches its peak only once the model can take it (the paper warms "
                       "up over 10% of training)",
        flags=("--warmup-steps {suggested}",), actions=("warmup_steps:up",),
        expect="no spike cluster or loss rise where the LR first peaks (HND201 passes)",
        risk="A longer warmup spends more steps at a low LR; with a fixed step budget the stable phase gets shorter.",
        doc=RuleDoc(
            what="Looks for instability in a window around the step where warmup ends (the LR first reaches its "
                 "peak): significant gradient/loss spikes clustered there, the loss rising above its running minimum "
                 "after the peak, or, with no warmup, mostly high gradient norms and a loss rise in the first steps.",
            why="The warmup ratio alone proves nothing: 2% can be plenty. Instability that clusters exactly where the "
                "LR peaks is the evidence that the model reached the peak LR too soon.",
            example="HND201 instability where a 2000-step warmup (2.0% of 100000 planned steps) ends, in steps "
                    "1000-4000: 4 steps with a significant gradient or loss spike (2010, 2050, 2080, 2300), 14x denser "
                    "than if spread evenly (thresholds: 2 steps, 3x).",
            fix="Raise --warmup-steps (the paper uses 10% of the steps), or lower --learning-rate.",
        ),
    ),
    Rule(
        code="HND202", name="lr-ratio-out-of-range", title="Per-stage LR multipliers out of range",
        severity=Severity.HIGH, area="schedule", reads=("lr_ratio",),
        check=check_lr_ratio,
        thresholds=(
            T("far_factor", 2.0, "the multipliers' max/min ratio may differ from the paper's Eq. 11 ratio by this factor"),
            T("min_stage_spikes", 2, "spikes after warmup that make a stage unstable (per-stage gradient norms)"),
            T("min_stage_share", 0.5, "...and the share of all per-stage spikes the largest-multiplier stage must hold"),
            T("min_spike_ratio", 3.0, "a per-stage spike counts from this ratio to its local median"),
            T("min_blamed_ratio", 2.0, "spikes on the largest-multiplier stage blame the multipliers only when their "
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
    ),
    Rule(
        code="HND203", name="lr-not-annealed", title="Learning rate not annealed when the run stopped",
        severity=Severity.MEDIUM, area="schedule", reads=("convergence",),
        check=check_annealed,
        thresholds=(T("max_final_lr_fraction", 0.5, "LR at the last step as a fraction of its peak above which it was not annealed"),),
        message="at the last step ({step}) the LR was {last}, {frac} of its peak {peak} (threshold {tp_max_final_lr_fraction}).",
        pass_message="LR at the last step {last}, {frac} of its peak {peak}.",
        recommendation="Anneal before judging the model: {how}",
        flags=("{flags}",), actions=("schedule:anneal",),
        expect="LR at the last step below half its peak (HND203 passes), and a lower final loss",
        risk="The decay phase costs steps; its gain in loss is usually the cheapest available.",
        doc=RuleDoc(
            what="Compares the LR at the last logged step with its peak.",
            why="Most of the final loss improvement of a WSD or cosine schedule comes from the decay. A run stopped "
                "at its peak LR (a cut-short run, or a constant schedule) is judged on an unannealed model and looks "
                "worse than it is.",
            example="HND203 at the last step (32,800) the LR was 3e-4, 100.0% of its peak 3e-4 (threshold 0.5).",
            fix="Resume to the planned --max-steps so the schedule decays, or use --schedule wsd (the paper's "
                "warmup-stable-decay).",
        ),
    ),
    Rule(
        code="HND301", name="ratio-loss-away-from-minimum", title="Ratio loss away from its minimum (load imbalance)",
        severity=Severity.MEDIUM, area="load balance", reads=("load_balance",),
        check=check_ratio_loss,
        thresholds=(T("max_excess", 0.1, "ratio loss above 1.0 (its minimum at F = G = 1/N) tolerated, median over the last "
                                         "20%; 0.1 is about a compression 1.5x off target with F = G"),),
        message="ratio loss of stage {stage} is {value} at the end of training, {excess} above its minimum 1.0 (threshold "
                "{t_max_excess}); {all}.",
        pass_message="ratio loss not above 1.0 + {t_max_excess} on any stage ({all}){below_note}.",
        recommendation="Bring the ratio loss to its minimum: {change}",
        flags=("{flag}",), actions=("ratio_loss_weight:up",),
        expect="ratio loss within 0.1 of 1.0 on every stage (HND301 passes)",
        risk="A larger ratio-loss weight trades a little language-modelling loss for on-target chunking.",
        doc=RuleDoc(
            what="Median ratio loss per stage over the last 20% of the run, against its minimum 1.0.",
            why="The ratio loss N/(N-1)((N-1)FG + (1-F)(1-G)) is 1.0 when the boundary fraction F and mean boundary "
                "probability G both equal 1/N. Above that the router is not compressing as targeted. Below 1.0 is "
                "possible when F != G, so a value near 1.0 is not proof of balance: HND302 checks compression itself.",
            example="HND301 ratio loss of stage 0 is 1.4210 at the end of training, 0.421 above its minimum 1.0 "
                    "(threshold 0.1).",
            fix="Use --ratio-loss-weight 0.03 (the paper's alpha); check --target-compression matches the config.",
        ),
    ),
    Rule(
        code="HND302", name="compression-off-target", title="Compression collapse or far from target",
        severity=Severity.HIGH, area="load balance", reads=("load_balance",),
        check=check_compression,
        thresholds=(
            T("max_relative_error", 0.5, "realized compression (1/F) may differ from the target N by this fraction"),
            T("min_f_times_target", 0.2, "F x N below this is a collapse to almost no boundaries"),
            T("max_boundary_frac", 0.9, "F at or above this is a collapse to (almost) every position a boundary"),
        ),
        message="{problems}.",
        pass_message="compression on every stage within range: {all}.",
        recommendation="Bring the chunking back to its targets ({targets}): {change}",
        flags=("{flag}",), actions=("ratio_loss_weight:up",),
        expect="realized compression within 50% of the target on every stage (HND302 passes)",
        risk="Forcing compression onto target early may cost some loss until the router adapts.",
        doc=RuleDoc(
            what="Realized compression per stage (positions per selected boundary, 1/F) over the last 20% of the run, "
                 "against the target N; and collapse: almost no boundaries, or almost all.",
            why="Dynamic chunking is what makes an H-Net hierarchical. Without boundaries the inner stages see "
                "nothing; with a boundary at every byte they see no compression and cost full price.",
            example="HND302 stage 0 compresses 11.8x against a target of 3x (+293.3%; threshold ±50.0%).",
            fix="Keep --ratio-loss-weight at 0.03 (0 turns load balancing off) and --target-compression at the "
                "config's targets.",
        ),
    ),
    Rule(
        code="HND303", name="undecided-routing", title="Undecided routing (boundary probabilities near 0.5)",
        severity=Severity.MEDIUM, area="load balance", reads=("load_balance",),
        check=check_undecided,
        thresholds=(T("max_undecided_frac", 0.5, "fraction of boundary probabilities within 0.05 of 0.5 tolerated (spread "
                                                 "evenly, 10% would fall there; above half, most boundaries are coin flips)"),),
        message="{frac} of stage {stage}'s boundary probabilities lie within 0.05 of 0.5 (threshold {tp_max_undecided_frac}); {all}.",
        pass_message="undecided boundary probabilities: {all} (threshold {tp_max_undecided_frac}).",
        recommendation="The router is not committing: check that the routing projections receive gradients (HND103 "
                       "per stage), keep the ratio loss on, and train longer before judging the chunking",
        expect="under half of the boundary probabilities within 0.05 of 0.5 (HND303 passes)",
        risk="None from checking.",
        doc=RuleDoc(
            what="The share of boundary probabilities p_t within 0.05 of 0.5 (`boundary_undecided/stage{i}`).",
            why="b_t = 1[p_t >= 0.5]: probabilities hovering at 0.5 flip boundaries on noise, so chunking is unstable "
                "and the upsampler's confidence term is weak. Reported by users of the official code.",
            example="HND303 98.8% of stage 1's boundary probabilities lie within 0.05 of 0.5 (threshold 50.0%).",
            fix="Verify gradients reach routing_module.q_proj_layer / k_proj_layer; keep --ratio-loss-weight 0.03; "
                "train longer.",
        ),
    ),
    Rule(
        code="HND401", name="stopped-early", title="Run stopped early against its plan",
        severity=Severity.MEDIUM, area="convergence", reads=("convergence",),
        check=check_stopped_early,
        thresholds=(T("min_completed", 0.9, "fraction of the planned steps that counts as finished"),),
        message="the run stopped at step {last} of {planned} planned ({frac}; threshold {tp_min_completed}).",
        pass_message="the run reached step {last} of {planned} planned ({frac}).",
        recommendation="Finish the planned training: resume from the last checkpoint up to {planned} steps",
        flags=("--resume --max-steps {planned}",), actions=("max_steps:up",),
        expect="the last step at 90% or more of the plan (HND401 passes)",
        risk="More compute; none for the model.",
        doc=RuleDoc(
            what="Compares the last logged step with the planned steps (max_steps in the config).",
            why="A run cut short is judged before its schedule finished: unannealed (HND203) and often still "
                "improving (HND402). Its samples say little about the recipe.",
            example="HND401 the run stopped at step 32,800 of 100,000 planned (32.8%; threshold 0.9).",
            fix="Resume with --resume up to --max-steps; if the budget was the reason, plan fewer steps so the "
                "schedule decays within it.",
        ),
    ),
    Rule(
        code="HND402", name="loss-still-improving", title="Loss still improving at the last step (undertrained)",
        severity=Severity.MEDIUM, area="convergence", reads=("convergence",),
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
    ),
    Rule(
        code="HND403", name="overfitting", title="Overfitting (validation loss rising from its best)",
        severity=Severity.HIGH, area="convergence", reads=("convergence",),
        check=check_overfitting,
        thresholds=(
            T("min_val_increase", 0.02, "validation loss above its best by this fraction"),
            T("min_val_points", 3, "validation points needed"),
        ),
        message="validation loss rose from its best {best} (step {best_step}) to {last} (step {last_step}), +{rise} "
                "(threshold {tp_min_val_increase}).",
        pass_message="validation loss {last} at step {last_step}, best {best} at step {best_step}.",
        recommendation="Use the checkpoint nearest the best validation step ({best_step}) and stop there, or add data",
        flags=("--max-steps {best_step}",), actions=("max_steps:down",),
        expect="validation loss at its best at the last evaluation (HND403 passes)",
        risk="Stopping earlier leaves the LR schedule unfinished unless --max-steps is set before training.",
        doc=RuleDoc(
            what="Best validation loss and its step against the last validation loss.",
            why="Validation loss rising while training loss falls means the model memorises its training data; "
                "further steps make it worse.",
            example="HND403 validation loss rose from its best 1.21 (step 4,000) to 1.34 (step 8,000), +10.7% "
                    "(threshold 0.02).",
            fix="Stop at the best step (--max-steps), use more data, or regularise.",
        ),
    ),
    Rule(
        code="HND404", name="divergence-or-nonfinite", title="Divergence or NaN/Inf",
        severity=Severity.CRITICAL, area="loss", reads=("loss",),
        check=check_divergence,
        thresholds=(
            T("max_final_over_min", 1.5, "final loss over its running minimum that counts as divergence"),
            T("min_trend_z", 2.0, "...with a rising trend at least this strong at the end (Mann-Kendall z)"),
        ),
        message="{what}.",
        pass_message="loss finite everywhere; final loss within {t_max_final_over_min}x of its minimum.",
        recommendation="Training diverged: lower the learning rate ({lr_change}) and restart from the last good checkpoint",
        flags=("{lr_flag}", "{clip_flag}"), actions=("learning_rate:down",),
        expect="a finite loss ending near its minimum (HND404 passes)",
        risk="Restarting from an earlier checkpoint repeats the steps after it.",
        doc=RuleDoc(
            what="NaN/Inf in the loss (or other metrics), and a final loss far above its running minimum with a "
                 "rising trend.",
            why="A diverged run produces nothing useful after the divergence; every later metric is noise.",
            example="HND404 the loss is NaN/Inf at 120 logged step(s), first at step 4,180.",
            fix="Lower --learning-rate, add clipping (--max-grad-norm 1.0), and restart from a checkpoint before the "
                "first bad step.",
        ),
    ),
    Rule(
        code="HND405", name="loss-spikes", title="Loss spikes",
        severity=Severity.MEDIUM, area="loss", reads=("loss",),
        check=check_loss_spikes,
        thresholds=(
            T("min_ratio", 1.3, "a loss spike counts when the loss is this many times its local median"),
            T("min_spikes", 1, "spikes needed to raise the finding"),
            T("many_spikes", 5, "this many spikes make the finding high severity"),
        ),
        message="{n} loss spike(s) of at least {t_min_ratio}x the local median, the largest {max_ratio}x at step {step} "
                "(steps {steps}).",
        pass_message="no loss spike of {t_min_ratio}x the local median or more after the first steps.",
        recommendation="Lower the learning rate ({lr_change}) to calm the loss spikes",
        flags=("{lr_flag}",), actions=("learning_rate:down",),
        expect="no loss spike of 1.3x its local median (HND405 passes)",
        risk="A lower LR slows training a little.",
        doc=RuleDoc(
            what="Spikes in the training loss (rolling median/MAD detector), outside the first steps.",
            why="Loss spikes are the visible side of unstable updates; each one costs the steps needed to recover, "
                "and repeated spikes often precede divergence.",
            example="HND405 4 loss spike(s) of at least 1.3x the local median, the largest 2.1x at step 2,310.",
            fix="Lower --learning-rate; check HND101/HND201 for the cause.",
        ),
    ),
    Rule(
        code="HND501", name="sampling-too-random", title="Sampling settings too random",
        severity=Severity.MEDIUM, area="generation", reads=("generation",),
        check=check_sampling,
        thresholds=(
            T("max_temperature", 1.0, "temperature at or above which sampling is untruncated"),
            T("max_top_p", 0.99, "top-p at or above which nucleus sampling truncates nothing"),
        ),
        message="samples are drawn at temperature {temp} with top-p {top_p} and top-k {top_k}: pure sampling from the "
                "full distribution (thresholds: temperature {t_max_temperature}, top-p {t_max_top_p}).",
        pass_message="sampling at temperature {temp}, top-p {top_p}, top-k {top_k}.",
        recommendation="Truncate the tail of the distribution when judging samples",
        flags=("--temperature 0.8 --top-p 0.9",), actions=("temperature:down", "top_p:down"),
        expect="samples judged at temperature below 1.0 with top-p below 1.0",
        risk="Truncated sampling is less diverse and can repeat itself (see HND502).",
        doc=RuleDoc(
            what="Reads the generation settings (generation.json or the config): temperature, top-p, top-k.",
            why="At temperature 1.0 with no top-p/top-k every sample draws from the model's full tail, so a small or "
                "undertrained model produces incoherent text even when its loss is fine. It does not affect training "
                "metrics: bad samples at these settings are not evidence of a training problem.",
            example="HND501 samples are drawn at temperature 1 with top-p 1 and top-k unset: pure sampling.",
            fix="hnet-diag generate --temperature 0.8 --top-p 0.9 (or --top-k 50).",
        ),
    ),
    Rule(
        code="HND502", name="no-repetition-penalty", title="No repetition penalty",
        severity=Severity.LOW, area="generation", reads=("generation",),
        check=check_repetition_penalty,
        message="no repetition penalty is applied (repetition penalty {value}).",
        pass_message="repetition penalty {value}.",
        recommendation="Add a mild repetition penalty to truncated sampling",
        flags=("--repetition-penalty 1.1",), actions=("repetition_penalty:up",),
        expect="fewer repeated loops in greedy or truncated samples",
        risk="Too strong a penalty distorts text (avoid values above 1.3).",
        doc=RuleDoc(
            what="Whether generation applies a repetition penalty.",
            why="Byte-level models with truncated sampling easily fall into loops; a mild penalty is a cheap guard.",
            example="HND502 no repetition penalty is applied (repetition penalty unset).",
            fix="hnet-diag generate --repetition-penalty 1.1.",
        ),
    ),
    Rule(
        code="HND503", name="generation-longer-than-context", title="Generation length against training context",
        severity=Severity.LOW, area="generation", reads=("generation",),
        check=check_generation_length,
        thresholds=(T("max_ratio", 1.0, "max new tokens over the training sequence length"),),
        message="generation asks for up to {new} new bytes, {ratio}x the training sequence length {seq} (threshold {t_max_ratio}x).",
        pass_message="max new tokens {new} within the training sequence length {seq}.",
        recommendation="Keep generations within the context the model was trained on",
        flags=("--max-new-tokens {seq}",), actions=("max_new_tokens:down",),
        expect="max new tokens at most the training sequence length",
        risk="Shorter samples.",
        doc=RuleDoc(
            what="Max new tokens (bytes) of generation against the training sequence length.",
            why="Past its training length the model runs on positions and attention spans it never saw; quality "
                "drops for reasons unrelated to training. Generating less than the context is never a problem.",
            example="HND503 generation asks for up to 4096 new bytes, 2x the training sequence length 2048.",
            fix="hnet-diag generate --max-new-tokens at most --seq-len.",
        ),
    ),
    Rule(
        code="HND504", name="decoding-mismatch", title="Step-wise decoding disagrees with the forward pass",
        severity=Severity.CRITICAL, area="decoding", reads=("decoding",),
        check=check_decoding,
        thresholds=(T("max_abs_diff", 1e-3, "largest absolute logit difference between step-wise and full forward"),),
        message="step-wise decoding differs from the teacher-forced forward pass by up to {diff} in the logits "
                "(relative {rel}; threshold {t_max_abs_diff}) over {n} sequences of {len} bytes{note}.",
        pass_message="step-wise decoding matches the forward pass (max logit difference {diff} over {n} sequences).",
        recommendation="Fix the decoding path so it reproduces training exactly (attention window, caches, routing "
                       "step) before judging samples; then regenerate",
        expect="step-wise logits equal the forward pass to 1e-3 (HND504 passes)",
        risk="None: this is a bug fix.",
        doc=RuleDoc(
            what="Runs the checkpoint both ways on held-out bytes: one byte at a time with caches, and the whole "
                 "sequence at once; compares the logits.",
            why="Samples come from the step-wise path, metrics from the forward pass. The official H-Net code once "
                "decoded with full attention while training used a 1023-byte window: every metric looked fine and "
                "samples were bad.",
            example="HND504 step-wise decoding differs from the teacher-forced forward pass by up to 3.2 in the logits "
                    "(relative 0.21; threshold 0.001) over 4 sequences of 256 bytes; the mismatch starts at position "
                    "64, past the attention window 64.",
            fix="Make the step function honour the training attention window and cache layout.",
        ),
    ),
    # -- healthy signs ---------------------------------------------------------------------
    Rule(
        code="HND901", name="no-gradient-spikes", title="No gradient spikes after warmup",
        severity=Severity.POSITIVE, area="gradients", reads=("gradients",),
        thresholds=(T("min_ratio", 3.0, "spike size that would have counted"),
                    T("min_points", 50, "gradient-norm points needed to say so")),
        message="no gradient-norm spike of {t_min_ratio}x the local median or more after warmup over {points} logged "
                "points{first_note}.",
        pass_message="gradient spikes after warmup were found (see HND101).",
        recommendation="", doc=RuleDoc(
            what="The absence of HND101's spikes over enough points.",
            why="Stable post-warmup gradients are the first thing to rule out when samples are bad.",
            example="HND901 no gradient-norm spike of 3x the local median or more after warmup over 2,000 logged points.",
            fix="Nothing to fix."),
        check=check_no_spikes,
    ),
    Rule(
        code="HND902", name="compression-on-target", title="Compression on target",
        severity=Severity.POSITIVE, area="load balance", reads=("load_balance",),
        thresholds=(T("max_relative_error", 0.2, "relative distance from the target counted as on target"),),
        message="compression within {tp_max_relative_error} of the target on every stage: {all}.",
        pass_message="compression not within range on every stage: {all}.",
        recommendation="", doc=RuleDoc(
            what="Realized compression per stage within 20% of its target.",
            why="On-target chunking is the proof that load balancing works; a ratio loss near 1.0 alone is not.",
            example="HND902 compression within 0.2 of the target on every stage: stage 0: 3.1x (target 3).",
            fix="Nothing to fix."),
        check=lambda r, t: positive(check_compression)(r, {**t, "min_f_times_target": 0.2, "max_boundary_frac": 0.9}),
    ),
    Rule(
        code="HND903", name="routing-decided", title="Routing decided",
        severity=Severity.POSITIVE, area="load balance", reads=("load_balance",),
        thresholds=(T("max_undecided_frac", 0.1, "share of boundary probabilities near 0.5 still called decided"),),
        message="the router commits: {all} of boundary probabilities within 0.05 of 0.5 (threshold {tp_max_undecided_frac}).",
        pass_message="undecided boundary probabilities: {all}.",
        recommendation="", doc=RuleDoc(
            what="Few boundary probabilities near 0.5 on every stage.",
            why="A decided router gives stable chunks and a strong confidence signal to the upsampler.",
            example="HND903 the router commits: stage 0: 2.1% of boundary probabilities within 0.05 of 0.5.",
            fix="Nothing to fix."),
        check=check_routing_decided,
    ),
    Rule(
        code="HND904", name="loss-healthy", title="Loss finite, falling and free of spikes",
        severity=Severity.POSITIVE, area="loss", reads=("loss",),
        thresholds=(T("max_final_over_min", 1.1, "final loss over its minimum still called healthy"),
                    T("spike_ratio", 1.3, "loss spike size that would have counted")),
        message="loss finite at all {points} points, final {final} against a minimum of {min}, no loss spike.",
        pass_message="loss not clean (see HND404/HND405).",
        recommendation="", doc=RuleDoc(
            what="No NaN/Inf, no loss spike, final loss near its minimum.",
            why="Rules out the loss-side failure modes at once.",
            example="HND904 loss finite at all 2,000 points, final 1.62 against a minimum of 1.60, no loss spike.",
            fix="Nothing to fix."),
        check=check_loss_healthy,
    ),
    Rule(
        code="HND905", name="lr-annealed", title="Learning rate annealed",
        severity=Severity.POSITIVE, area="schedule", reads=("convergence",),
        thresholds=(T("max_final_lr_fraction", 0.5, "LR at the last step over its peak"),),
        message="the LR was annealed to {frac} of its peak by the last step.",
        pass_message="the LR was not annealed ({frac} of its peak at the last step).",
        recommendation="", doc=RuleDoc(
            what="LR at the last step at most half its peak.",
            why="An annealed model is judged at its best.",
            example="HND905 the LR was annealed to 0.0% of its peak by the last step.",
            fix="Nothing to fix."),
        check=positive(check_annealed),
    ),
    Rule(
        code="HND906", name="decoding-matches-forward", title="Step-wise decoding matches the forward pass",
        severity=Severity.POSITIVE, area="decoding", reads=("decoding",),
        thresholds=(T("max_abs_diff", 1e-3, "largest logit difference still called equal"),),
        message="step-wise decoding reproduces the forward pass (max logit difference {diff} over {n} sequences of {len} bytes).",
        pass_message="decoding differs (see HND504).",
        recommendation="", doc=RuleDoc(
            what="Step-wise logits equal the teacher-forced logits.",
            why="Rules out the train/inference mismatch as the cause of bad samples.",
            example="HND906 step-wise decoding reproduces the forward pass (max logit difference 2.1e-6).",
            fix="Nothing to fix."),
        check=positive(check_decoding),
    ),
    Rule(
        code="HND907", name="lr-multipliers-consistent", title="Per-stage LR multipliers consistent with the paper",
        severity=Severity.POSITIVE, area="schedule", reads=("lr_ratio",),
        thresholds=(T("far_factor", 2.0, "allowed factor between the run's max/min ratio and Eq. 11's"),),
        message="LR multipliers [{multipliers}] (max/min {ratio}x) are consistent with Eq. 11 [{rule}] ({rule_ratio}x) "
                "and the largest is not on the unstable stage.",
        pass_message="LR multipliers [{multipliers}]: {why}.",
        recommendation="", doc=RuleDoc(
            what="Multipliers within a factor 2 of the paper's Eq. 11 ratio, with no instability on the largest stage.",
            why="Answers the frequent claim that H-Net's multipliers are 'too aggressive' with the paper's own rule.",
            example="HND907 LR multipliers [3,1.7,0.9] (max/min 3.3x) are consistent with Eq. 11 [2.63,1.52,0.72] (3.65x).",
            fix="Nothing to fix."),
        check=check_lr_consistent,
    ),
    Rule(
        code="HND908", name="run-completed", title="Run completed its plan",
        severity=Severity.POSITIVE, area="convergence", reads=("convergence",),
        thresholds=(T("min_completed", 0.9, "fraction of planned steps"),),
        message="the run reached step {last} of {planned} planned ({frac}).",
        pass_message="the run stopped at {frac} of its plan (see HND401).",
        recommendation="", doc=RuleDoc(
            what="Last step at 90% or more of the planned steps.",
            why="A finished run is judged on what its recipe can do.",
            example="HND908 the run reached step 2,000 of 2,000 planned (100.0%).",
            fix="Nothing to fix."),
        check=positive(check_stopped_early),
    ),
    Rule(
        code="HND909", name="no-overfitting", title="Validation loss at its best",
        severity=Severity.POSITIVE, area="convergence", reads=("convergence",),
        thresholds=(T("min_val_increase", 0.02, "rise above the best validation loss tolerated"),
                    T("min_val_points", 3, "validation points needed")),
        message="validation loss {last} at step {last_step} is within {tp_min_val_increase} of its best {best} (step {best_step}).",
        pass_message="validation loss rose from its best (see HND403).",
        recommendation="", doc=RuleDoc(
            what="The last validation loss within 2% of the best one.",
            why="No sign of memorisation.",
            example="HND909 validation loss 1.42 at step 2,000 is within 0.02 of its best 1.41 (step 1,800).",
            fix="Nothing to fix."),
        check=positive(check_overfitting),
    ),
)

#: the codes of the problem rules, and of the healthy signs (pinned by tests)
PROBLEM_CODES = tuple(r.code for r in RULES if r.severity is not Severity.POSITIVE)
POSITIVE_CODES = tuple(r.code for r in RULES if r.severity is Severity.POSITIVE)
BY_CODE = {r.code: r for r in RULES}
BY_NAME = {r.name: r for r in RULES}
