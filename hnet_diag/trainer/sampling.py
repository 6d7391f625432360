"""Sampling bytes from a model one step at a time: the settings, the byte picker and the loop.

Kept apart from `generate.py` (which loads checkpoints and writes generation.json) so the
analysis side (the samples analyzer, HND501's recommended settings) can use the same
sampler and the same recommended values without importing the training loop.
"""
from __future__ import annotations

from dataclasses import dataclass

from .data import BOS, EOS


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 1.0  # 0 -> greedy
    top_p: float = 1.0  # 1.0 -> off
    top_k: int = 0  # 0 -> off
    repetition_penalty: float = 1.0  # 1.0 -> off; > 1 discourages bytes already seen (CTRL rule)
    max_new_tokens: int = 256

    def flags(self) -> str:
        """The `hnet-diag generate` flags that select these settings (the defaults left out)."""
        default = SamplingSettings()
        parts = [f"--{name.replace('_', '-')} {value:g}" for name, value in
                 (("temperature", self.temperature), ("top_p", self.top_p), ("top_k", self.top_k),
                  ("repetition_penalty", self.repetition_penalty)) if value != getattr(default, name)]
        return " ".join(parts)

    def check(self) -> None:
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0 or self.repetition_penalty <= 0 or self.max_new_tokens < 0:
            raise ValueError("need temperature >= 0, 0 < top_p <= 1, top_k >= 0, repetition_penalty > 0, max_new_tokens >= 0")


#: the sampling settings hnet-diag recommends for judging samples: the one home of these values
#: (HND501's flags and the samples analyzer's second setting both read it)
RECOMMENDED = SamplingSettings(temperature=0.8, top_p=0.9)


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
    return generate_scored(model, prompt, settings, seed=seed, device=device)[0]


def generate_scored(model, prompt: bytes, settings: SamplingSettings, seed: int = 0,
                    device: str = "cpu") -> tuple[bytes, list[float]]:
    """`generate`, plus the model's own log-probability (nats) of each byte it wrote.

    The log-probability is read from the raw distribution (before penalty, temperature and
    truncation) at the step that drew the byte, so it costs no second pass: it says how
    likely the model itself finds its sample, whatever settings drew it.
    """
    import torch

    settings.check()
    g = torch.Generator().manual_seed(seed)
    cache = model.allocate_inference_cache(1, len(prompt) + settings.max_new_tokens + 1)
    seen = list(prompt)
    out = bytearray()
    scores: list[float] = []
    with torch.no_grad():
        logits = None
        for b in [BOS, *prompt]:
            logits = model.step(torch.tensor([b], device=device), cache)
        for _ in range(settings.max_new_tokens):
            row = logits[0].cpu()
            b = next_byte(row, seen, settings, g)
            if b in (EOS, BOS):  # training packs documents as BOS + text: a BOS ends this one
                break
            out.append(b)
            scores.append(float(torch.log_softmax(row.float(), dim=-1)[b]))
            seen.append(b)
            logits = model.step(torch.tensor([b], device=device), cache)
    return bytes(out), scores
