"""HND3xx: H-Net load balance and dynamic chunking (ratio loss, compression, routing).

Each rule stands with its predicate; see `hnet_diag.rules` for how to add one.
"""
from __future__ import annotations

from typing import Any

from .. import paper
from ..formatting import g, listing, pct
from ..results import Results
from .rule import Cause, Evidence, Outcome, Rule, RuleDoc, Severity, Thresholds
from .shared import T, lower_lr_flags


def _stages(r: Results) -> list[Any]:
    return list(r.load_balance.stages)


def _weight_flag(r: Results) -> tuple[str, str]:
    """(flag, advice): restore the paper's alpha when the run used less, else let the router settle."""
    w = getattr(r.training, "ratio_loss_weight", None)
    if w is not None and w >= paper.RATIO_LOSS_WEIGHT:
        return "", (f"the ratio loss weight is already {g(w)}, so give the router time: train longer and check that "
                    "--target-compression matches the config")
    now = "unknown" if w is None else g(w)
    return (f"--ratio-loss-weight {paper.RATIO_LOSS_WEIGHT}",
            f"give the load-balancing loss its weight: {now} -> {paper.RATIO_LOSS_WEIGHT} (the paper's alpha)")


def check_ratio_loss(r: Results, t: Thresholds) -> Outcome:
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


HND301 = Rule(
    code="HND301", live="settled", name="ratio-loss-away-from-minimum", title="Ratio loss away from its minimum (load imbalance)",
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
        fix=f"Use --ratio-loss-weight {paper.RATIO_LOSS_WEIGHT} (the paper's alpha); check --target-compression matches the config.",
    ),
    cause=Cause(
        order=50, title="Load balancing (ratio loss) not doing its job",
        explains=(
            ("HND302", "the ratio loss and the realized compression are off on the same stage"),
            ("HND303", "routing near 0.5 keeps the ratio loss from its minimum on the same stage"),
        ),
        contradicted_by=("ratio_loss_weight:down",),
    ),
)


def check_compression(r: Results, t: Thresholds) -> Outcome:
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
        tr = r.training
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


HND302 = Rule(
    code="HND302", live="settled", name="compression-off-target", title="Compression collapse or far from target",
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
        fix=f"Keep --ratio-loss-weight at {paper.RATIO_LOSS_WEIGHT} (0 turns load balancing off) and --target-compression at the "
            "config's targets.",
    ),
    cause=Cause(
        order=60, title="Dynamic chunking away from its target compression",
        explains=(
            ("HND303", "undecided boundary probabilities leave the compression unstable on the same stage"),
        ),
        contradicted_by=("ratio_loss_weight:down",),
    ),
)


def check_undecided(r: Results, t: Thresholds) -> Outcome:
    stages = [s for s in _stages(r) if s.undecided_frac is not None]
    if not stages:
        return Outcome(None, {"reason": "no boundary_undecided metric logged"})
    worst = max(stages, key=lambda s: (s.undecided_frac, -s.stage))
    facts = {"stage": worst.stage, "frac": pct(worst.undecided_frac),
             "all": ", ".join(f"stage {s.stage}: {pct(s.undecided_frac)}" for s in stages)}
    ev = Evidence(metric=f"boundary_undecided/stage{worst.stage}", measured=worst.undecided_frac,
                  threshold=t["max_undecided_frac"], stage=worst.stage, window=worst.tail_window)
    return Outcome(worst.undecided_frac > t["max_undecided_frac"], facts, ev)


HND303 = Rule(
    code="HND303", live="settled", name="undecided-routing", title="Undecided routing (boundary probabilities near 0.5)",
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
        fix=f"Verify gradients reach routing_module.q_proj_layer / k_proj_layer; keep --ratio-loss-weight {paper.RATIO_LOSS_WEIGHT}; "
            "train longer.",
    ),
    cause=Cause(
        order=70, title="Routing undecided",
    ),
)


RULES = (HND301, HND302, HND303)
