"""Step-wise decoding vs the teacher-forced forward pass, on a reference-trainer checkpoint.

Generation runs the model one byte at a time with caches; training runs the whole
sequence at once. If the two disagree (the official code once ignored its attention window
while decoding) samples are bad although every training metric looks healthy. Running
both on the same held-out bytes and comparing the logits catches it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import AnalyzerResult, new_axes, no_data_axes

#: longest held-out sequence decoded step by step by default (each byte is one model call)
MAX_DEFAULT_SEQ_LEN = 512
#: models above this many parameters are not rebuilt unless asked (analyze_decoding(max_params=None))
DEFAULT_MAX_PARAMS = 50_000_000
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


def checkpoint_params(ckpt: Any) -> int:
    """Parameter count of a checkpoint: from its tensor statistics, else file size / 4 bytes."""
    counted = sum(t.numel for t in getattr(ckpt, "tensors", ()) if not t.name.endswith((".exp_avg", ".exp_avg_sq")))
    if counted:
        return int(counted)
    try:
        return Path(ckpt.path).stat().st_size // 4
    except OSError:
        return 0


def reference_checkpoint(run) -> Any:
    """The newest checkpoint whose config holds an H-Net model config (the reference trainer's)."""
    found = [c for c in run.checkpoints if isinstance(c.config, dict) and isinstance(c.config.get("model"), dict)
             and "arch_layout" in c.config["model"]]
    if not found:
        return None
    return max(found, key=lambda c: (c.step if c.step is not None else -1, c.path))


def held_out_sequences(n_sequences: int, seq_len: int, seed: int = 0):
    """`n_sequences` byte windows [n, seq_len] from the bundled corpus' validation split.

    The validation split is the trainer's own (fixed split seed), so these bytes were not
    trained on; windows start at positions drawn with `seed`.
    """
    import torch

    from ..trainer.data import bundled_corpus, pack, read_documents, split_documents

    _, val_docs = split_documents(read_documents([bundled_corpus()]))
    stream = pack(val_docs)
    if len(stream) <= seq_len:
        reps = seq_len // max(1, len(stream)) + 2
        stream = stream.repeat(reps)
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(stream) - seq_len, (n_sequences,), generator=g)
    idx = starts[:, None] + torch.arange(seq_len)[None, :]
    return stream[idx].long()


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


def analyze_decoding(
    run, n_sequences: int = 4, seq_len: int | None = None, seed: int = 0, tolerance: float = 1e-3,
    max_params: int | None = DEFAULT_MAX_PARAMS,
) -> DecodingResult:
    """Compare `stepwise_logits` with the teacher-forced `model(ids).logits` on held-out bytes.

    n_sequences, seed: how many bundled-corpus validation windows, drawn with which seed.
    seq_len: window length; default min(training seq_len (or 256), 512) - long enough to
        pass a short attention window, short enough to decode byte by byte on a CPU.
    tolerance: only locates `first_position_above` (float rounding is ~1e-5); judging the
        difference is the rules' job.
    max_params: larger models are not rebuilt by default (a paper-size H-Net would take
        gigabytes and minutes on a CPU inside a routine report); None lifts the limit.
    Only checkpoints from the reference trainer (config with an H-Net "model" entry) can
    be rebuilt; anything else is "no data".
    """
    ckpt = reference_checkpoint(run)
    if ckpt is None:
        return DecodingResult.no_data("no reference-trainer checkpoint (a checkpoint whose config has an H-Net 'model' config)",
                                      tolerance=tolerance, seed=seed)
    training = ckpt.config.get("training") if isinstance(ckpt.config.get("training"), dict) else {}
    if seq_len is None:
        train_len = training.get("seq_len") or run.training.seq_len or 256
        seq_len = int(min(int(train_len), MAX_DEFAULT_SEQ_LEN))
    base = dict(checkpoint=ckpt.path, checkpoint_step=ckpt.step, seed=seed, tolerance=tolerance)
    size = checkpoint_params(ckpt)
    if max_params is not None and size > max_params:
        return DecodingResult.no_data(
            f"the model in {ckpt.path} has about {size:,} parameters, more than max_params={max_params:,}; "
            "call analyze_decoding(run, max_params=None) to check it anyway", **base)
    try:
        import torch

        from ..trainer.config import HNetConfig
        from ..trainer.model import HNetLM, stepwise_logits
    except ImportError as err:  # the model package is optional at analysis time
        return DecodingResult.no_data(f"the reference model cannot be imported ({err})", **base)
    try:
        cfg = HNetConfig.from_dict(ckpt.config["model"])
        state = torch.load(Path(ckpt.path), map_location="cpu", weights_only=True)
        sd = state.get("model", state) if isinstance(state, dict) else None
        model = HNetLM(cfg)
        model.load_state_dict(sd)
    except Exception as err:  # noqa: BLE001 - a checkpoint we cannot rebuild is "no data", not a crash
        return DecodingResult.no_data(f"cannot rebuild the model from {ckpt.path} ({type(err).__name__}: {str(err).splitlines()[0][:160]})", **base)
    model.eval()
    windows = getattr(getattr(cfg, "attn_cfg", None), "window_size", None)
    ids = held_out_sequences(n_sequences, seq_len, seed)
    cmp = decoding_consistency(model, ids, stepwise_logits)
    over = [i for i, v in enumerate(cmp["per_position_max"]) if v > tolerance]
    return DecodingResult(
        n_sequences=n_sequences,
        seq_len=seq_len,
        corpus="bundled tinyshakespeare (validation split)",
        relative_max_diff=cmp["max_abs_diff"] / cmp["max_abs_logit"] if cmp["max_abs_logit"] else None,
        first_position_above=over[0] if over else None,
        attention_windows=tuple(int(w) for w in windows) if isinstance(windows, (list, tuple)) else None,
        **cmp,
        **base,
    )
