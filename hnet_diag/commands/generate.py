"""`hnet-diag generate --checkpoint CKPT --prompt TEXT [sampling flags]`: sample from a trained model.

Prints the text and writes generation.json (the sampling settings and the output) into the
checkpoint's run folder, or --out, so a later `hnet-diag` diagnosis can judge the settings.
Defaults are the official H-Net generate.py's: temperature 1.0, top_p 1.0 (pure sampling).
"""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by `hnet-diag train` (.pt)")
    p.add_argument("--prompt", default="", help="text to continue (default: empty, start after BOS)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy (default %(default)s)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass; 1.0 = off (default %(default)s)")
    p.add_argument("--top-k", type=int, default=0, help="keep the k most likely bytes; 0 = off (default %(default)s)")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help="> 1 discourages repeated bytes; 1.0 = off (default %(default)s)")
    p.add_argument("--max-new-tokens", type=int, default=256, help="bytes to generate at most (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default %(default)s)")
    p.add_argument("--out", help="folder for generation.json (default: the checkpoint's run folder)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from ..trainer.generate import SamplingSettings, generate_to_file

    settings = SamplingSettings(args.temperature, args.top_p, args.top_k, args.repetition_penalty, args.max_new_tokens)
    record = generate_to_file(args.checkpoint, args.prompt, settings, seed=args.seed, out_dir=args.out, device=args.device)
    print(args.prompt + record["output"])
    print(f"\n[settings and output written to {record['path']}]")
    return 0
