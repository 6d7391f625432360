"""Validation series under any common name, and how an early-stopping callback ended a run.

Trainers name validation losses many ways: `val_loss`, `eval_loss`, `eval_<set>_loss` (one
per eval set in HF), `val/loss`, `validation_loss`, Lightning's `val_loss_epoch`, nanoGPT's
`val loss`. Overfitting is judged per eval series, so each set keeps its own series here
instead of being folded into one `val_loss` (which would mix sets).

An HF `EarlyStoppingCallback` leaves its state in `trainer_state.json` (`stateful_callbacks`:
patience, threshold, and the patience counter); Lightning's `EarlyStopping` leaves its state in
each checkpoint (`callbacks["EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}"]`: wait_count,
patience, stopped_epoch, best_score and, since Lightning 2.5, its own stopping message), read
through the checkpoint source (weights_only loading, never unpickling objects). A run whose
counter reached its patience (or whose callback says it stopped it) was stopped by the
callback, not cut, and the report says so with what triggered it. Lightning writes the state
into the checkpoints it saves: a run whose newest checkpoint predates the stop (a
ModelCheckpoint that saves only on improvement) shows the counter below its patience and is
not called stopped by the callback.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .trend import finite

_SPLIT = re.compile(r"[/_\-. ]+")
_VAL_TOKENS = {"val", "valid", "validation", "eval", "evaluation"}
_NOISE_TOKENS = {"loss", "epoch", "step", "avg", "mean"}
#: accuracy-like eval metrics (for "accuracy at chance")
_ACC_TOKENS = {"accuracy", "acc"}


def _tokens(tag: str) -> list[str]:
    return [t for t in _SPLIT.split(tag.strip().lower()) if t]


def is_val_loss(tag: str) -> bool:
    """A validation/eval loss tag: a val token and a `loss` token, no `train` token."""
    toks = _tokens(tag)
    return "loss" in toks and bool(_VAL_TOKENS & set(toks)) and "train" not in toks and "training" not in toks


def is_val_accuracy(tag: str) -> bool:
    toks = _tokens(tag)
    return bool(_ACC_TOKENS & set(toks)) and bool(_VAL_TOKENS & set(toks)) and "train" not in toks


def eval_set_name(tag: str) -> str:
    """The eval set a tag belongs to: `eval_g0_loss` -> `g0`, `val_loss` -> `` (the default)."""
    rest = [t for t in _tokens(tag) if t not in _VAL_TOKENS and t not in _NOISE_TOKENS]
    return "_".join(rest)


def val_loss_series(run) -> dict[str, pd.Series]:
    """{tag: finite step-indexed series} for every validation loss, one per eval set.

    Where Lightning logs one set twice (`val_loss_step` and `val_loss_epoch`), the per-epoch
    series is kept (it is the set's mean; the per-step one is one batch).
    """
    tags = sorted({str(t) for t in run.scalars["tag"].unique()}) if not run.scalars.empty else []
    by_set: dict[str, list[str]] = {}
    for tag in tags:
        if is_val_loss(tag):
            by_set.setdefault(eval_set_name(tag), []).append(tag)
    out: dict[str, pd.Series] = {}
    for _, group in sorted(by_set.items()):
        group.sort(key=lambda t: (not t.lower().endswith("epoch"), t.lower().endswith("step"), t))
        for tag in group:
            s = finite(run.metric(tag))
            if not s.empty:
                out[tag] = s
                break
    return out


def val_accuracy_series(run) -> dict[str, pd.Series]:
    tags = sorted({str(t) for t in run.scalars["tag"].unique()}) if not run.scalars.empty else []
    out = {}
    for tag in tags:
        if is_val_accuracy(tag):
            s = finite(run.metric(tag))
            if not s.empty:
                out[tag] = s
    return out


@dataclass(frozen=True)
class EarlyStopping:
    """What an early-stopping callback recorded, from the file that holds it."""

    source: str
    patience: int | None
    counter: int | None
    threshold: float | None
    best_metric: float | None
    best_checkpoint: str | None
    callback: str = "its EarlyStoppingCallback"  # how the report names it
    monitor: str | None = None  # the metric it watched (Lightning's key names it)
    stopped_epoch: int | None = None  # Lightning: the epoch at which it stopped the run (0: not stopped)
    reason: str | None = None  # the callback's own words (Lightning >= 2.5 `stopping_reason_message`)
    stopped: bool | None = None  # the callback's own verdict (Lightning's `stopping_reason` set)

    @property
    def triggered(self) -> bool:
        """The counter reached the patience (or the callback says it stopped the run)."""
        if self.stopped:
            return True
        return self.patience is not None and self.counter is not None and self.counter >= self.patience


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def early_stopping_state(run) -> EarlyStopping | None:
    """The early-stopping callback's state: HF's from the trainer state, else Lightning's from
    the newest checkpoint that holds one; None when no such state was saved."""
    return _hf_early_stopping(run) or _lightning_early_stopping(run)


#: Lightning's EarlyStopping key: "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}"
_LIGHTNING_KEY = re.compile(r"^EarlyStopping\b")
_KEY_FIELD = r"'{}':\s*'([^']*)'"


def _lightning_early_stopping(run) -> EarlyStopping | None:
    checkpoints = sorted(getattr(run, "checkpoints", ()) or (), key=lambda c: (c.step is None, -(c.step or 0), c.path))
    for ckpt in checkpoints:
        callbacks = getattr(ckpt, "callbacks", None) or {}
        for key, state in callbacks.items():
            if not _LIGHTNING_KEY.match(key) or not isinstance(state, dict):
                continue
            monitor = re.search(_KEY_FIELD.format("monitor"), key)
            patience, counter = _num(state.get("patience")), _num(state.get("wait_count"))
            epoch, why = _num(state.get("stopped_epoch")), state.get("stopping_reason")
            message = state.get("stopping_reason_message")
            # the best checkpoint only where a ModelCheckpoint watched the same metric
            best_path = next((s.get("best_model_path") for k, s in callbacks.items()
                              if k.startswith("ModelCheckpoint") and isinstance(s, dict) and monitor
                              and s.get("monitor") == monitor.group(1)
                              and isinstance(s.get("best_model_path"), str) and s.get("best_model_path")), None)
            return EarlyStopping(
                source=ckpt.path,
                patience=int(patience) if patience is not None else None,
                counter=int(counter) if counter is not None else None,
                threshold=None,
                best_metric=_num(state.get("best_score")),
                best_checkpoint=best_path,
                callback="Lightning's EarlyStopping",
                monitor=monitor.group(1) if monitor else None,
                stopped_epoch=int(epoch) if epoch is not None else None,
                reason=message if isinstance(message, str) and message else None,
                # Lightning >= 2.5 records why it stopped (0: not stopped); older ones only the epoch
                stopped=(bool(why) if isinstance(why, (int, float)) and not isinstance(why, bool)
                         else (bool(epoch) if epoch is not None else None)),
            )
    return None


def _hf_early_stopping(run) -> EarlyStopping | None:
    """The HF EarlyStoppingCallback state of the run's trainer state, if one was saved."""
    for name, cfg in sorted(run.configs.items()):
        callbacks = cfg.get("stateful_callbacks") if isinstance(cfg, dict) else None
        if not isinstance(callbacks, dict):
            continue
        es = callbacks.get("EarlyStoppingCallback")
        if isinstance(es, list) and es:  # several instances: the first
            es = es[0]
        if not isinstance(es, dict):
            continue
        args, attrs = es.get("args") or {}, es.get("attributes") or {}
        patience, counter = _num(args.get("early_stopping_patience")), _num(attrs.get("early_stopping_patience_counter"))
        return EarlyStopping(
            source=name,
            patience=int(patience) if patience is not None else None,
            counter=int(counter) if counter is not None else None,
            threshold=_num(args.get("early_stopping_threshold")),
            best_metric=_num(cfg.get("best_metric")),
            best_checkpoint=cfg.get("best_model_checkpoint") if isinstance(cfg.get("best_model_checkpoint"), str) else None,
        )
    return None
