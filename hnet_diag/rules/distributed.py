"""HND6xx: multi-rank runs (a rank whose loss or gradient norm leaves the others).

Each rule stands with its predicate; see `hnet_diag.rules` for how to add one.
"""
from __future__ import annotations

from ..formatting import g, pct
from ..results import Results
from .rule import Cause, Evidence, Outcome, Rule, RuleDoc, Severity, Thresholds
from .shared import NO, T


def check_rank_departure(r: Results, t: Thresholds) -> Outcome:
    ra = r.ranks
    if not ra.ok:
        return NO
    gone = [d for d in ra.departures
            if d.n_points >= t["min_points"] and (d.non_finite or abs(d.median_rel_gap) >= t["min_rel_gap"])]
    fired = bool(gone)
    top = max(gone, key=lambda d: (d.non_finite > 0, abs(d.median_rel_gap) if d.median_rel_gap == d.median_rel_gap else 0.0),
              default=None)
    facts = {"n_ranks": len(ra.ranks), "metrics": " and ".join(ra.metrics)}
    if top is not None:
        nan_note = f"; it alone wrote NaN/Inf at {top.non_finite} step(s)" if top.non_finite else ""
        others = sorted({(d.rank, d.metric) for d in gone} - {(top.rank, top.metric)})
        facts.update(
            rank=top.rank, metric=top.metric, first_step=top.first_step, last_step=top.last_step, n=top.n_points,
            compared=top.n_compared, gap=pct(top.median_rel_gap) if top.median_rel_gap == top.median_rel_gap else "n/a",
            value=g(top.value), others=g(top.others_median), example_step=top.example_step, nan_note=nan_note,
            more=("; also " + ", ".join(f"rank {k} on {m}" for k, m in others)) if others else "",
        )
    ev = Evidence(
        metric=top.metric if top else None,
        steps=(top.first_step, top.example_step, top.last_step) if top else (),
        values=(top.value, top.others_median) if top else (),
        measured=abs(top.median_rel_gap) if top and top.median_rel_gap == top.median_rel_gap else None,
        threshold=t["min_rel_gap"], window=(top.first_step, top.last_step) if top else None, plot="ranks.png",
    )
    return Outcome(fired, facts, ev, Severity.CRITICAL if top is not None and top.non_finite else None)


HND601 = Rule(
    code="HND601", name="rank-departs", title="A rank departs from the others (desync or faulty node)",
    severity=Severity.HIGH, area="loss", reads=("ranks",), needs=("ranks",),
    check=check_rank_departure,
    thresholds=(
        T("min_rel_gap", 0.25, "median gap of the departing rank to the other ranks' median, as a fraction"),
        T("min_points", 5, "logged steps at which the rank must depart (beyond the cross-rank noise) to count"),
    ),
    message="rank {rank}'s {metric} leaves the other ranks from step {first_step} to {last_step} ({n} of {compared} "
            "compared steps; median gap {gap}, threshold {tp_min_rel_gap}; {value} against the others' {others} at "
            "step {example_step}){nan_note}{more}.",
    pass_message="the {n_ranks} ranks agree on {metrics} (no rank {tp_min_rel_gap} away from the others for "
                 "{t_min_points} steps or more).",
    recommendation="Stop and inspect rank {rank}'s node: a replica whose {metric} leaves the others from step "
                   "{first_step} has desynchronised or is computing wrongly; exclude or replace that node and "
                   "resume from a checkpoint before step {first_step}",
    expect="every rank's loss and gradient norm within the cross-rank noise of the others (HND601 passes)",
    risk="Resuming from an earlier checkpoint repeats the steps after it; excluding a node lowers throughput.",
    doc=RuleDoc(
        what="Compares each rank's loss and gradient norm (per-rank log files, rank from the file name) with the "
             "median of the other ranks, after a 5-point rolling median, in units of the cross-rank noise.",
        why="Data-parallel ranks differ only by their micro-batches, and after the all-reduce they report the same "
            "gradient norm. A rank that leaves the pack for many steps is a replica out of sync, silent data "
            "corruption on one GPU or a bad data shard: the averaged gradient is then wrong for every rank.",
        example="HND601 rank 2's loss leaves the other ranks from step 60 to 115 (54 of 120 compared steps; median "
                "gap 679%, threshold 25%; 3.23 against the others' 0.0494 at step 60).",
        fix="Find the node of that rank (its hostname in the log), run its GPU diagnostics, exclude it, and resume "
            "from a checkpoint written before the onset step.",
    ),
    cause=Cause(
        order=5, title="A rank out of step (desync or faulty node)",
        explains=(
            ("HND404", "one rank's divergence or NaN reaches every rank through the all-reduce"),
            ("HND405", "a faulty rank's loss spikes show in the logged loss"),
        ),
        contradicted_by=("learning_rate:up", "max_steps:up"),
    ),
)

RULES = (HND601,)
