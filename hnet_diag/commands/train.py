"""`hnet-diag train --config CFG --out runs/NAME [flags]`: train the reference H-Net.

The flags belong to the trainer (`hnet_diag.trainer.flags`); this command only wires them
into the CLI. Runs under torchrun too: `torchrun --nproc_per_node 2 -m hnet_diag.trainer.train ...`.
"""
from __future__ import annotations

from ..trainer.flags import add_arguments
from ..trainer.train import run_from_args as run

__all__ = ["add_arguments", "run"]
