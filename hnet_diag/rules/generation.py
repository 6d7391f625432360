"""HND5xx: generation settings and decoding (sampling, repetition penalty, length,
step-wise decoding against the forward pass).

Each rule stands with its predicate; see `hnet_diag.rules` for how to add one.
"""
from __future__ import annotations

from ..formatting import g
from ..results import Results
from .rule import Cause, Evidence, Outcome, Rule, RuleDoc, Severity, Thresholds
from .shared import T


def check_sampling(r: Results, t: Thresholds) -> Outcome:
    ge = r.generation
    if ge.temperature is None:
        return Outcome(None, {"reason": "no sampling temperature recorded"})
    top_p_open = ge.top_p is None or ge.top_p >= t["max_top_p"]
    no_top_k = not ge.top_k
    fired = ge.temperature >= t["max_temperature"] and top_p_open and no_top_k
    facts = {"temp": g(ge.temperature), "top_p": "unset" if ge.top_p is None else g(ge.top_p),
             "top_k": "unset" if not ge.top_k else ge.top_k}
    ev = Evidence(metric=None, measured=ge.temperature, threshold=t["max_temperature"])
    return Outcome(fired, facts, ev)


HND501 = Rule(
    code="HND501", name="sampling-too-random", title="Sampling settings too random",
    severity=Severity.MEDIUM, area="generation", reads=("generation",), needs=("generation",),
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


RULES = (HND501, HND502, HND503, HND504)
