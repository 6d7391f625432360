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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .data import BOS, EOS


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 1.0  # 0 -> greedy
    top_p: float = 1.0  # 1.0 -> off
    top_k: int = 0  # 0 -> off
    repetition_penalty: float = 1.0  # 1.0 -> off; > 1 discourages bytes already seen (CTRL rule)
    max_new_tokens: int = 256

    def check(self) -> None:
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0 or self.repetition_penalty <= 0 or self.max_new_tokens < 0:
            raise ValueError("need temperature >= 0, 0 < top_p <= 1, top_k >= 0, repetition_penalty > 0, max_new_tokens >= 0")


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


def next_byte(logits, seen, s: SamplingSettings, generator) -> int:
    """Pick the next byte from logits [256]: repetition penalty, temperature, top-k, top-p, sample."""
    import torch

    logits = logits.detach().float().clone()
    if s.repetition_penalty != 1.0 and seen:
        idx = torch.tensor(sorted(set(seen)), dtype=torch.long)
        vals = logits[idx]
        logits[idx] = torch.where(vals > 0, vals / s.repetition_penalty, vals * s.repetition_penalty)
    if s.temperature == 0:
        return int(logits.argmax())
    logits = logits / s.temperature
    if s.top_k > 0:
        kth = torch.topk(logits, min(s.top_k, logits.numel())).values[-1]
        logits[logits < kth] = float("-inf")
    probs = torch.softmax(logits, dim=-1)
    if s.top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        keep = sorted_p.cumsum(0) - sorted_p < s.top_p  # smallest set whose mass reaches top_p
        mask = torch.zeros_like(probs, dtype=torch.bool)
        mask[order[keep]] = True
        probs = torch.where(mask, probs, torch.zeros_like(probs))
        probs = probs / probs.sum()
    return int(torch.multinomial(probs, 1, generator=generator))


def generate(model, prompt: bytes, settings: SamplingSettings, seed: int = 0, device: str = "cpu") -> bytes:
    """Feed BOS + prompt through model.step, then sample up to max_new_tokens bytes.

    Sampling stops at EOS, or at BOS: the trainer packs documents as BOS + text, so a model
    that samples BOS has ended the document (and BOS is no printable byte).
    """
    import torch

    settings.check()
    g = torch.Generator().manual_seed(seed)
    cache = model.allocate_inference_cache(1, len(prompt) + settings.max_new_tokens + 1)
    seen = list(prompt)
    out = bytearray()
    with torch.no_grad():
        logits = None
        for b in [BOS, *prompt]:
            logits = model.step(torch.tensor([b], device=device), cache)
        for _ in range(settings.max_new_tokens):
            b = next_byte(logits[0].cpu(), seen, settings, g)
            if b in (EOS, BOS):  # training packs documents as BOS + text: a BOS ends this one
                break
            out.append(b)
            seen.append(b)
            logits = model.step(torch.tensor([b], device=device), cache)
    return bytes(out)


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
