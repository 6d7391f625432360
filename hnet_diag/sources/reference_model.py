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
    model, cfg, reason = rebuild_model(ckpt, max_params, hint="call analyze_decoding(decoding_input(run, max_params=None))",
                                       view=run)
    if reason is not None:
        return DecodingInput(**base, reason=reason)
    training = ckpt.config.get("training") if isinstance(ckpt.config.get("training"), dict) else {}
    if seq_len is None:
        train_len = to_int(training.get("seq_len")) or run.training.seq_len or 256  # a hostile value is no length
        seq_len = int(min(max(int(train_len), 2), MAX_DEFAULT_SEQ_LEN))
    windows = cfg.attn_cfg.window_size
    return DecodingInput(
        model=model, ids=held_out_sequences(n_sequences, seq_len, seed), corpus=CORPUS,
        attention_windows=tuple(int(w) for w in windows) if isinstance(windows, (list, tuple)) else None, **base,
    )


def rebuild_model(ckpt: Any, max_params: int | None = DEFAULT_MAX_PARAMS,
                  hint: str = "pass max_params=None", view: Any = None) -> tuple[Any, Any, str | None]:
    """(model in eval mode, its HNetConfig, None) from a reference-trainer checkpoint, or (None, None|cfg, reason).

    Shared by every check that runs the model (decoding, boundaries, samples), so each refuses
    the same models for the same reasons: an unreadable config, a model above `max_params`
    (counted from the config, not only the file: a 670 KB file may claim d_model 4096), too
    many layers, or weights that do not fit the config. `hint` says how to lift the size limit.

    view: the analysis' shared view of the run (`analyzers.cache.CachedRun`, what `analyze_all`
        and `diagnose` hand every input loader). The model is one fact of the analysis: the
        first check to need it builds it and keeps it on the view (see `model_key`), so the
        decoding check, the boundary map and the samples of one report share one rebuild. The
        checks above still run on every call, so a caller with a lower `max_params` is refused
        as before. Its users only run it (forward, `step` with their own caches, under
        no_grad) and never change it. A plain Run (or None) rebuilds on every call.
    """
    try:
        import torch  # noqa: F401 - torch is what the model needs; without it there is nothing to rebuild
    except ImportError as err:
        return None, None, f"the reference model cannot be imported ({err})"
    from ..trainer.config import HNetConfig

    try:
        cfg = HNetConfig.from_dict(ckpt.config["model"])
    except Exception as err:  # noqa: BLE001 - a config we cannot read is "no data", not a crash
        return None, None, f"cannot rebuild the model from {ckpt.path} ({_why(err)})"
    size = max(checkpoint_params(ckpt), cfg.min_params())
    if max_params is not None and size > max_params:
        return None, cfg, (f"the model in {ckpt.path} has about {size:,} parameters, more than "
                           f"max_params={max_params:,}; {hint} to run it anyway")
    if cfg.num_layers() > MAX_LAYERS:
        return None, cfg, f"the model in {ckpt.path} has {cfg.num_layers():,} layers, more than {MAX_LAYERS:,}; not rebuilt"
    key = model_key(ckpt)
    if key is not None and callable(getattr(view, "result", None)):
        model, why = view.result(key, lambda _view: _load_model(ckpt.path, cfg))
    else:
        model, why = _load_model(ckpt.path, cfg)
    if model is None:
        return None, cfg, f"cannot rebuild the model from {ckpt.path} ({why})"
    return model, cfg, None


def model_key(ckpt: Any) -> tuple | None:
    """What one rebuilt model is kept by: the checkpoint file (resolved path, inode, size,
    mtime, so a file rewritten in place is a new one) and the model config it is built with
    (which may come from a file beside the weights). None when the file cannot be stat'ed."""
    import json

    try:
        path = Path(ckpt.path).resolve()
        st = path.stat()
        config = json.dumps(ckpt.config["model"], sort_keys=True, default=str)
    except (OSError, TypeError, ValueError, KeyError):
        return None
    return ("reference model", str(path), st.st_ino, st.st_size, st.st_mtime_ns, config)


def _load_model(path: Any, cfg: Any) -> tuple[Any, str | None]:
    """(HNetLM in eval mode with the checkpoint's weights, None), or (None, why not)."""
    import torch

    from ..trainer.model import HNetLM

    try:
        with warnings.catch_warnings():  # torch's deprecation notes are not about the run
            warnings.simplefilter("ignore")
            state = torch.load(Path(path), map_location="cpu", weights_only=True)
        sd = state.get("model", state) if isinstance(state, dict) else None
        model = HNetLM(cfg)
        model.load_state_dict(sd)
    except Exception as err:  # noqa: BLE001 - a checkpoint we cannot rebuild is "no data", not a crash
        return None, _why(err)
    return model.eval(), None


#: bytes of the default reference passage for the boundary map (a few training windows:
#: about 750 outer-stage boundaries on the bundled 2-stage model, enough for the test)
DEFAULT_PASSAGE_BYTES = 1024
#: the passage is cut into windows of the training length, at most this long
MAX_BOUNDARY_WINDOW = 4096


@dataclass(frozen=True)
class BoundaryInput:
    """A rebuilt model and the reference passage to map its chunk boundaries on, or why there is none."""

    model: Any = None  # HNetLM in eval mode
    passage: bytes = b""
    source: str | None = None  # where the passage comes from (the run's validation text, the bundled corpus, "given")
    window: int = 0  # the passage runs through the model in windows of this many bytes (the training length)
    checkpoint: str | None = None
    checkpoint_step: int | None = None
    targets: tuple[float, ...] = ()  # target compression per stage, from the checkpoint's config
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None and self.model is not None


def validation_passage(run: Any, training: dict | None = None, n_bytes: int = DEFAULT_PASSAGE_BYTES) -> tuple[bytes, str]:
    """(passage, where from): the first `n_bytes` of the run's validation text when its data files
    can be read, else of the bundled corpus' validation split.

    The split is the trainer's own (documents drawn with its fixed split seed), so the model
    never trained on these bytes; documents are joined by the blank line that separated them.
    """
    from ..trainer.data import bundled_corpus, read_documents, split_documents

    names = (training or {}).get("data")
    paths, _ = data_files(getattr(run, "path", ""), names)
    if paths:
        where = "the run's validation split (" + ", ".join(str(n) for n in names) + ")"
    else:
        paths, where = [bundled_corpus()], CORPUS
    try:
        _, val = split_documents(read_documents(paths))
    except Exception:  # noqa: BLE001 - an unreadable data file: fall back to the bundled corpus
        _, val = split_documents(read_documents([bundled_corpus()]))
        where = CORPUS
    return b"\n\n".join(val)[:n_bytes], where


#: a data file larger than this is not read for a passage (the bundled corpus is 1.1 MB)
MAX_DATA_FILE_BYTES = 64 * 2**20


def data_files(run_path: Any, names: Any) -> tuple[list[Path], str]:
    """(the run's training data files, "") when every one can be read safely, else ([], why not).

    A config is untrusted input whose bytes would end up in the report: only files shipped
    with the package (`bundled:NAME`) and files inside the run folder (after resolving links)
    are read, and none larger than MAX_DATA_FILE_BYTES. The boundary map's passage, the
    samples' prompts and the training-byte counts all read data files through this one rule.
    """
    from ..trainer.data import BUNDLED_PREFIX, bundled_corpus

    if not (isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names)):
        return [], "the run names no training text"
    corpus_dir = bundled_corpus().parent.resolve()
    run_dir = Path(run_path or "")
    run_dir = (run_dir if run_dir.is_dir() else run_dir.parent).resolve()
    found = []
    for n in names:
        if n.startswith(BUNDLED_PREFIX):
            path, inside, where = corpus_dir / n[len(BUNDLED_PREFIX):], corpus_dir, "a bundled corpus"
        else:
            path, inside, where = run_dir / n, run_dir, "inside the run folder"
        try:
            real = path.resolve()
            if not (real.is_relative_to(inside) and real.is_file()):
                return [], f"the run's training text {n} is not {where}"
            if real.stat().st_size > MAX_DATA_FILE_BYTES:
                return [], f"the run's training text {n} is larger than {MAX_DATA_FILE_BYTES >> 20} MiB"
        except (OSError, ValueError):
            return [], f"the run's training text {n} is not {where}"
        found.append(real)
    return found, ""


def boundary_input(run: Any, text: str | bytes | None = None, max_params: int | None = DEFAULT_MAX_PARAMS,
                   n_bytes: int = DEFAULT_PASSAGE_BYTES, enabled: bool = True) -> BoundaryInput:
    """Rebuild the run's newest reference-trainer checkpoint and choose the passage to map.

    text: the passage (str is encoded as UTF-8); default the first `n_bytes` of the run's
        validation text (see `validation_passage`).
    max_params: larger models are not rebuilt (None lifts the limit).
    enabled: False (`--no-samples`: no evidence from running the model) gives a no-data input that says so.
    """
    if not enabled:
        return BoundaryInput(reason="the boundary map was not drawn (--no-samples: the model is not run)")
    ckpt = reference_checkpoint(run)
    if ckpt is None:
        return BoundaryInput(reason="no reference-trainer checkpoint (a checkpoint whose config has an H-Net 'model' config)")
    base = dict(checkpoint=ckpt.path, checkpoint_step=ckpt.step)
    model, _cfg, reason = rebuild_model(ckpt, max_params, hint="call boundary_map(run, max_params=None)", view=run)
    if reason is not None:
        return BoundaryInput(**base, reason=reason)
    training = ckpt.config.get("training") if isinstance(ckpt.config.get("training"), dict) else {}
    if text is None:
        passage, source = validation_passage(run, training, n_bytes)
    else:
        passage, source = (text.encode("utf-8") if isinstance(text, str) else bytes(text)), "given"
    train_len = to_int(training.get("seq_len")) or run.training.seq_len or 256  # a hostile value is no length
    window = int(min(max(int(train_len), 2), MAX_BOUNDARY_WINDOW))
    targets = training.get("target_compression")
    targets = tuple(float(t) for t in targets) if isinstance(targets, (list, tuple)) and all(
        isinstance(t, (int, float)) for t in targets) else ()
    base.update(source=source, targets=targets)
    if len(passage) < 2:
        return BoundaryInput(**base, passage=passage, reason="the passage has fewer than 2 bytes: nothing to chunk")
    return BoundaryInput(model=model, passage=passage, window=window, **base)


def _why(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160] if text else 'no detail'}"
