"""Step-wise decoding vs the teacher-forced forward pass, on a reference-trainer checkpoint.

Generation runs the model one byte at a time with caches; training runs the whole
sequence at once. If the two disagree (the official code once ignored its attention window
while decoding) samples are bad although every training metric looks healthy. Running
both on the same held-out bytes and comparing the logits catches it.

The analyzer is handed the rebuilt model and the bytes (`sources.reference_model.
decoding_input` opens the checkpoint and the corpus); it opens no file itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import AnalyzerResult, new_axes, no_data_axes

#: below this many parameters decoding runs on one CPU thread (faster for tiny models)
SMALL_MODEL_PARAMS = 5_000_000


@dataclass(frozen=True)
class DecodingResult(AnalyzerResult):
    checkpoint: str | None = None
    checkpoint_step: int | None = None
    n_sequences: int = 0
    seq_len: int = 0
    seed: int = 0
    corpus: str | None = None
    max_abs_diff: float | None = None  # over all sequences and positions
    mean_abs_diff: float | None = None
    max_abs_logit: float | None = None  # scale of the logits, to read the diff against
    relative_max_diff: float | None = None  # max_abs_diff / max_abs_logit
    per_position_max: tuple[float, ...] = ()  # max over sequences and vocabulary, per position
    first_position_above: int | None = None  # first position whose diff exceeds `tolerance`
    tolerance: float = 1e-3  # the level `first_position_above` uses (a detection parameter)
    attention_windows: tuple[int, ...] | None = None  # from the checkpoint's model config


    def plot(self, ax: Any = None) -> Any:
        """Max |step-wise - forward| logit difference per position (log scale)."""
        title = "Step-wise decoding vs forward pass"
        if not self.ok or not self.per_position_max:
            return no_data_axes(ax, self.reason or "nothing compared", title)
        ax = new_axes(ax, title)
        y = [max(v, 1e-12) for v in self.per_position_max]
        ax.plot(range(len(y)), y, lw=0.9, color="tab:blue", label="max |logit diff|")
        ax.axhline(self.tolerance, color="k", ls="--", lw=0.8, label=f"tolerance {self.tolerance:g}")
        for w in self.attention_windows or ():
            if 0 < w < len(y):
                ax.axvline(w, color="tab:orange", ls=":", lw=0.8, label=f"attention window {w}")
        ax.set_yscale("log")
        ax.set_xlabel("position")
        ax.legend(fontsize=7, loc="best", framealpha=0.6)
        return ax


def compare_logits(stepwise, forward) -> dict[str, Any]:
    """Max/mean absolute difference, per-position max, and the logits' own scale."""
    diff = (stepwise.float() - forward.float()).abs()
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "max_abs_logit": float(forward.float().abs().max()),
        "per_position_max": tuple(float(v) for v in diff.amax(dim=(0, 2))),
    }


def decoding_consistency(model: Any, ids: Any, stepwise: Any = None) -> dict[str, Any]:
    """Teacher-forced logits `model(ids).logits` vs step-wise `stepwise(model, ids)`.

    Usable on any model with the reference trainer's interface (e.g. one built in a
    notebook); `stepwise` defaults to `hnet_diag.trainer.model.stepwise_logits`. Returns
    `compare_logits`' numbers.
    """
    import torch

    if stepwise is None:
        from ..trainer.model import stepwise_logits as stepwise
    # a small model decodes byte by byte as hundreds of tiny matmuls: thread hand-offs cost
    # more than they save (measured 0.26 s on 1 thread vs 2-7 s on 2 busy cores)
    threads = torch.get_num_threads()
    if sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS:
        torch.set_num_threads(1)
    try:
        with torch.no_grad():
            forward = model(ids).logits
            stepped = stepwise(model, ids)
    finally:
        torch.set_num_threads(threads)
    return compare_logits(stepped, forward)


def analyze_decoding(inputs: Any, tolerance: float = 1e-3) -> DecodingResult:
    """Compare `stepwise_logits` with the teacher-forced `model(ids).logits` on `inputs`.

    `inputs` is a `sources.reference_model.DecodingInput` (the model and held-out bytes, or
    the reason there are none, which gives a no-data result).
    tolerance: only locates `first_position_above` (float rounding is ~1e-5); judging the
        difference is the rules' job.
    """
    base = dict(checkpoint=inputs.checkpoint, checkpoint_step=inputs.checkpoint_step, seed=inputs.seed,
                tolerance=tolerance)
    if not inputs.ok:
        return DecodingResult.no_data(inputs.reason or "no model to compare", **base)
    from ..trainer.model import stepwise_logits

    cmp = decoding_consistency(inputs.model, inputs.ids, stepwise_logits)
    over = [i for i, v in enumerate(cmp["per_position_max"]) if v > tolerance]
    n_sequences, seq_len = (int(n) for n in inputs.ids.shape)
    return DecodingResult(
        n_sequences=n_sequences,
        seq_len=seq_len,
        corpus=inputs.corpus,
        relative_max_diff=cmp["max_abs_diff"] / cmp["max_abs_logit"] if cmp["max_abs_logit"] else None,
        first_position_above=over[0] if over else None,
        attention_windows=inputs.attention_windows,
        **cmp,
        **base,
    )
