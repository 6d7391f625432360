"""HND5xx: generation settings, decoding and samples (sampling, repetition penalty, length,
step-wise decoding against the forward pass, the checkpoint's own samples).

Each rule stands with its predicate; see `hnet_diag.rules` for how to add one.
"""
from __future__ import annotations

from typing import Any

from ..formatting import g
from ..results import Results
from ..trainer.sampling import RECOMMENDED
from .rule import Cause, Evidence, Outcome, Rule, RuleDoc, Severity, Thresholds
from .shared import T


def sample_sets(r: Results) -> tuple[Any, Any, str]:
    """(samples at the run's settings, at the recommended ones, why there are none): the
    checkpoint's own samples when the samples analyzer wrote both."""
    sa = r.samples
    if sa is None:
        return None, None, r.failed.get("samples", "samples were not analyzed")
    if not sa.ok:
        return None, None, sa.reason or "no sample"
    ours, rec = sa.at("run"), sa.at("recommended")
    if ours is None or rec is None or ours.loglik_per_byte is None or rec.loglik_per_byte is None:
        return None, None, "the samples wrote no byte at one of the settings"
    return ours, rec, ""


def pct(v: float | None) -> str:
    return "?" if v is None else f"{100 * v:.1f}%"


def check_sampling(r: Results, t: Thresholds) -> Outcome:
    ge = r.generation
    if ge.temperature is None:
        return Outcome(None, {"reason": "no sampling temperature recorded"})
    top_p_open = ge.top_p is None or ge.top_p >= t["max_top_p"]
    no_top_k = not ge.top_k
    by_value = ge.temperature >= t["max_temperature"] and top_p_open and no_top_k
    facts = {"temp": g(ge.temperature), "top_p": "unset" if ge.top_p is None else g(ge.top_p),
             "top_k": "unset" if not ge.top_k else ge.top_k, "samples": ""}
    ev = Evidence(metric=None, measured=ge.temperature, threshold=t["max_temperature"])
    ours, rec, why = sample_sets(r) if by_value else (None, None, "")
    if ours is None:
        if by_value:
            facts["samples"] = f"; no sample backs this ({why}), so it is judged by the settings alone"
        return Outcome(by_value, facts, ev)
    # the checkpoint's own samples decide: pure sampling is "too random" when it costs the
    # model's own likelihood against the recommended settings
    gap = rec.loglik_per_byte - ours.loglik_per_byte
    facts["samples"] = (
        f"; the checkpoint's own samples at these settings score {g(ours.loglik_per_byte)} nats/byte "
        f"log-likelihood with {pct(ours.valid_utf8_share)} valid UTF-8 and {pct(ours.repeated_4gram_share)} "
        f"repeated 4-grams, against {g(rec.loglik_per_byte)} nats/byte, {pct(rec.valid_utf8_share)} and "
        f"{pct(rec.repeated_4gram_share)} at {rec.label} (a gap of {g(gap)} nats/byte; threshold "
        f"{g(t['min_loglik_gap'])}; {ours.n_samples} samples, {ours.n_bytes} and {rec.n_bytes} bytes)")
    ev = Evidence(metric=None, measured=gap, threshold=t["min_loglik_gap"])
    return Outcome(gap >= t["min_loglik_gap"], facts, ev)


HND501 = Rule(
    code="HND501", name="sampling-too-random", title="Sampling settings too random",
    severity=Severity.MEDIUM, area="generation", reads=("generation",), needs=("generation",),
    check=check_sampling,
    thresholds=(
        T("max_temperature", 1.0, "temperature at or above which sampling is untruncated"),
        T("max_top_p", 0.99, "top-p at or above which nucleus sampling truncates nothing"),
        T("min_loglik_gap", 0.25, "when the checkpoint's samples exist: how much lower (nats/byte) the model's own "
                                  "log-likelihood of its samples at the run's settings must be than at the "
                                  "recommended ones (measured on the bundled runs: 0.52 example, 0.62 healthy; "
                                  "temperature 0.5 vs 0.8 differ by about 0.3)"),
    ),
    message="samples are drawn at temperature {temp} with top-p {top_p} and top-k {top_k}: pure sampling from the "
            "full distribution (thresholds: temperature {t_max_temperature}, top-p {t_max_top_p}){samples}.",
    pass_message="sampling at temperature {temp}, top-p {top_p}, top-k {top_k}{samples}.",
    recommendation="Truncate the tail of the distribution when judging samples",
    flags=(RECOMMENDED.flags(),), actions=("temperature:down", "top_p:down"),
    expect=f"samples judged at temperature {RECOMMENDED.temperature:g} and top-p {RECOMMENDED.top_p:g}",
    risk="Truncated sampling is less diverse and can repeat itself (see HND502).",
    doc=RuleDoc(
        what="Reads the generation settings (generation.json or the config): temperature, top-p, top-k. When the "
             "run has a bundled-trainer checkpoint, the samples analyzer lets it write a few samples at those "
             "settings and at the recommended ones (temperature 0.8, top-p 0.9), and the finding rests on them: it "
             "fires when the model's own log-likelihood per byte of its samples is lower at the run's settings by "
             "at least min_loglik_gap, and quotes both (with the valid-UTF-8 and repeated-4-gram shares). Without "
             "samples (no checkpoint, --no-samples, a model above the size limit) it judges the values and says "
             "that no sample backs it.",
        why="At temperature 1.0 with no top-p/top-k every sample draws from the model's full tail, so a small or "
            "undertrained model produces incoherent text even when its loss is fine. It does not affect training "
            "metrics: bad samples at these settings are not evidence of a training problem. A confident model "
            "barely changes when its tail is cut; the likelihood gap measures how much of the sample came from it.",
        example="HND501 samples are drawn at temperature 1 with top-p 1 and top-k unset: pure sampling from the full "
                "distribution (thresholds: temperature 1, top-p 0.99); the checkpoint's own samples at these "
                "settings score -2.24 nats/byte log-likelihood with 100.0% valid UTF-8 and 0.0% repeated 4-grams, "
                "against -1.72 nats/byte, 100.0% and 3.8% at temperature 0.8, top-p 0.9 (a gap of 0.518 nats/byte; "
                "threshold 0.25; 3 samples, 111 and 270 bytes).",
        fix="hnet-diag generate --temperature 0.8 --top-p 0.9 (or --top-k 50).",
    ),
    cause=Cause(
        order=150,
        contradicted_by=("temperature:up", "top_p:up"),
    ),
)


def check_repetition_penalty(r: Results, t: Thresholds) -> Outcome:
    ge = r.generation
    if ge.has_repetition_penalty is None:
        return Outcome(None, {"reason": "no repetition-penalty setting recorded"})
    facts = {"value": "unset" if ge.repetition_penalty is None else g(ge.repetition_penalty)}
    return Outcome(not ge.has_repetition_penalty, facts, Evidence(measured=ge.repetition_penalty or 1.0, threshold=1.0))


HND502 = Rule(
    code="HND502", name="no-repetition-penalty", title="No repetition penalty",
    severity=Severity.LOW, area="generation", reads=("generation",), needs=("generation",),
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
    cause=Cause(
        order=160,
    ),
)


def check_generation_length(r: Results, t: Thresholds) -> Outcome:
    ge = r.generation
    if ge.max_new_over_seq_len is None:
        return Outcome(None, {"reason": "max new tokens or training sequence length unknown"})
    facts = {"new": ge.max_new_tokens, "seq": ge.training_seq_len, "ratio": g(ge.max_new_over_seq_len, 2)}
    ev = Evidence(measured=ge.max_new_over_seq_len, threshold=t["max_ratio"])
    return Outcome(ge.max_new_over_seq_len > t["max_ratio"], facts, ev)


HND503 = Rule(
    code="HND503", name="generation-longer-than-context", title="Generation length against training context",
    severity=Severity.LOW, area="generation", reads=("generation",), needs=("generation",),
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
    cause=Cause(
        order=170,
    ),
)


def check_decoding(r: Results, t: Thresholds) -> Outcome:
    de = r.decoding
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


HND504 = Rule(
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
    cause=Cause(
        order=0, title="Step-wise decoding does not reproduce the forward pass",
    ),
)


def check_degenerate_samples(r: Results, t: Thresholds) -> Outcome:
    sa = r.samples
    ours = sa.at("run")
    if ours is None or ours.repeated_4gram_share is None:
        return Outcome(None, {"reason": "the samples wrote too few bytes to measure"})
    rec = sa.at("recommended")
    also = ""
    if rec is not None and rec.repeated_4gram_share is not None:
        also = (f"; at {rec.label}: {pct(rec.repeated_4gram_share)} repeated 4-grams, longest repeated span "
                f"{rec.longest_repeated_span} bytes")
    looping = [s for s in ours.samples if s.n_bytes]
    facts = {"setting": ours.label, "note": sa.settings_note, "rep": pct(ours.repeated_4gram_share),
             "span": ours.longest_repeated_span, "d2": g(ours.distinct_2), "n": ours.n_samples, "bytes": ours.n_bytes,
             "also": also, "example": repr(looping[0].text[:60]) if looping else "''"}
    fired = (ours.repeated_4gram_share > t["max_repeated_4gram_share"]
             or ours.longest_repeated_span > t["max_repeated_span"])
    ev = Evidence(measured=ours.repeated_4gram_share, threshold=t["max_repeated_4gram_share"],
                  steps=(sa.checkpoint_step,) if sa.checkpoint_step is not None else ())
    return Outcome(fired, facts, ev)


HND505 = Rule(
    code="HND505", name="degenerate-samples", title="Samples loop or repeat themselves",
    severity=Severity.MEDIUM, area="samples", reads=("samples",), needs=("checkpoint",),
    check=check_degenerate_samples,
    thresholds=(
        T("max_repeated_4gram_share", 0.5, "share of a sample's byte 4-grams seen earlier in it (bundled runs: at most "
                                           "0.19 when sampling at temperature 0.5-1, 0.93-0.97 under greedy decoding)"),
        T("max_repeated_span", 40, "longest byte span occurring twice in one 120-byte sample (bundled runs: at most 9 "
                                   "when sampling, 112-116 under greedy decoding)"),
    ),
    message="the checkpoint's samples at {setting} ({note}) repeat themselves: {rep} of their byte 4-grams are "
            "repeats and the longest repeated span is {span} bytes (thresholds {tp_max_repeated_4gram_share}, "
            "{t_max_repeated_span} bytes; distinct-2 {d2}; {n} samples, {bytes} bytes){also}; e.g. {example}.",
    pass_message="the samples at {setting} do not loop ({rep} repeated 4-grams, longest repeated span {span} bytes){also}.",
    recommendation="Sample instead of decoding greedily, with a mild repetition penalty; if the loops persist at "
                   "those settings the model itself is undertrained",
    flags=(f"{RECOMMENDED.flags()} --repetition-penalty 1.1",), actions=("repetition_penalty:up",),
    expect="samples whose repeated-4-gram share and longest repeated span stay under the thresholds (HND505 passes)",
    risk="Sampling trades loops for some incoherence; too strong a penalty distorts text (avoid values above 1.3).",
    doc=RuleDoc(
        what="Reads the samples the run's checkpoint writes at the run's own sampling settings (or the generate "
             "command's defaults when the run records none): the share of byte 4-grams a sample repeats and the "
             "longest span that occurs twice in one sample. Fires when either is above its threshold, whatever the "
             "settings.",
        why="A looping model (\"the the the ...\") is what greedy or over-truncated decoding of a weak model "
            "produces, and no training metric shows it. Thresholds from the bundled trainer: the healthy and "
            "example checkpoints sampled at temperature 0.5-1 repeat at most 19% of their 4-grams with spans up "
            "to 9 bytes; decoded greedily they write \"the the the ...\" (93-97%, spans of 112-116 bytes).",
        example="HND505 the checkpoint's samples at temperature 0, top-p 1 (the run's own settings (generation.json)) "
                "repeat themselves: 96.6% of their byte 4-grams are repeats and the longest repeated span is 116 "
                "bytes (thresholds 50.0%, 40 bytes; distinct-2 0.0172; 3 samples, 240 bytes); e.g. 'the the the '.",
        fix="hnet-diag generate --temperature 0.8 --top-p 0.9 --repetition-penalty 1.1; train longer if loops remain.",
    ),
    cause=Cause(
        order=165,
    ),
)


RULES = (HND501, HND502, HND503, HND504, HND505)
