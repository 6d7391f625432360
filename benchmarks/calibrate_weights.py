"""Calibrate the weights rules (HND703 stage departure, HND704 drift) on real runs of the bundled trainer.

Trains tiny runs of fixtures/micro_2stage.json (the fixtures' model and settings: batch 4 x
256 bytes, seed 0) with optimizer state and a checkpoint every --save-every steps, healthy
and broken, and prints per run the numbers the rules judge:

- per (stage, component) group with peers: the matrix RMS over the median of the same
  component in the other stages (`rms_vs_peers`) and the update proxy over the median of
  every other group (`proxy_vs_peers`); the run's largest departure factor max(x, 1/x);
- per stage: the growth of the matrix norm from the first to the last checkpoint.

    OMP_NUM_THREADS=1 python benchmarks/calibrate_weights.py            # all runs (~3 min on 2 cores)
    python benchmarks/calibrate_weights.py --steps 60 healthy frozen    # some runs, shorter

The runs are written under a temporary folder, deleted at the end.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL = ROOT / "fixtures" / "micro_2stage.json"

#: name -> (TrainConfig overrides, healthy?) ; every run differs from `healthy` only there
RUNS: dict[str, tuple[dict, bool]] = {
    "healthy": ({}, True),
    "healthy_seed1": ({"seed": 1}, True),
    "example_multipliers": ({"lr_multipliers": (3.0, 1.7, 0.9)}, True),
    "no_ratio_loss": ({"ratio_loss_weight": 0.0}, True),
    "aggressive_multipliers": ({"lr_multipliers": (100.0, 20.0, 2.0)}, False),
    "inner_lr_100x": ({"lr_multipliers": (1.0, 1.0, 100.0)}, False),
    "frozen_stage0": ({"lr_multipliers": (0.0, 1.5, 1.0)}, False),
    "no_warmup_lr0.1": ({"warmup_steps": 0, "learning_rate": 0.1}, False),
    "lr10_no_clip": ({"learning_rate": 10.0, "max_grad_norm": 0.0}, False),
}


def fmt(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def departure(x: float | None) -> float:
    return max(x, 1 / x) if x else (math.inf if x == 0 else 1.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", default=list(RUNS))
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--save-every", type=int, default=50)
    args = ap.parse_args(argv)
    from hnet_diag import load_run
    from hnet_diag.analyzers import analyzer
    from hnet_diag.trainer.train import TrainConfig, train

    rows = []
    with tempfile.TemporaryDirectory(prefix="calib_weights_") as tmp:
        for name in args.runs:
            overrides, healthy = RUNS[name]
            cfg = TrainConfig(batch_size=4, seq_len=256, max_steps=args.steps, eval_every=args.steps,
                              save_every=args.save_every, **overrides)
            t0 = time.time()
            train(cfg, str(MODEL), Path(tmp) / name, quiet=True, device="cpu")
            w = analyzer("weights")(load_run(Path(tmp) / name))
            print(f"\n## {name} ({'healthy' if healthy else 'broken'}; {overrides or 'defaults'}; "
                  f"{time.time() - t0:.0f} s) step {w.step}, {w.n_checkpoints} checkpoints")
            print(f"{'group':<16}{'matrix RMS':>11}{'vs peers':>9}{'proxy':>8}{'vs peers':>9}")
            for c in w.components:
                print(f"s{c.stage}:{c.component:<13}{fmt(c.matrix_rms):>11}{fmt(c.rms_vs_peers):>9}"
                      f"{fmt(c.update_proxy):>8}{fmt(c.proxy_vs_peers):>9}")
            growth = {d.stage: d.growth for d in w.drift_stages}
            print("drift per stage (matrix norm, steps %s): " % (w.drift_steps,)
                  + ", ".join(f"stage {s} x{fmt(gr)}" for s, gr in growth.items()))
            rms = max((departure(c.rms_vs_peers) for c in w.components if c.rms_vs_peers is not None), default=1.0)
            proxy = max((departure(c.proxy_vs_peers) for c in w.components if c.proxy_vs_peers is not None),
                        default=1.0)
            finite = [gr for gr in growth.values() if gr is not None and math.isfinite(gr)]
            rows.append((name, healthy, rms, proxy, max(finite, default=float("nan")),
                         min(finite, default=float("nan")), len(w.non_finite)))
    print("\n| run | healthy | max matrix-RMS departure | max update-proxy departure | max stage growth | "
          "min stage growth | non-finite tensors |")
    print("|---|---|---|---|---|---|---|")
    for name, healthy, rms, proxy, gmax, gmin, nf in rows:
        print(f"| {name} | {'yes' if healthy else 'no'} | {fmt(rms)}x | {fmt(proxy)}x | {fmt(gmax)} | {fmt(gmin)} | {nf} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
