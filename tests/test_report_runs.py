"""Small run folders written the way the reference trainer writes them (metrics.jsonl +
config.json [+ generation.json]), with one knob per pathology, for the rule/report/CLI tests.

The curves are synthetic but shaped like real ones (warmup, WSD decay, falling loss with
noise, a large norm in the first steps); every pathology comes from an ordinary setting
(no warmup spikes without a short warmup, etc.) or an explicit spike list. The tests here
check the builders themselves produce what the rule tests rely on.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def lr_at(step: int, peak: float, warmup: int, max_steps: int, schedule: str) -> float:
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    if schedule == "constant":
        return peak
    if schedule == "cosine":
        progress = (step - warmup) / max(1, max_steps - warmup)
        return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    decay_start = int(0.8 * max_steps)  # wsd: the last 20% decays
    if step < decay_start:
        return peak
    return peak * max(0.0, 1 - (step - decay_start) / max(1, max_steps - decay_start))


def write_run(
    folder: Path,
    *,
    max_steps: int = 600,
    stop: int | None = None,
    warmup: int = 60,
    lr: float = 3e-4,
    multipliers: tuple[float, ...] = (2.0, 1.5, 1.0),
    schedule: str = "wsd",
    max_grad_norm: float | None = 1.0,
    grad_level: float = 0.4,
    grad_spikes: dict[int, float] | None = None,
    spike_stage: int = 0,
    loss_spikes: dict[int, float] | None = None,
    nan_from: int | None = None,
    ratio_loss_weight: float = 0.03,
    compression: tuple[float, ...] = (3.0, 3.0),
    targets: tuple[float, ...] = (3.0, 3.0),
    undecided: float = 0.05,
    val_rise: float = 0.0,
    generation: dict | None = None,
    seq_len: int = 512,
    seed: int = 0,
) -> Path:
    """Write a run folder and return it."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    last = stop if stop is not None else max_steps
    grad_spikes = grad_spikes or {}
    loss_spikes = loss_spikes or {}
    n_stages = len(compression)
    lines = []
    for step in range(last):
        base = lr_at(step, lr, warmup, max_steps, schedule)
        loss = 4.0 * math.exp(-step / 120) + 1.4 + rng.normal(0, 0.01)
        if step in loss_spikes:
            loss *= loss_spikes[step]
        if nan_from is not None and step >= nan_from:
            loss = float("nan")
        norm = grad_level * (1 + 0.5 * math.exp(-step / 150)) * math.exp(rng.normal(0, 0.05))
        if step < 3:
            norm = 12.0 / (step + 1)  # a large norm at initialisation: normal
        factor = grad_spikes.get(step, 1.0)
        rec: dict = {
            "step": step,
            "loss": loss,
            "grad_norm": norm * factor,
            "lr": base,
            "clipped": int(max_grad_norm is not None and norm * factor > max_grad_norm),
            "tokens_per_s": 1000.0,
        }
        for s, m in enumerate(multipliers):
            rec[f"lr/stage{s}"] = base * m
            stage_norm = norm / math.sqrt(len(multipliers))
            rec[f"grad_norm/stage{s}"] = stage_norm * (factor if s == spike_stage else 1.0)
        total_ratio = 0.0
        for s in range(n_stages):
            comp = compression[s] * math.exp(rng.normal(0, 0.01))
            f = 1.0 / comp
            n = targets[s]
            gp = f + rng.normal(0, 0.002)
            ratio = n / (n - 1) * ((n - 1) * f * gp + (1 - f) * (1 - gp))
            total_ratio += ratio
            rec[f"ratio_loss/stage{s}"] = ratio
            rec[f"compression/stage{s}"] = comp
            rec[f"boundary_frac/stage{s}"] = f
            rec[f"boundary_prob/stage{s}"] = gp
            rec[f"boundary_undecided/stage{s}"] = undecided
        rec["ratio_loss"] = ratio_loss_weight * total_ratio
        if step % 50 == 49:
            drift = val_rise * max(0, step - last // 2) / max(1, last)
            rec["val_loss"] = 4.0 * math.exp(-step / 120) + 1.5 + drift
        lines.append(json.dumps(rec))
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    config = {
        "model": {"arch_layout": ["m4", ["T1m4", ["T2"], "m4T1"], "m4"], "d_model": [64, 96, 128],
                  "d_intermediate": [0, 192, 256], "vocab_size": 256},
        "training": {
            "learning_rate": lr, "lr_multipliers": list(multipliers), "warmup_steps": warmup, "max_steps": max_steps,
            "schedule": schedule, "max_grad_norm": max_grad_norm, "ratio_loss_weight": ratio_loss_weight,
            "target_compression": list(targets), "seq_len": seq_len, "batch_size": 8,
        },
    }
    if stop is not None:
        config["training"]["stop_at_step"] = stop
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    if generation is not None:
        (folder / "generation.json").write_text(json.dumps(generation))
    return folder


def healthy(folder: Path, **kw) -> Path:
    return write_run(folder, **kw)


def example_like(folder: Path) -> Path:
    """Shaped like the example report's run: 3.0/1.7/0.9, 2% warmup, stopped at a third,
    spikes at the end of warmup on stage 0, sampling at temperature 1.0 / top-p 1.0."""
    return write_run(
        folder, max_steps=1500, stop=500, warmup=30, multipliers=(3.0, 1.7, 0.9),
        grad_spikes={31: 30.0, 34: 12.0, 38: 20.0, 45: 8.0}, spike_stage=0, loss_spikes={35: 1.6, 46: 1.5},
        generation={"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 256},
    )


def test_builder_writes_a_loadable_run_with_every_metric_family(tmp_path):
    from hnet_diag import load_run

    run = load_run(write_run(tmp_path / "r", max_steps=200))
    names = set(run.metric_names())
    assert {"loss", "grad_norm", "lr", "val_loss", "compression/stage0", "ratio_loss/stage1"} <= names
    assert run.training.max_steps == 200 and run.training.lr_multipliers == (2.0, 1.5, 1.0)
    assert run.last_step == 199
