"""How long the samples analyzer takes on the bundled tiny checkpoints (budget: 30 s each).

    python benchmarks/bench_samples.py [--runs healthy example] [--repeat 2]

For each fixture run: loading the run, then `analyze_samples(samples_input(run))` cold
(the per-process sample cache cleared: the model is rebuilt and every sample written), and
once more warm (cached by the checkpoint's sha256, as the second report of a run in one
process gets it). Prints seconds, the settings sampled and bytes written.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

RUNS = Path(__file__).resolve().parent.parent / "fixtures" / "runs"
BUDGET_S = 30.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", default=["healthy", "example"])
    ap.add_argument("--repeat", type=int, default=2, help="cold measurements per run (the best is kept)")
    args = ap.parse_args()

    from hnet_diag import load_run
    from hnet_diag.analyzers import sample_quality as module
    from hnet_diag.sources.samples_input import samples_input

    for name in args.runs:
        run = load_run(RUNS / name)
        cold = []
        for _ in range(args.repeat):
            module._GENERATED.clear()
            t = time.perf_counter()
            result = module.analyze_samples(samples_input(run))
            cold.append(time.perf_counter() - t)
        t = time.perf_counter()
        module.analyze_samples(samples_input(run))
        warm = time.perf_counter() - t
        sets = ", ".join(f"{s.setting} ({s.label}): {s.n_bytes} bytes" for s in result.sets) or result.reason
        verdict = "within" if min(cold) < BUDGET_S else "OVER"
        print(f"{name}: cold {min(cold):.2f} s (best of {args.repeat}), cached {warm:.2f} s; {verdict} the "
              f"{BUDGET_S:.0f} s budget; {sets}")


if __name__ == "__main__":
    main()
