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
            ("HND304", "a chunker collapsed or far from its target compression does not find the words either"),
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
        explains=(("HND304", "boundaries chosen by coin flips near p = 0.5 fall wherever the noise puts them, not at words"),),
    ),
)


def _below_chance_p(s: Any) -> float:
    """One-sided binomial P(X <= hits): how surprising so few word starts would be by chance."""
    from ..analyzers.boundaries import binomial_tail

    return 1.0 - binomial_tail(s.at_word_starts + 1, s.judged, s.chance)


def check_word_starts(r: Results, t: Thresholds) -> Outcome:
    b = r.boundaries
    if not b.ok:
        return Outcome(None, {"reason": b.reason or "no boundary map"})
    stages = [s for s in b.stages if s.judged >= t["min_boundaries"] and s.chance]
    if not stages:
        return Outcome(None, {"reason": f"fewer than {g(t['min_boundaries'])} boundaries to count on the passage"})
    step = b.checkpoint_step or 0
    long_enough = step >= t["min_steps"]
    alpha = t["max_p_value"]
    below = [s for s in stages if _below_chance_p(s) < alpha]
    at_chance = [s for s in stages if s not in below and s.p_value >= alpha]
    flagged = below + (at_chance if long_enough else [])

    def one(s: Any) -> str:
        target = f" (target {g(s.target)})" if s.target else ""
        return (f"stage {s.stage}: {pct(s.word_start_share)} of {s.judged} boundaries at word starts vs "
                f"{pct(s.chance)} by chance (p above {g(s.p_value, 2)}, p below {g(_below_chance_p(s), 2)}), "
                f"compression {g(s.compression)}x{target}")

    notes = []
    if at_chance and not long_enough:
        notes.append(f"stage {', '.join(str(s.stage) for s in at_chance)} not above chance is not judged before step "
                     f"{g(t['min_steps'])} (checkpoint of step {step}: too early to have learned where words start)")
    worst = min(flagged or stages, key=lambda s: (s.word_start_share / s.chance, s.stage))
    facts = {
        "stages": ", ".join(str(s.stage) for s in flagged) or "none",
        "problems": "; ".join(
            f"stage {s.stage} {'cuts inside words more often than chance' if s in below else 'is no closer to word starts than chance'} "
            f"({pct(s.word_start_share)} vs {pct(s.chance)})" for s in flagged),
        "all": "; ".join(one(s) for s in stages),
        "step": step, "notes": ("; " + "; ".join(notes)) if notes else "",
        "passage": f"{b.n_bytes} bytes of {b.source}",
    }
    ev = Evidence(metric=f"boundary_word_start_share/stage{worst.stage}", measured=worst.word_start_share,
                  threshold=worst.chance, stage=worst.stage, steps=(step,) if step else (), plot="boundaries.png")
    return Outcome(bool(flagged), facts, ev)


HND304 = Rule(
    code="HND304", live="end", name="boundaries-not-at-word-starts", title="Chunk boundaries no closer to word starts than chance",
    severity=Severity.MEDIUM, area="load balance", reads=("boundaries",), needs=("checkpoint",),
    check=check_word_starts,
    thresholds=(
        T("max_p_value", 0.01, "one-sided binomial p-value below which a stage's word-start share counts as above "
                               "(or below) chance"),
        T("min_steps", 1000, "checkpoint step from which a stage merely at chance is judged (with the fixtures' healthy "
                             "settings stage 1 sits at chance at steps 300-500 and above it, p < 0.01, at every "
                             "checkpoint from 600 to 1000); a stage below chance is judged at any step"),
        T("min_boundaries", 30, "fewer boundaries on the passage than this are too few to test"),
    ),
    message="{problems} on {passage} (checkpoint of step {step}): {all}{notes}.",
    pass_message="boundaries at or above chance at word starts on {passage} (checkpoint of step {step}): {all}{notes}.",
    recommendation="The chunker is not finding words on stage {stages}: check the routing and its gradients first "
                   "(HND302 compression, HND303 undecided routing, HND103 per-stage gradients), restart with a warmup "
                   "and the paper's ratio loss weight, and train long enough for the inner stages to settle",
    expect="each stage's word-start share above chance on the boundary map (HND304 passes)",
    risk="None from checking; the map runs one forward pass on a short passage.",
    doc=RuleDoc(
        what="The boundary map (analyzers.boundaries) runs the run's newest reference-trainer checkpoint on a validation "
             "passage and counts, per stage, the share of selected boundaries at word starts (a word's first byte or "
             "the space/punctuation just before it) against chance (the share of such positions in the passage), "
             "with a one-sided binomial test each way. A stage fires when its share is significantly below chance "
             "(it learned to cut inside words), or, once the run is past min_steps, when it is not significantly above.",
        why="The H-Net paper reports learned boundaries at word and phrase starts; a chunker that splits mid-word or at "
            "random wastes the hierarchy, and no logged metric shows it: compression and ratio loss count "
            "boundaries, not where they fall. Calibrated on the bundled trainer (see the README, Boundary maps): "
            "at initialization the boundaries already sit at or above chance, so below chance is learned.",
        example="HND304 stage 0 cuts inside words more often than chance (23.1% vs 34.6%); stage 1 cuts inside words "
                "more often than chance (13.7% vs 34.6%) on 1024 bytes of the bundled corpus (checkpoint of step 300): ...",
        fix="Fix the routing first (warmup, LR, ratio loss weight); then train longer and map again.",
    ),
    cause=Cause(
        order=75, title="Chunk boundaries not at word starts",
    ),
)


RULES = (HND301, HND302, HND303, HND304)
