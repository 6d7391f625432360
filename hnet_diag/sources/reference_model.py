"""The reference trainer's model, rebuilt from a run's checkpoint, and held-out bytes to run it on.

The decoding-consistency check needs a live model, which no other check does: this loader
opens the checkpoint (`torch.load`, weights only), rebuilds the model from the H-Net config
stored beside the weights, and draws the held-out byte windows, so the analyzer
(`hnet_diag.analyzers.decoding`) is a pure function of what it is handed.

Only checkpoints from the reference trainer (a config with an H-Net "model" entry) can be
rebuilt; anything else, a model too large to rebuild inside a routine report, or weights
that do not fit the config give a `DecodingInput` that carries the reason instead of a model.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import to_int

#: longest held-out sequence decoded step by step by default (each byte is one model call)
MAX_DEFAULT_SEQ_LEN = 512
#: more layers than this are never rebuilt (each is a module; building 10^6 of them takes minutes)
MAX_LAYERS = 1024
#: models above this many parameters are not rebuilt unless asked (max_params=None)
DEFAULT_MAX_PARAMS = 50_000_000
CORPUS = "bundled tinyshakespeare (validation split)"


@dataclass(frozen=True)
class DecodingInput:
    """A rebuilt model and the byte windows to compare it on, or the reason there is none."""

    model: Any = None  # HNetLM in eval mode
    ids: Any = None  # LongTensor [n_sequences, seq_len]
    checkpoint: str | None = None
    checkpoint_step: int | None = None
    seed: int = 0
    corpus: str | None = None
    attention_windows: tuple[int, ...] | None = None
    reason: str | None = None  # set when there is no model to check

    @property
    def ok(self) -> bool:
        return self.reason is None and self.model is not None


def checkpoint_params(ckpt: Any) -> int:
    """Parameter count of a checkpoint: from its tensor statistics, else file size / 4 bytes."""
    counted = sum(t.numel for t in getattr(ckpt, "tensors", ()) if not t.name.endswith((".exp_avg", ".exp_avg_sq")))
    if counted:
        return int(counted)
    try:
        return Path(ckpt.path).stat().st_size // 4
    except OSError:
        return 0


def reference_checkpoint(run: Any) -> Any:
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


def decoding_input(
    run: Any, n_sequences: int = 4, seq_len: int | None = None, seed: int = 0,
    max_params: int | None = DEFAULT_MAX_PARAMS,
) -> DecodingInput:
    """Rebuild the newest reference-trainer checkpoint of `run` and draw its held-out bytes.

    n_sequences, seed: how many bundled-corpus validation windows, drawn with which seed.
    seq_len: window length; default min(training seq_len (or 256), 512) - long enough to
        pass a short attention window, short enough to decode byte by byte on a CPU.
    max_params: larger models are not rebuilt by default (a paper-size H-Net would take
        gigabytes and minutes on a CPU inside a routine report); None lifts the limit.
    """
    ckpt = reference_checkpoint(run)
    if ckpt is None:
        return DecodingInput(seed=seed, reason="no reference-trainer checkpoint (a checkpoint whose config has an "
                                               "H-Net 'model' config)")
    base = dict(checkpoint=ckpt.path, checkpoint_step=ckpt.step, seed=seed)
    try:
        import torch
    except ImportError as err:  # torch is what the model needs; without it there is nothing to rebuild
        return DecodingInput(**base, reason=f"the reference model cannot be imported ({err})")
    from ..trainer.config import HNetConfig
    from ..trainer.model import HNetLM

    try:
        cfg = HNetConfig.from_dict(ckpt.config["model"])
    except Exception as err:  # noqa: BLE001 - a config we cannot read is "no data", not a crash
        return DecodingInput(**base, reason=f"cannot rebuild the model from {ckpt.path} ({_why(err)})")
    # The size the *config* claims counts, not only the file's tensors: a 670 KB file may
    # claim d_model 4096, and building that model is what would cost gigabytes.
    size = max(checkpoint_params(ckpt), cfg.min_params())
    if max_params is not None and size > max_params:
        return DecodingInput(**base, reason=(
            f"the model in {ckpt.path} has about {size:,} parameters, more than max_params={max_params:,}; "
            "call analyze_decoding(decoding_input(run, max_params=None)) to check it anyway"))
    if cfg.num_layers() > MAX_LAYERS:
        return DecodingInput(**base, reason=f"the model in {ckpt.path} has {cfg.num_layers():,} layers, more than {MAX_LAYERS:,}; not rebuilt")
    training = ckpt.config.get("training") if isinstance(ckpt.config.get("training"), dict) else {}
    if seq_len is None:
        train_len = to_int(training.get("seq_len")) or run.training.seq_len or 256  # a hostile value is no length
        seq_len = int(min(max(int(train_len), 2), MAX_DEFAULT_SEQ_LEN))
    try:
        with warnings.catch_warnings():  # torch's deprecation notes are not about the run
            warnings.simplefilter("ignore")
            state = torch.load(Path(ckpt.path), map_location="cpu", weights_only=True)
        sd = state.get("model", state) if isinstance(state, dict) else None
        model = HNetLM(cfg)
        model.load_state_dict(sd)
    except Exception as err:  # noqa: BLE001 - a checkpoint we cannot rebuild is "no data", not a crash
        return DecodingInput(**base, reason=f"cannot rebuild the model from {ckpt.path} ({_why(err)})")
    model.eval()
    windows = cfg.attn_cfg.window_size
    return DecodingInput(
        model=model, ids=held_out_sequences(n_sequences, seq_len, seed), corpus=CORPUS,
        attention_windows=tuple(int(w) for w in windows) if isinstance(windows, (list, tuple)) else None, **base,
    )


def _why(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160] if text else 'no detail'}"
