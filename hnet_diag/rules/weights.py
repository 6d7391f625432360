"""HND7xx: the model's own weights and optimizer state (the newest checkpoint).

Both rules read `hnet_diag.analyzers.weights.WeightsResult`, which summarises the
checkpoint the source already reduced to per-tensor statistics. Their evidence is exact,
not statistical: a NaN is a NaN, and a trained tensor that is exactly 0.0 everywhere
after optimizer steps received no update at any step. So neither needs a noise margin,
and a healthy run (every bundled fixture checkpoint) raises neither.

Each rule stands with its predicate; see `hnet_diag.rules` for how to add one.
"""
from __future__ import annotations

from ..formatting import g
from ..results import Results
from .rule import Cause, Evidence, Outcome, Rule, RuleDoc, Severity, Thresholds
from .shared import NO, T, clip_flag, lower_lr_flags

#: tensor names quoted in a message before "and N more"
SHOWN = 4


def _names(names: list[str]) -> str:
    head = ", ".join(names[:SHOWN])
    return head + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _where(step: int | None) -> str:
    return f"step {step}" if step is not None else "an unknown step"


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
    ev = Evidence(metric="checkpoint", steps=(w.step,) if w.step is not None else (),
                  values=tuple(float(b.nan_count + b.inf_count) for b in bad),
                  measured=float(len(bad)), threshold=t["max_tensors"],
                  window=(w.step, w.step) if w.step is not None else None)
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
    ev = Evidence(metric="checkpoint", steps=(w.step,), values=tuple(float(z.numel) for z in zero),
                  measured=float(len(zero)), threshold=t["min_steps"],
                  stage=zero[0].stage if zero else None, window=(w.step, w.step))
    if w.step < t["min_steps"]:
        return Outcome(None, {"reason": f"the checkpoint is at step {w.step}, before {g(t['min_steps'])} steps: "
                                        "zero-initialised tensors may not have moved yet"})
    return Outcome(bool(zero), facts, ev)


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

RULES = (HND701, HND702)
