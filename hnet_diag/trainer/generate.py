"""Sampling bytes from a trained checkpoint, one byte at a time through `model.step`.

Generation goes through the model's incremental step (per-layer caches, routing decided
online) rather than re-running the full forward pass: that is how H-Net is deployed, and a
train/inference mismatch there (the official code once ignored the attention window when
decoding) is exactly what a diagnostic must be able to see.

The sampling settings are written beside the output (`generation.json`) because
bad samples are often bad settings: pure sampling at temperature 1.0 / top_p 1.0 from a small
model reads as gibberish even when training went well.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import InputError
from .sampling import RECOMMENDED, SamplingSettings, generate, generate_scored, next_byte  # noqa: F401 - the generate API


def load_model(checkpoint: str | Path, device: str = "cpu"):
    """(model in eval mode, the checkpoint's config dict) from a trainer checkpoint."""
    from .train import load_checkpoint, model_api

    path = Path(checkpoint)
    if not path.is_file():
        raise InputError(path, "no such checkpoint file")
    state = load_checkpoint(path)
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise InputError(path, "not a hnet-diag trainer checkpoint (needs 'model' and 'config' entries)")
    HNetConfig, HNetLM = model_api()
    model = HNetLM(HNetConfig.from_dict(state["config"]["model"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), state["config"]


def run_folder_of(checkpoint: str | Path) -> Path:
    """The run folder a checkpoint belongs to: OUT for OUT/checkpoints/step_N.pt, else its folder."""
    p = Path(checkpoint).resolve().parent
    return p.parent if p.name == "checkpoints" else p


def generate_to_file(checkpoint: str | Path, prompt: str, settings: SamplingSettings, seed: int = 0,
                     out_dir: str | Path | None = None, device: str = "cpu") -> dict[str, Any]:
    """Generate and write generation.json (settings + output) in out_dir or the checkpoint's run folder."""
    try:
        settings.check()
    except ValueError as err:
        raise InputError(checkpoint, str(err)) from err
    model, _ = load_model(checkpoint, device)
    text = generate(model, prompt.encode("utf-8"), settings, seed=seed, device=device).decode("utf-8", errors="replace")
    record = {"checkpoint": str(checkpoint), "prompt": prompt, **asdict(settings), "seed": seed, "output": text}
    folder = Path(out_dir) if out_dir is not None else run_folder_of(checkpoint)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "generation.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    record["path"] = str(folder / "generation.json")
    return record
