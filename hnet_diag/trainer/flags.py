"""The trainer's command-line flags, shared by `hnet-diag train` and `python -m hnet_diag.trainer.train`.

Flags are named as a user types them and as the diagnostic report recommends them. Every
flag defaults to "not given" so that `--resume` can tell the settings stored in the
checkpoint from the ones typed now: only typed flags override a resumed run.
The trainer owns its flags (they name its TrainConfig fields), so the package's command
layer imports them from here and the trainer imports nothing from the command layer.
"""
from __future__ import annotations

import argparse
from typing import Any

from .. import paper
from ..formatting import listing


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="hnet_2stage_tiny",
                   help="model config JSON (official H-Net format) or a bundled name: hnet_1stage_tiny, "
                        "hnet_2stage_tiny, transformer_tiny (default: %(default)s)")
    p.add_argument("--out", required=True, help="run folder to write (metrics, TensorBoard events, checkpoints)")
    g = p.add_argument_group("optimisation (unset flags take the defaults of hnet_diag.trainer.train.TrainConfig)")
    g.add_argument("--learning-rate", type=float, help="base learning rate (default 2e-3)")
    g.add_argument("--lr-multipliers", type=_floats, metavar=listing(paper.SUGGESTED_MULTIPLIERS),
                   help="LR multiplier per hierarchy level, outermost first (default: the paper's "
                        f"{listing(paper.MULTIPLIERS_BY_STAGES[2])} / {listing(paper.MULTIPLIERS_BY_STAGES[1])})")
    g.add_argument("--warmup-steps", type=int, help="linear warmup steps (default 10%% of --max-steps)")
    g.add_argument("--max-steps", type=int, help="planned optimizer steps; the schedule is laid out over them (default 300)")
    g.add_argument("--schedule", choices=["wsd", "cosine", "constant"], help="LR schedule after warmup (default wsd)")
    g.add_argument("--max-grad-norm", type=float, help="clip the total gradient norm to this; 0 disables (default 1.0)")
    g.add_argument("--batch-size", type=int, help="sequences per step, all processes together (default 4)")
    g.add_argument("--seq-len", type=int, help="bytes per sequence (default 256)")
    g.add_argument("--weight-decay", type=float, help="AdamW weight decay of matrices (default 0.1)")
    g.add_argument("--ratio-loss-weight", type=float, help=f"weight alpha of the ratio loss (default {paper.RATIO_LOSS_WEIGHT}, the paper)")
    g.add_argument("--target-compression", type=_floats, metavar="N[,N]",
                   help="target compression per chunking stage (default 6 for 1 stage, 3,3 for 2 stages)")
    g.add_argument("--stop-at-step", type=int, help="stop at this step on purpose; --max-steps stays the plan")
    g.add_argument("--seed", type=int, help="seed of the initialisation and of the data order (default 0)")
    g.add_argument("--data", nargs="+", metavar="FILE", help="text files to train on (default: the bundled tinyshakespeare)")
    r = p.add_argument_group("run control")
    r.add_argument("--eval-every", type=int, help="validation loss every N steps (default 50)")
    r.add_argument("--save-every", type=int, help="checkpoint every N steps (default: only the last step)")
    r.add_argument("--resume", nargs="?", const=True, default=False, metavar="CKPT",
                   help="continue from the newest checkpoint in --out (or from CKPT); typed flags override its settings")
    r.add_argument("--no-optimizer-state", dest="save_optimizer", action="store_false", default=None,
                   help="leave the Adam moments out of checkpoints (a third of the size; param groups are kept; "
                        "a resumed run restarts its moments)")
    r.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    r.add_argument("--quiet", action="store_true", help="do not print the per-step line (train.log still gets it)")
    r.add_argument("--stop-on", choices=("critical", "high", "medium", "low"), metavar="SEVERITY",
                   help="judge the run while it trains (the rules of `analyze`) and stop at a finding of this "
                        "severity or worse: critical, high, medium or low; saves a checkpoint and says why "
                        "in train.log and metrics.jsonl (exit code 1)")


#: flag dest -> TrainConfig field
FIELDS = ("learning_rate", "lr_multipliers", "warmup_steps", "max_steps", "schedule", "max_grad_norm",
           "batch_size", "seq_len", "weight_decay", "ratio_loss_weight", "target_compression", "stop_at_step",
           "seed", "data", "eval_every", "save_every", "save_optimizer")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields the user typed (flags not given are left out)."""
    overrides = {f: getattr(args, f) for f in FIELDS if getattr(args, f, None) is not None}
    if "data" in overrides:
        overrides["data"] = tuple(overrides["data"])
    return overrides
