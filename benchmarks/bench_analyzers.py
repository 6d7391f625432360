"""How long `analyze_all` takes on a long run (no decoding: that needs a checkpoint).

    python benchmarks/bench_analyzers.py [--steps 100000] [--stages 2]

Builds a Run in memory (same tidy frame as a source fills) with loss, lr, per-stage LRs,
grad norms and routing metrics at every step, then times each analyzer separately.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def synthetic_run(steps: int, stages: int):
    from hnet_diag.metrics import canonical_name
    from hnet_diag.run import Run, TrainingSettings

    rng = np.random.default_rng(0)
    x = np.arange(steps)
    cols = {
        "loss": 2 + 3 * np.exp(-x / (steps / 5)) + rng.normal(0, 0.02, steps),
        "lr": np.minimum(1, (x + 1) / (steps / 10)) * 1e-3,
        "grad_norm": 0.5 * np.exp(rng.normal(0, 0.2, steps)),
        "clipped": np.zeros(steps),
    }
    for i in range(stages + 1):
        cols[f"lr/stage{i}"] = cols["lr"] * (2.0 - i * 0.5)
        cols[f"grad_norm/stage{i}"] = 0.3 * np.exp(rng.normal(0, 0.2, steps))
    for i in range(stages):
        f = 1 / 3 * (1 + rng.normal(0, 0.02, steps))
        cols.update({f"boundary_frac/stage{i}": f, f"boundary_prob/stage{i}": f, f"compression/stage{i}": 1 / f,
                     f"ratio_loss/stage{i}": np.ones(steps), f"boundary_undecided/stage{i}": np.full(steps, 0.02)})
    frames = [pd.DataFrame({"tag": k, "step": x, "value": v, "wall_time": np.nan, "source": "bench", "stream": "bench"})
              for k, v in cols.items()]
    df = pd.concat(frames, ignore_index=True)
    df["metric"] = df["tag"].map(canonical_name)
    return Run(path="bench", scalars=df, training=TrainingSettings(max_steps=steps, max_grad_norm=1.0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--stages", type=int, default=2)
    a = ap.parse_args()
    run = synthetic_run(a.steps, a.stages)
    from hnet_diag.analyzers import ANALYZERS, analyzer

    total = 0.0
    for name in ANALYZERS:
        if name == "decoding":
            continue
        t0 = time.perf_counter()
        analyzer(name)(run)
        dt = time.perf_counter() - t0
        total += dt
        print(f"{name:14s} {dt:7.3f} s")
    print(f"{'total':14s} {total:7.3f} s  ({a.steps} steps, {a.stages} stages, {len(run.scalars)} points)")


if __name__ == "__main__":
    main()
