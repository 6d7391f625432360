"""HND7xx: the model's own weights and optimizer state (the newest checkpoint).

Every rule reads `hnet_diag.analyzers.weights.WeightsResult`, which summarises the
checkpoint the source already reduced to per-tensor statistics. HND701 and HND702 rest on
exact evidence, not statistics: a NaN is a NaN, and a trained tensor that is exactly 0.0
everywhere after optimizer steps received no update at any step. So neither needs a noise
margin, and a healthy run (every bundled fixture checkpoint) raises neither. HND703 (a
group departing from its peers) and HND704 (weights shrinking or growing between
checkpoints) are statistical; their thresholds come from real runs of the bundled trainer,
healthy and broken, made by benchmarks/calibrate_weights.py (numbers in their docs and the
README).

Each rule stands with its predicate; see `hnet_diag.rules` for how to add one.
"""
from __future__ import annotations

import math
from typing import Any

from ..formatting import g
from ..results import Results
from .rule import Cause, Evidence, Outcome, Rule, RuleDoc, Severity, Thresholds
from .shared import NO, T, clip_flag, lower_lr_flags, window_of

#: tensor names quoted in a message before "and N more"
SHOWN = 4


def _names(names: list[str]) -> str:
    head = ", ".join(names[:SHOWN])
    return head + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _where(step: int | None) -> str:
    return f"step {step}" if step is not None else "an unknown step"


def _at_checkpoints(*steps: int | None, **measured: Any) -> Evidence:
    """Evidence read from checkpoints: the steps they were written at (those known) and the
    window they span, so root-cause linking sees where the weights were looked at."""
    known = tuple(s for s in steps if s is not None)
    return Evidence(metric="checkpoint", steps=known, window=window_of(known), **measured)


def _too_early(w: Any, min_steps: float, why: str) -> Outcome | None:
    """No data while the checkpoint is not min_steps optimizer steps into training (or states no step)."""
    if w.step is None or w.step < min_steps:
        return Outcome(None, {"reason": f"the checkpoint is at {_where(w.step)}, before {g(min_steps)} steps: {why}"})
    return None


def check_nonfinite_weights(r: Results, t: Thresholds) -> Outcome:
    w = r.weights
    if not w.ok:
        return NO
    bad = list(w.non_finite)
    lr_flag, lr_change = lower_lr_flags(r)
    facts = {
        "step": _where(w.step), "checkpoint": w.checkpoint, "n_tensors": w.n_tensors, "n_moments": w.n_moments,
        "n": len(bad), "lr_flag": lr_flag, "lr_change": lr_change, "clip_flag": clip_flag(r),
        "tensors": _names([f"{b.name} ({b.nan_count} NaN, {b.inf_count} Inf of {b.numel})" for b in bad]),
        "kinds": " and ".join(sorted({"weights" if b.kind == "weight" else "Adam moments" for b in bad})) or "tensors",
    }
    ev = _at_checkpoints(w.step, values=tuple(float(b.nan_count + b.inf_count) for b in bad),
                         measured=float(len(bad)), threshold=t["max_tensors"])
    return Outcome(len(bad) > t["max_tensors"], facts, ev)


HND701 = Rule(
    code="HND701", name="nonfinite-weights", title="NaN/Inf in the weights or optimizer state",
    severity=Severity.CRITICAL, area="weights", reads=("weights",), needs=("checkpoint",),
    check=check_nonfinite_weights,
    thresholds=(T("max_tensors", 0, "tensors (weights or Adam moments) holding NaN/Inf that are tolerated"),),
    message="the checkpoint at {step} holds NaN/Inf in {n} tensor(s) ({kinds}): {tensors}.",
    pass_message="all {n_tensors} weight tensors and {n_moments} Adam moments of the checkpoint at {step} are finite.",
    recommendation="Do not resume from or ship this checkpoint: its {kinds} hold NaN/Inf, so every forward pass (or "
                   "the next update) through them is NaN. Restart from the newest checkpoint whose tensors are "
                   "finite with a lower learning rate ({lr_change})",
    flags=("{lr_flag}", "{clip_flag}"), actions=("learning_rate:down",),
    expect="every weight and Adam moment of the new checkpoints finite (HND701 passes)",
    risk="Restarting from an earlier checkpoint repeats the steps after it.",
    doc=RuleDoc(
        what="Counts NaN and Inf entries in every weight tensor and Adam moment (exp_avg, exp_avg_sq) of the "
             "newest checkpoint, and names the tensors that hold any.",
        why="A single NaN in a weight makes every output that passes through it NaN; one in exp_avg_sq makes the "
            "next Adam step NaN and spreads to the weights. The logged loss may not show it yet (the NaN step was "
            "skipped, or the checkpoint was written after the last log line), but resuming from or shipping the "
            "checkpoint cannot work.",
        example="HND701 the checkpoint at step 300 holds NaN/Inf in 1 tensor(s) (weights): "
                "backbone.residual_proj.weight (1 NaN, 0 Inf of 1024).",
        fix="Restart from the newest checkpoint whose tensors are all finite (`hnet-diag analyze CKPT` checks one), "
            "with a lower --learning-rate and clipping (--max-grad-norm 1.0).",
    ),
    cause=Cause(
        order=112, title="Non-finite weights",
        explains=(("HND404", "NaN/Inf weights or moments make the loss NaN at the next forward pass"),),
        contradicted_by=("learning_rate:up", "max_grad_norm:up", "max_steps:up"),
    ),
)


def check_never_moved(r: Results, t: Thresholds) -> Outcome:
    w = r.weights
    if not w.ok:
        return NO
    if w.step is None:
        return Outcome(None, {"reason": "the checkpoint states no step, so a zero tensor may just be its initialisation"})
    zero = list(w.still_zero)
    facts = {
        "step": w.step, "checkpoint": w.checkpoint, "candidates": w.candidates, "n": len(zero),
        "tensors": _names([f"{z.name} ({z.numel} entries)" for z in zero]),
        "first": zero[0].name if zero else "",
        "stages": ", ".join(sorted({str(z.stage) for z in zero if z.stage is not None})) or "?",
        "moment_note": ("; its Adam second moment is "
                        + ("exactly 0 (no gradient ever reached it)" if zero[0].exp_avg_sq_norm == 0
                           else f"{g(zero[0].exp_avg_sq_norm)} (gradients arrived, the updates did not)")
                        if zero and zero[0].exp_avg_sq_norm is not None else ""),
    }
    ev = _at_checkpoints(w.step, values=tuple(float(z.numel) for z in zero), measured=float(len(zero)),
                         threshold=t["min_steps"], stage=zero[0].stage if zero else None)
    return _too_early(w, t["min_steps"], "zero-initialised tensors may not have moved yet") or Outcome(bool(zero), facts, ev)


HND702 = Rule(
    code="HND702", name="parameters-never-moved", title="Trained parameters still exactly zero (never updated)",
    severity=Severity.HIGH, area="weights", reads=("weights",), needs=("checkpoint",),
    check=check_never_moved,
    thresholds=(T("min_steps", 10, "optimizer steps the checkpoint must be past before a still-zero tensor counts"),),
    message="{n} trained tensor(s) are still exactly zero at step {step}: {tensors}{moment_note}.",
    pass_message="no trained tensor is exactly zero at step {step} ({candidates} tensors checked).",
    recommendation="Find why {first} gets no update: check that it is in an optimizer param group with a non-zero "
                   "learning rate (stage {stages}'s --lr-multipliers entry is not 0), that it is not frozen "
                   "(requires_grad) and that its output is used by the loss (not detached)",
    expect="no trained tensor left exactly zero after the first steps (HND702 passes)",
    risk="None in itself; a part of the model that starts learning changes the run's loss curve from there on.",
    doc=RuleDoc(
        what="Floating-point tensors the optimizer trains (those with Adam moments; every floating-point tensor "
             "when the checkpoint has no optimizer state) whose every entry is exactly 0.0, in a checkpoint at "
             "least min_steps optimizer steps into training.",
        why="H-Net zero-initialises each stage's residual_proj, the encoder's fine-grained path into the decoder. "
            "Adam moves a parameter by lr * m / (sqrt(v) + eps), which is exactly zero only when every gradient "
            "was zero or its LR is zero, so a zero tensor after training steps means that path never learned: a "
            "frozen or forgotten parameter, an LR multiplier of 0 or a detached output. It is a wiring bug, not a "
            "tuning matter, and the evidence is exact (no healthy run keeps a trained tensor at exactly zero), "
            "hence severity high.",
        example="HND702 2 trained tensor(s) are still exactly zero at step 20: backbone.residual_proj.weight "
                "(1024 entries), backbone.residual_proj.bias (32 entries).",
        fix="Put the parameter into an optimizer param group with a non-zero LR (no 0 in --lr-multipliers), "
            "unfreeze it, and make sure its output reaches the loss.",
    ),
    cause=Cause(order=7, title="Parameters that never moved"),
)

def _departure(x: float | None) -> float | None:
    """How far a ratio to the peers is from 1, as a factor >= 1 (0.25 and 4 are both 4x)."""
    if x is None:
        return None
    return max(x, 1 / x) if x > 0 else math.inf


def check_stage_departs(r: Results, t: Thresholds) -> Outcome:
    w = r.weights
    if not w.ok:
        return NO
    rms = [(c, _departure(c.rms_vs_peers)) for c in w.components if c.rms_vs_peers is not None]
    proxy = [(c, _departure(c.proxy_vs_peers)) for c in w.components if c.proxy_vs_peers is not None]
    if not rms and not proxy:
        return Outcome(None, {"reason": "no group has peers to compare with (one stage, or no weight matrices)"})
    early = _too_early(w, t["min_steps"], "early moments and weights are too noisy to compare groups")
    if early is not None:
        return early
    # a zero matrix is HND702's finding (never moved), not a departure in scale
    rms = [(c, d) for c, d in rms if c.matrix_rms]
    worst_rms = max(rms, key=lambda p: p[1], default=(None, 1.0))
    worst_proxy = max(proxy, key=lambda p: p[1], default=(None, 1.0))
    bad_rms = [(c, d) for c, d in rms if d > t["max_rms_factor"]]
    bad_proxy = [(c, d) for c, d in proxy if d > t["max_proxy_factor"]]

    def name(c) -> str:
        return f"stage {c.stage} {c.component}" if c.stage is not None else c.component

    parts = [f"{name(c)} update proxy {g(c.update_proxy)} = {g(c.proxy_vs_peers)}x the median of the other groups"
             for c, _ in sorted(bad_proxy, key=lambda p: -p[1])]
    parts += [f"{name(c)} matrix RMS {g(c.matrix_rms)} = {g(c.rms_vs_peers)}x the same component in the other stages"
              for c, _ in sorted(bad_rms, key=lambda p: -p[1])]
    first = (sorted(bad_proxy, key=lambda p: -p[1]) or sorted(bad_rms, key=lambda p: -p[1]) or [(None, 0)])[0][0]
    low_proxy = any(c.proxy_vs_peers < 1 for c, _ in bad_proxy)
    facts = {
        "step": _where(w.step), "departures": _names(parts), "n": len(parts),
        "group": name(first) if first is not None else "",
        "stage": first.stage if first is not None else "?",
        "rms_max": g(worst_rms[1]), "rms_where": name(worst_rms[0]) if worst_rms[0] is not None else "no group",
        "proxy_part": (f"update proxy at most {g(worst_proxy[1])}x the other groups' median ({name(worst_proxy[0])})"
                       if worst_proxy[0] is not None else
                       f"no update proxy ({w.update_proxy_note.split(', so')[0] or 'no Adam moments'})"),
        "why": ("an update proxy far below the others means the group's gradients lost their sign consistency or "
                "stopped arriving (for routing: a collapsed or undecided chunker passes no signal)" if low_proxy else
                "a matrix scale far from the same component's in the other stages means that stage trains at a very "
                "different effective step size (its LR multiplier) or its weights grew without bound"),
    }
    # the evidence quotes the departure nearest its threshold (the one that fired, if any)
    use_proxy = bool(bad_proxy) or (not bad_rms and worst_proxy[1] / t["max_proxy_factor"]
                                    >= worst_rms[1] / t["max_rms_factor"])
    ev = _at_checkpoints(w.step, values=tuple(float(d) for _, d in (*bad_proxy, *bad_rms)),
                         measured=float(worst_proxy[1] if use_proxy else worst_rms[1]),
                         threshold=t["max_proxy_factor"] if use_proxy else t["max_rms_factor"],
                         stage=first.stage if first is not None else None)
    return Outcome(bool(parts), facts, ev)


HND703 = Rule(
    code="HND703", name="stage-departs", title="A stage's weights or update size depart from the other stages",
    severity=Severity.MEDIUM, area="weights", reads=("weights",), needs=("checkpoint",), only_hnet=True,
    check=check_stage_departs,
    thresholds=(
        T("max_proxy_factor", 4.0, "a group's update proxy may differ from the median of the other groups by this "
                                   "factor (healthy bundled runs: at most 1.44x)"),
        T("max_rms_factor", 4.0, "a group's matrix RMS may differ from the same component in the other stages by "
                                 "this factor (healthy bundled runs: at most 2.6x)"),
        T("min_steps", 100, "optimizer steps the checkpoint must be past: earlier, the moments still carry the "
                            "first steps' large gradients (a healthy 60-step run reaches 3.6x)"),
    ),
    message="at {step}, {n} group(s) depart from their peers: {departures}.",
    pass_message="at {step}, every group is within its peers' band: {proxy_part}; matrix RMS at most {rms_max}x the "
                 "same component in the other stages ({rms_where}).",
    recommendation="Look at {group} first: {why}. Check stage {stage}'s --lr-multipliers entry against the paper's "
                   "Eq. 11 (HND202) and its compression (HND302/HND303)",
    expect="every group's update proxy and matrix RMS within 4x of its peers (HND703 passes)",
    risk="None in itself: this locates a problem another finding (schedule, routing) usually names.",
    doc=RuleDoc(
        what="Per (stage, component) group of the newest checkpoint: the update proxy RMS(exp_avg)/sqrt(mean "
             "exp_avg_sq) against the median of every other group (groups of at least 256 elements), and the RMS "
             "of its weight matrices against the same component in the other stages. Fires when either departs by "
             "more than max_proxy_factor / max_rms_factor (as a factor either way), in a checkpoint at least min_steps "
             "steps into training.",
        why="Adam's step per parameter is lr * m / sqrt(v), so the proxy is the typical step in units of the LR: "
            "about 0.2-0.35 on every group of a healthy run. A group far below its peers gets gradients without a "
            "consistent sign, or none (a chunker whose routing collapsed passes no signal to its stage); a stage "
            "whose matrices are far larger or smaller than the same component elsewhere trains at a very different "
            "effective step. Calibrated on 150-step runs of the bundled 2-stage micro model (benchmarks/"
            "calibrate_weights.py): four healthy runs (defaults, seed 1, multipliers 3.0,1.7,0.9, no ratio loss) "
            "stay within 1.44x (proxy) and 2.6x (matrix RMS); --warmup-steps 0 --learning-rate 0.1 drives stage 1's "
            "routing proxy to 1/7.0 of the others; --lr-multipliers 0,1.5,1 lifts the frozen head's to 2.9x (under "
            "the threshold: HND702 names that run) and --lr-multipliers 100,20,2 reaches 3.2x in matrix RMS (under "
            "the threshold: HND202 names that run's cause). Shorter runs are noisier (a healthy 60-step run of "
            "batch 2 x 64 bytes reaches 3.6x), hence min_steps. Medium: it locates a problem, the cause is "
            "another finding's.",
        example="HND703 at step 150, 2 group(s) depart from their peers: stage 1 routing update proxy 0.032 = 0.148x "
                "the median of the other groups, stage 1 encoder update proxy 0.0339 = 0.157x the median of the "
                "other groups.",
        fix="Follow the finding that names the cause: a per-stage LR multiplier far from Eq. 11 (HND202), collapsed "
            "or undecided routing (HND302/HND303), a frozen stage (HND702).",
    ),
    # upstream causes (lower order) become the root when their evidence overlaps: routing that
    # collapsed or a multiplier far off is why one stage's weights or updates depart
    cause=Cause(order=113, title="A stage departing from the others in the weights", explains=(
        ("HND202", "a per-stage LR multiplier far from Eq. 11 moves that stage's weights at a different scale"),
        ("HND302", "a chunker collapsed or far from its target passes its stages a different learning signal"),
        ("HND303", "undecided routing passes no consistent gradient to the stage it feeds"),
        ("HND704", "the same stage also shrinks or grows between checkpoints"),
    )),
)


def check_drift(r: Results, t: Thresholds) -> Outcome:
    w = r.weights
    if not w.ok:
        return NO
    if not w.drift_stages or w.drift_steps is None:
        return Outcome(None, {"reason": w.drift_note or "fewer than two checkpoints"})
    if w.non_finite:
        return Outcome(None, {"reason": "the checkpoint holds NaN/Inf (HND701): its norms do not measure drift"})
    first, last = w.drift_steps
    if last - first < t["min_steps_apart"]:
        return Outcome(None, {"reason": f"the checkpoints are {last - first} steps apart, fewer than "
                                        f"{g(t['min_steps_apart'])}: too close to show drift"})
    stages = [d for d in w.drift_stages if d.growth is not None]
    shrunk = [d for d in stages if d.growth < t["min_growth"]]
    grown = [d for d in stages if d.growth > t["max_growth"]]
    every = ", ".join(f"stage {d.stage} {g(d.growth)}x" for d in stages)
    worst = min(shrunk, key=lambda d: d.growth) if shrunk else (max(grown, key=lambda d: d.growth) if grown else None)
    facts = {
        "first": first, "last": last, "every": every,
        "what": "; ".join([f"stage {d.stage}'s weight matrices shrank to {g(d.growth)}x their norm" for d in shrunk]
                          + [f"stage {d.stage}'s grew to {g(d.growth)}x" for d in grown]),
        "stage": worst.stage if worst is not None else "?",
        "why": ("weight decay outweighs the gradient there: little learning signal reaches the stage"
                if shrunk else "its weights grow without bound (an LR too high for it)"),
    }
    extreme = [d.growth for d in stages]
    measured = worst.growth if worst is not None else (min(extreme) if extreme else None)
    ev = _at_checkpoints(first, last, values=tuple(float(x) for x in extreme), measured=measured,
                         threshold=t["min_growth"] if shrunk or worst is None else t["max_growth"],
                         stage=worst.stage if worst is not None else None)
    return Outcome(bool(shrunk or grown), facts, ev)


HND704 = Rule(
    code="HND704", name="weights-drift", title="A stage's weights shrink or grow between checkpoints",
    severity=Severity.MEDIUM, area="weights", reads=("weights",), needs=("checkpoint",),
    check=check_drift,
    thresholds=(
        T("min_growth", 0.85, "a stage's matrix norm may shrink to this factor between the oldest and newest "
                              "checkpoint (healthy bundled runs: 0.97 at least)"),
        T("max_growth", 1.5, "and may grow to this factor (healthy bundled runs: 1.15 at most)"),
        T("min_steps_apart", 50, "steps between the two checkpoints before their norms are compared"),
    ),
    message="between step {first} and step {last}, {what} (every stage: {every}).",
    pass_message="between step {first} and step {last}, every stage's matrix norm stays within its band ({every}).",
    recommendation="Find why stage {stage} drifts: {why}. Check its --lr-multipliers entry and its routing "
                   "(HND302/HND303)",
    expect="every stage's matrix norm within 0.85x-1.5x between checkpoints (HND704 passes)",
    risk="None in itself: the fix is the one for the finding that names the cause.",
    doc=RuleDoc(
        what="The norm of each stage's weight matrices (2-D+ tensors, embeddings and head under stage 0) at the "
             "oldest and the newest checkpoint of the run; fires when a stage's norm shrinks below min_growth or "
             "grows above max_growth times its earlier value. Needs two checkpoints min_steps_apart apart "
             "(the bundled trainer's --save-every).",
        why="Under AdamW a matrix that keeps receiving a useful gradient holds its scale: on healthy 150-step runs "
            "of the bundled 2-stage micro model (checkpoints at steps 50 and 150, benchmarks/calibrate_weights.py) "
            "every stage stays within 0.97x-1.15x. A stage starved of gradient shrinks under weight decay: "
            "--warmup-steps 0 --learning-rate 0.1 (stage 1 routing collapsed) shrinks stages 1 and 2 to 0.50x and "
            "0.48x, --lr-multipliers 1,1,100 shrinks the inner stage to 0.76x. Growth is less separated (a run "
            "with stage 0 frozen grows stage 2 to 1.28x), so only growth past 1.5x counts.",
        example="HND704 between step 50 and step 150, stage 1's weight matrices shrank to 0.5x their norm; stage "
                "2's weight matrices shrank to 0.477x their norm (every stage: stage 0 1.04x, stage 1 0.5x, "
                "stage 2 0.477x).",
        fix="Follow the finding that names the cause (routing collapse HND302/HND303, an LR multiplier HND202); "
            "compare checkpoints again after the fix.",
    ),
    cause=Cause(order=114, title="Weights drifting between checkpoints", explains=(
        ("HND202", "a per-stage LR multiplier far from Eq. 11 grows or starves that stage's weights"),
        ("HND302", "a stage behind a collapsed chunker gets little gradient, and weight decay shrinks it"),
        ("HND303", "undecided routing passes little gradient, and weight decay shrinks the stage"),
    )),
)

RULES = (HND701, HND702, HND703, HND704)
