"""How long the boundary map takes (the issue's budget: under 30 s for the bundled tiny configs).

    python benchmarks/bench_boundary_map.py [--repeats 3] [--bytes 1024 8192]

For each committed fixture run with a checkpoint, times the two halves separately: rebuilding
the model from the checkpoint and choosing the passage (`sources.reference_model.boundary_input`),
and the forward pass with the measurements (`analyzers.boundaries.analyze_boundaries`); best of
--repeats, after one warm-up call (the first import of torch is not the map's cost). Also checks
that repeated maps are identical (the report must be byte-identical across runs).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bytes", type=int, nargs="+", default=[1024, 8192])
    a = ap.parse_args()
    from hnet_diag import load_run
    from hnet_diag.analyzers.boundaries import analyze_boundaries
    from hnet_diag.sources.reference_model import boundary_input

    t0 = time.perf_counter()
    import torch  # noqa: F401

    print(f"import torch: {time.perf_counter() - t0:.2f} s (once per process)")
    for folder in sorted(p for p in RUNS.iterdir() if (p / "checkpoints").is_dir()):
        run = load_run(folder)
        for n in a.bytes:
            analyze_boundaries(boundary_input(run, n_bytes=n))  # warm-up
            load, fwd, maps = [], [], []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                inputs = boundary_input(run, n_bytes=n)
                t1 = time.perf_counter()
                result = analyze_boundaries(inputs)
                t2 = time.perf_counter()
                load.append(t1 - t0)
                fwd.append(t2 - t1)
                maps.append(result.to_dict())
            same = all(m == maps[0] for m in maps)
            print(f"{folder.name:16s} {result.n_bytes:6d} bytes  load {min(load):6.3f} s  map {min(fwd):6.3f} s  "
                  f"identical {same}")


if __name__ == "__main__":
    main()
