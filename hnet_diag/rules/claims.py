"""Common claims about H-Net runs, held against this run's evidence.

Diagnostic write-ups of H-Net runs (see the example report in the project's reference
material) repeat a handful of claims: "gradient explosion", "LR multipliers [3.0, 1.7, 0.9]
too aggressive", "warmup 2% too short", "stopped too early", "clipping at 1.0 too
restrictive", "temperature 1.0 / top-p 1.0 too random", "load balancing correct because
the ratio loss is ~1.0". Each is a hypothesis. Here each gets a verdict from the same
findings the rules produced (so user thresholds apply) and the analyzers' numbers:
supported, contradicted, or no data, with the numbers that decide it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..formatting import g, listing, pct
from ..results import Results
from .rule import Finding, Status

LABELS = {"supported": "✅ supported", "contradicted": "❌ contradicted", "no-data": "— no data"}


@dataclass(frozen=True)
class ClaimCheck:
    claim: str
    verdict: str  # "supported", "contradicted" or "no-data"
    evidence: str
    codes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return LABELS[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {"claim": self.claim, "verdict": self.verdict, "evidence": self.evidence, "codes": list(self.codes)}


Findings = Mapping[str, Finding]


def _status(f: Findings, code: str) -> Status | None:
    return f[code].status if code in f else None


def _fired(f: Findings, code: str) -> bool | None:
    """True/False when the rule judged, None when it had no data or was not selected."""
    st = _status(f, code)
    if st is None or st is Status.NO_DATA:
        return None
    return st in (Status.FAIL, Status.WARN)


def _ok(r: Any) -> bool:
    return r is not None and getattr(r, "ok", False)


def claim_gradient_explosion(f: Findings, r: Results) -> ClaimCheck:
    claim = "Gradient explosion (a very large max grad norm)"
    gr = r.gradients
    fired = _fired(f, "HND101")
    if fired is None or not _ok(gr):
        return ClaimCheck(claim, "no-data", "no pre-clip gradient norm logged", ("HND101",))
    if fired:
        return ClaimCheck(claim, "supported", f["HND101"].message, ("HND101",))
    early = ""
    if gr.first_steps_max_norm is not None:
        early = (f"the largest norm in the first {gr.first_steps} steps is {g(gr.first_steps_max_norm)}"
                 + (f" ({g(gr.first_steps_max_ratio)}x the later median)" if gr.first_steps_max_ratio else "")
                 + ", which is normal at initialisation; ")
    return ClaimCheck(claim, "contradicted", early + f"after warmup: {f['HND101'].message}", ("HND101",))


def claim_multipliers_aggressive(f: Findings, r: Results) -> ClaimCheck:
    lr = r.lr_ratio
    mult = f"[{listing(lr.multipliers)}]" if _ok(lr) and lr.multipliers else ""
    claim = f"LR multipliers {mult or '(per stage)'} are too aggressive"
    fired = _fired(f, "HND202")
    if fired is None:
        return ClaimCheck(claim, "no-data", "fewer than two per-stage learning rates known", ("HND202",))
    return ClaimCheck(claim, "supported" if fired else "contradicted", f["HND202"].message, ("HND202",))


def claim_warmup_short(f: Findings, r: Results) -> ClaimCheck:
    w = r.warmup
    frac = f" ({pct(w.warmup_fraction)} of the steps)" if _ok(w) and w.warmup_fraction is not None else ""
    claim = f"Warmup{frac} is too short"
    fired = _fired(f, "HND201")
    if fired is None:
        return ClaimCheck(claim, "no-data", "warmup length or spike distribution unknown", ("HND201",))
    if fired:
        return ClaimCheck(claim, "supported", f["HND201"].message, ("HND201",))
    return ClaimCheck(claim, "contradicted",
                      f"the ratio alone is not evidence; {f['HND201'].message}", ("HND201",))


def claim_stopped_early(f: Findings, r: Results) -> ClaimCheck:
    claim = "Training stopped too early"
    fired = _fired(f, "HND401")
    if fired is None:
        return ClaimCheck(claim, "no-data", "no planned step count to compare with", ("HND401", "HND402"))
    text = f["HND401"].message
    still = _fired(f, "HND402")
    if still is not None:
        text += " Loss at the end: " + f["HND402"].message
    return ClaimCheck(claim, "supported" if fired else "contradicted", text, ("HND401", "HND402"))


def claim_clipping_restrictive(f: Findings, r: Results) -> ClaimCheck:
    gr = r.gradients
    clip = f" at {g(gr.max_grad_norm)}" if _ok(gr) and gr.max_grad_norm is not None else ""
    claim = f"Gradient clipping{clip} is too restrictive"
    fired = _fired(f, "HND102")
    if fired is None:
        return ClaimCheck(claim, "no-data", "no max grad norm or clipping rate known", ("HND102",))
    explosion = _fired(f, "HND101")
    if fired and not explosion:
        return ClaimCheck(claim, "supported", f["HND102"].message, ("HND102",))
    if fired and explosion:
        return ClaimCheck(claim, "contradicted",
                          f"{f['HND102'].message} But the norms are high because of gradient spikes (HND101): "
                          "loosening the clip would let them through.", ("HND102", "HND101"))
    return ClaimCheck(claim, "contradicted", f"only {f['HND102'].message}", ("HND102",))


def claim_sampling_random(f: Findings, r: Results) -> ClaimCheck:
    ge = r.generation
    settings = ""
    if _ok(ge) and ge.temperature is not None:
        settings = f" (temperature {g(ge.temperature)}, top-p {'unset' if ge.top_p is None else g(ge.top_p)})"
    claim = f"Sampling{settings} is too random"
    fired = _fired(f, "HND501")
    if fired is None:
        return ClaimCheck(claim, "no-data", "no generation settings recorded", ("HND501",))
    text = f["HND501"].message
    if fired:
        text += " This explains incoherent samples, not any training metric."
    return ClaimCheck(claim, "supported" if fired else "contradicted", text, ("HND501",))


def claim_load_balance_from_ratio_loss(f: Findings, r: Results) -> ClaimCheck:
    claim = "Load balancing works because the ratio loss is close to 1.0"
    lb = r.load_balance
    ratio_far = _fired(f, "HND301")
    comp_off = _fired(f, "HND302")
    if ratio_far is None:
        return ClaimCheck(claim, "no-data", "no per-stage ratio loss logged", ("HND301", "HND302"))
    stages = [s for s in lb.stages if s.ratio_loss is not None] if _ok(lb) else []
    rl = ", ".join(f"stage {s.stage}: {s.ratio_loss:.4f}" for s in stages)
    if ratio_far:
        return ClaimCheck(claim, "contradicted", f"the ratio loss is not close to 1.0 ({rl}).", ("HND301",))
    if comp_off is None:
        return ClaimCheck(claim, "no-data", f"ratio loss {rl}, but a ratio loss near 1.0 proves nothing alone (it can "
                          "be near or below 1 when F != G) and no compression is logged to check.", ("HND301", "HND302"))
    comp = ", ".join(
        f"stage {s.stage}: {g(s.compression)}x vs target {g(s.target)}x ({'+' if s.compression >= s.target else ''}"
        f"{pct(s.compression / s.target - 1)})"
        for s in (lb.stages if _ok(lb) else ()) if s.compression is not None and s.target)
    if comp_off:
        return ClaimCheck(claim, "contradicted", f"ratio loss {rl} looks fine, yet compression is off target: "
                          f"{f['HND302'].message}", ("HND301", "HND302"))
    on_target = "HND902" in f and f["HND902"].is_positive
    tol = pct(f["HND902"].thresholds.get("max_relative_error", 0.2)) if "HND902" in f else "20.0%"
    if on_target:
        return ClaimCheck(claim, "supported", f"ratio loss {rl}, and the realized compression is within {tol} of its "
                          f"target on every stage ({comp}).", ("HND301", "HND302", "HND902"))
    return ClaimCheck(claim, "contradicted", f"ratio loss {rl} is near 1.0, but that alone proves nothing: the realized "
                      f"compression is not within {tol} of its target ({comp}).", ("HND301", "HND302", "HND902"))


def claim_low_final_grad_norm(f: Findings, r: Results) -> ClaimCheck:
    claim = "A low final gradient norm shows a training problem"
    gr = r.gradients
    fired = _fired(f, "HND103")
    if fired is None or not _ok(gr):
        return ClaimCheck(claim, "no-data", "too few gradient-norm points for a trend", ("HND103",))
    if fired:
        return ClaimCheck(claim, "supported", f["HND103"].message, ("HND103",))
    return ClaimCheck(claim, "contradicted", f"a falling norm is expected as the loss falls: {f['HND103'].message}",
                      ("HND103",))


def claim_no_repetition_penalty(f: Findings, r: Results) -> ClaimCheck:
    claim = "No repetition penalty (a minor issue)"
    fired = _fired(f, "HND502")
    if fired is None:
        return ClaimCheck(claim, "no-data", "no generation settings recorded", ("HND502",))
    return ClaimCheck(claim, "supported" if fired else "contradicted", f["HND502"].message, ("HND502",))


def _weights_facts(f: Findings, codes: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(messages of the weights rules that fired, of those that passed), in code order."""
    fired = [f[c].message for c in codes if _fired(f, c)]
    passed = [f[c].message for c in codes if _fired(f, c) is False]
    return fired, passed


def claim_weight_init(f: Findings, r: Results) -> ClaimCheck:
    """Held against the checkpoint: it shows where the weights went, not where they started."""
    claim = "Weight initialization is appropriate (residual scaling prevents explosion)"
    codes = ("HND701", "HND702", "HND703")
    w = r.weights
    if not _ok(w) or _fired(f, "HND701") is None:
        return ClaimCheck(claim, "no-data", "no checkpoint with weights to check", codes)
    fired, _ = _weights_facts(f, codes)
    residual = [c for c in w.components if c.component == "residual"]
    res = ", ".join(f"stage {c.stage} {g(c.weight_norm)}" for c in residual)
    limits = ("The checkpoint shows the trained weights, not the initial ones: it can show that nothing blew up "
              "or stayed at its initialisation, not that another init would not have trained better.")
    if fired:
        return ClaimCheck(claim, "contradicted", " ".join(fired) + " " + limits, codes)
    e = w.embedding_rows
    emb = (f" Embedding rows: median norm {g(e.seen_norm_median)} for trained rows"
           + (f", {g(e.unseen_norm_median)} for the {len(e.unseen)} rows never trained (still at their init)"
              if e.unseen and e.unseen_norm_median is not None else "") + "."
           if e is not None and e.seen_norm_median is not None else "")
    top = max(w.components, key=lambda c: c.matrix_rms or 0.0)
    return ClaimCheck(claim, "supported",
                      f"at step {w.step}, every weight and moment is finite, no trained tensor is still exactly zero, "
                      f"and no stage departs from its peers (HND703: {f['HND703'].message if 'HND703' in f else '?'})"
                      + (f" The zero-initialised residual projections moved: norms {res}." if res else "")
                      + f" Largest matrix RMS {g(top.matrix_rms)} (stage {top.stage} {top.component})." + emb
                      + " " + limits, codes)


def claim_architecture(f: Findings, r: Results) -> ClaimCheck:
    """What the checkpoint and config can show about the design: layout constraints and that every part trains."""
    claim = "Architecture is well-designed (hierarchy, attention, routing)"
    codes = ("HND702", "HND703")  # compression (HND302/303) is how training went, not the design
    w, m = r.weights, r.model
    if not _ok(w) or not w.components:
        return ClaimCheck(claim, "no-data", "no checkpoint with weights to check", codes)
    stages = sorted({c.stage for c in w.components if c.stage is not None})
    numel = {s: sum(c.numel for c in w.components if c.stage == s) for s in stages}
    total = sum(numel.values()) or 1
    share = ", ".join(f"stage {s} {pct(numel[s] / total)}" for s in stages)
    widths = tuple(m.d_model) if m is not None and m.d_model else ()
    problems = []
    if widths and any(b < a for a, b in zip(widths, widths[1:])):
        problems.append(f"widths {'/'.join(str(x) for x in widths)} shrink inward (the paper's inner stages are at "
                        "least as wide as the outer ones)")
    fired, _ = _weights_facts(f, codes)
    problems += fired
    width_text = (f"widths {'/'.join(str(x) for x in widths)} (inner at least as wide as outer)"
                  if widths and not any(b < a for a, b in zip(widths, widths[1:])) else "")
    limits = ("What the checkpoint cannot show: whether another layout, depth or width would learn better; "
              "that takes a comparison run (hnet-diag compare).")
    if problems:
        return ClaimCheck(claim, "contradicted", "; ".join(problems) + ". " + limits, codes)
    parts = [p for p in (f"{len(stages)} hierarchy level(s)", width_text, f"parameters {share}") if p]
    routing = [c for c in w.components if c.component == "routing"]
    trains = ("every stage's routing and residual projection trained (none still at zero)"
              if routing else "no trained tensor still at zero")
    return ClaimCheck(claim, "supported",
                      f"{', '.join(parts)}; {trains}, and no stage departs from the others in weight scale or update "
                      "size" + (", and compression and routing show no finding" if _fired(f, "HND302") is False else "")
                      + ". Supported only as far as this goes. " + limits, codes)


CLAIMS: tuple[Callable[[Findings, Results], ClaimCheck], ...] = (
    claim_gradient_explosion,
    claim_multipliers_aggressive,
    claim_warmup_short,
    claim_stopped_early,
    claim_clipping_restrictive,
    claim_low_final_grad_norm,
    claim_sampling_random,
    claim_no_repetition_penalty,
    claim_load_balance_from_ratio_loss,
    claim_weight_init,
    claim_architecture,
)


def check_claims(findings: list[Finding] | Findings, results: Results | Mapping[str, Any]) -> list[ClaimCheck]:
    """Every claim's verdict. Only claims whose rules ran are judged; the rest say no data."""
    by_code = findings if isinstance(findings, Mapping) else {x.code: x for x in findings}
    r = results if isinstance(results, Results) else Results.of(results)
    return [c(by_code, r) for c in CLAIMS]
