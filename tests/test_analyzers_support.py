"""Helpers for the analyzer tests: real run folders written into tmp_path.

Curves are synthetic but realistic (log-normal grad-norm noise, a decaying loss with noise,
a warmup-stable-decay LR) and written as the reference trainer writes them: metrics.jsonl
with canonical names, read back through `load_run`. Settings a config source would fill
are set on the loaded Run, so these tests do not depend on config parsing.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from hnet_diag import load_run
from hnet_diag.run import Run, TrainingSettings


def wsd_lr(step: int, peak: float, warmup: int, max_steps: int, decay_fraction: float = 0.2) -> float:
    """Warmup-stable-decay LR, as in the H-Net paper (linear up, flat, then down)."""
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    decay_start = int(max_steps * (1 - decay_fraction))
    if step < decay_start:
        return peak
    return peak * max(0.0, (max_steps - step) / (max_steps - decay_start))


def healthy_records(
    steps: int = 600,
    warmup: int = 60,
    max_steps: int | None = None,
    peak_lr: float = 1e-3,
    multipliers: tuple[float, ...] = (2.0, 1.0),
    seed: int = 0,
    grad_spikes: dict[int, float] | None = None,
    loss_spikes: dict[int, float] | None = None,
    routing: bool = True,
    targets: tuple[float, ...] = (6.0,),
    val_every: int = 50,
) -> list[dict]:
    """One dict per step: loss, lr, lr/stage{i}, grad_norm (+ per stage), clipped, routing."""
    rng = np.random.default_rng(seed)
    max_steps = max_steps or steps
    grad_spikes = grad_spikes or {}
    loss_spikes = loss_spikes or {}
    recs = []
    for step in range(steps):
        lr = wsd_lr(step, peak_lr, warmup, max_steps)
        stage_g = [0.4 * math.exp(rng.normal(0, 0.15)) for _ in multipliers]
        for i in range(len(stage_g)):
            stage_g[i] *= grad_spikes.get(step, 1.0) if i == 0 else 1.0
        if step == 0:
            stage_g = [g * 30 for g in stage_g]  # the normal large norm at initialisation
        g = math.sqrt(sum(x * x for x in stage_g))
        loss = 2.0 + 3.0 * math.exp(-step / 150) + rng.normal(0, 0.02)
        loss *= loss_spikes.get(step, 1.0)
        rec = {"step": step, "loss": loss, "lr": lr, "grad_norm": g, "clipped": float(g > 1.0)}
        for i, m in enumerate(multipliers):
            rec[f"lr/stage{i}"] = lr * m
            rec[f"grad_norm/stage{i}"] = stage_g[i]
        if routing:
            for i, n in enumerate(targets):
                f = (1.0 / n) * (1 + rng.normal(0, 0.02))
                gp = f + rng.normal(0, 0.005)
                rec[f"boundary_frac/stage{i}"] = f
                rec[f"boundary_prob/stage{i}"] = gp
                rec[f"compression/stage{i}"] = 1.0 / f
                rec[f"ratio_loss/stage{i}"] = n / (n - 1) * ((n - 1) * f * gp + (1 - f) * (1 - gp))
                rec[f"boundary_undecided/stage{i}"] = 0.02
        if val_every and step % val_every == 0 or step == steps - 1:
            rec["val_loss"] = loss + 0.05
        recs.append(rec)
    return recs


def write_run(folder: Path, records: list[dict], training: TrainingSettings | None = None, **run_fields) -> Run:
    """Write records as metrics.jsonl (NaN/Inf as the trainer writes them), load, set settings."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "metrics.jsonl", "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")  # json writes NaN / Infinity, which the source reads
    run = load_run(folder)
    if training is not None:
        run.training = training
    for k, v in run_fields.items():
        setattr(run, k, v)
    return run


def settings(**kw) -> TrainingSettings:
    base = dict(max_steps=600, warmup_steps=60, max_grad_norm=1.0, batch_size=8, seq_len=256, learning_rate=1e-3)
    base.update(kw)
    return TrainingSettings(**base)


def close_figures() -> None:
    import matplotlib.pyplot as plt

    plt.close("all")


__all__ = ["healthy_records", "write_run", "settings", "wsd_lr", "close_figures", "replace"]
