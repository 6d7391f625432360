"""Canonical metric names: the contract between the trainer, the sources and the analyzers.

Trainers name things differently (`train/loss`, `train_loss`, `grad_norm`, `gradient_norm`,
`learning_rate`, `lr-AdamW`...). Sources keep the original tag; `canonical_name` maps it onto
one of the names below so every analyzer asks for the same thing. Tags that match nothing
stay available under their own name.

Stage indices count from the outside in: stage 0 is the byte-level (outermost) stage.
Routing metrics of stage i describe the chunking from stage i into stage i+1.
"""
from __future__ import annotations

import re

#: canonical name -> what it means (the README documents this table)
CANONICAL: dict[str, str] = {
    "loss": "training loss (nats per token/byte), the autoregressive part",
    "val_loss": "validation loss",
    "bpb": "training bits per byte",
    "val_bpb": "validation bits per byte",
    "grad_norm": "global gradient L2 norm before clipping",
    "grad_norm/stage{i}": "gradient L2 norm of stage i's parameters before clipping",
    "clipped": "1 when the step's pre-clip norm exceeded max grad norm, else 0",
    "lr": "learning rate (base, or of the first param group)",
    "lr/stage{i}": "learning rate actually applied to stage i",
    "ratio_loss": "total weighted ratio loss",
    "ratio_loss/stage{i}": "H-Net ratio loss of stage i (minimum 1.0 when F = G = 1/N)",
    "compression/stage{i}": "realized compression of stage i: positions per selected boundary, 1/F",
    "boundary_frac/stage{i}": "F: fraction of positions selected as boundaries in stage i",
    "boundary_prob/stage{i}": "G: mean boundary probability in stage i",
    "boundary_undecided/stage{i}": "fraction of boundary probabilities within 0.05 of 0.5",
    "tokens_per_s": "training throughput (tokens or bytes per second)",
    "step_time": "seconds per optimizer step",
    "epoch": "epoch counter",
}

_STAGE = r"(?:stage|s|stage_)?[_\-]?(?P<i>\d+)"

# (pattern on the lower-cased tag with any train/ prefix removed, canonical template)
_ALIASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), name)
    for p, name in [
        (r"(?:train[/_\-.])?(?:loss(?:_step)?|crossentropyloss)|training_loss|train_loss|loss/train|lm_loss|ce_loss", "loss"),
        (r"(?:val|valid|validation|eval)[/_\-.]?loss|loss/(?:val|valid|validation|eval)", "val_loss"),
        (r"(?:train[/_\-.])?bpb|bits_per_byte|train_bpb", "bpb"),
        (r"(?:val|valid|validation|eval)[/_\-.]?bpb|bpb/(?:val|valid|validation|eval)", "val_bpb"),
        (r"(?:train[/_\-.]|optim[/_\-.])?(?:grad_norm|gradient_norm|grad[/_\-.]norm|grad_norm_total|norm|total_grad_norm)", "grad_norm"),
        (rf"(?:train[/_\-.])?grad_norm[/_\-.]{_STAGE}", "grad_norm/stage{i}"),
        (r"(?:train[/_\-.])?(?:clipped|grad_clipped|clip)", "clipped"),
        # Lightning's LearningRateMonitor: `lr-<Optimizer>`, and `lr-<Optimizer>/pg1` for the first
        # of several param groups (its /pgN count from 1; the others keep their own names)
        (r"(?:train[/_\-.])?(?:lr|learning_rate|learning-rate|lr-[a-z][a-z0-9_]*(?:/pg1)?)", "lr"),
        (rf"(?:train[/_\-.])?(?:lr|learning_rate)[/_\-.](?:group[_\-]?)?{_STAGE}", "lr/stage{i}"),
        (r"(?:train[/_\-.])?ratio_loss", "ratio_loss"),
        (rf"(?:train[/_\-.])?(?:ratio_loss|load_balance_loss|lb_loss)[/_\-.]{_STAGE}", "ratio_loss/stage{i}"),
        (rf"(?:train[/_\-.])?(?:compression|compression_ratio)[/_\-.]{_STAGE}", "compression/stage{i}"),
        (rf"(?:train[/_\-.])?(?:boundary_frac|boundary_fraction|selected_frac)[/_\-.]{_STAGE}", "boundary_frac/stage{i}"),
        (rf"(?:train[/_\-.])?(?:boundary_prob|mean_boundary_prob)[/_\-.]{_STAGE}", "boundary_prob/stage{i}"),
        (rf"(?:train[/_\-.])?boundary_undecided[/_\-.]{_STAGE}", "boundary_undecided/stage{i}"),
        (r"(?:train[/_\-.])?(?:tokens_per_s|tokens_per_sec|tok_per_s|bytes_per_s|throughput|train_samples_per_second)", "tokens_per_s"),
        (r"(?:train[/_\-.])?(?:step_time|time_per_step|iter_time|step_time_s)", "step_time"),
        (r"(?:train[/_\-.])?epoch", "epoch"),
    ]
]


def canonical_name(tag: str) -> str:
    """Map a logged tag onto its canonical metric name, or return it unchanged.

    Matching is case-insensitive and anchored on the whole tag, so `loss_scale` is not
    mistaken for `loss`.
    """
    key = tag.strip().lower()
    for pattern, template in _ALIASES:
        m = pattern.fullmatch(key)
        if m:
            return template.format(i=int(m.group("i"))) if "{i}" in template else template
    return tag


_STAGE_SUFFIX = re.compile(r"^(?P<base>.+)/stage(?P<i>\d+)$")


def split_stage(name: str) -> tuple[str, int | None]:
    """`split_stage("lr/stage2") == ("lr", 2)`; `split_stage("loss") == ("loss", None)`."""
    m = _STAGE_SUFFIX.match(name)
    return (m.group("base"), int(m.group("i"))) if m else (name, None)
